"""search: ``GET [base]/[type]?...`` and ``POST [base]/[type]/_search`` (https://hl7.org/fhir/R4/search.html).

Parsing, SQL and paging live in ``ehr.search``; this module turns a page of rows into a
``searchset`` Bundle with ``self``/``next``/``previous`` links. Matches come first with
``search.mode = match``, then ``_include``/``_revinclude`` resources with ``include``
(never counted in ``total``). ``Prefer: handling=strict`` makes an unknown parameter an
error; by default (lenient) it is ignored and left out of the self link.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from ehr.context import RequestContext
from ehr.interactions.bundles import bundle, embedded, link
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.shaping import shape
from ehr.search.query import parse_search


def search_type(ctx: RequestContext, req: FhirRequest, res_type: str) -> FhirResponse:
    query = parse_search(
        res_type,
        req.params,
        ctx.registry,
        strict=req.prefer("handling") == "strict",
        default_count=ctx.settings.default_page_size,
        max_count=ctx.settings.max_page_size,
        base_url=ctx.base_url,
    )
    page = ctx.store.search(query)
    path = f"{ctx.base_url}/{res_type}"
    links = [link("self", _url(path, query.self_query))]
    if page.next_cursor:
        links.append(link("next", _url(path, urlencode(query.link_params(page.next_cursor)))))
    if page.prev_cursor:
        links.append(link("previous", _url(path, urlencode(query.link_params(page.prev_cursor)))))
    entries: list[dict[str, Any]] = []
    if query.summary != "count":
        entries = [_entry(ctx, req, row, "match") for row in page.matches]
        entries += [_entry(ctx, req, row, "include") for row in page.included]
    extra: dict[str, Any] = {}
    if page.total is not None:
        extra["total"] = page.total
    extra["link"] = links
    return FhirResponse(status=200, body=bundle("searchset", entries, **extra))


def _entry(ctx: RequestContext, req: FhirRequest, row: Any, mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{ctx.base_url}/{row.res_type}/{row.res_id}",
        "resource": embedded(shape(row.content, req)),
        "search": {"mode": mode},
    }


def _url(path: str, query: str) -> str:
    """``path`` with the encoded ``query`` string, if any."""
    return f"{path}?{query}" if query else path
