"""history: instance, type and system (https://hl7.org/fhir/R4/http.html#history).

Every version (deletes included, as entries without a resource) newest first. ``vid``, the
version table's key, orders the whole server's history, so paging is a keyset on it: a
page link carries the last ``vid`` seen and stays correct while new versions arrive.
``_count`` and ``_since`` are supported.
"""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy import select

from ehr.audit.trail import Access
from ehr.context import RequestContext
from ehr.db.schema import Resource, ResourceVersion
from ehr.errors import BadRequest, InvalidSearch, NotFound
from ehr.interactions.bundles import bundle, embedded, link
from ehr.interactions.messages import FhirRequest, FhirResponse, small_int
from ehr.interactions.responses import etag
from ehr.search.dates import InvalidDate, date_range, format_instant

_V = ResourceVersion.__table__  # type: ignore[attr-defined]
_R = Resource.__table__  # type: ignore[attr-defined]
_METHOD_STATUS = {
    "POST": "201 Created",
    "PUT": "200 OK",
    "PATCH": "200 OK",
    "DELETE": "204 No Content",
}


def history(
    ctx: RequestContext, req: FhirRequest, res_type: str | None = None, res_id: str | None = None
) -> FhirResponse:
    count = page_size(ctx, req)
    query = select(
        _V.c.vid,
        _V.c.rid,
        _V.c.res_type,
        _V.c.res_id,
        _V.c.version,
        _V.c.last_updated,
        _V.c.method,
        _V.c.content,
    ).select_from(_V.join(_R, _R.c.rid == _V.c.rid))
    interaction = "history-system"
    if res_type is not None:
        interaction = "history-type"
        query = query.where(_V.c.res_type == res_type)
    if res_id is not None:
        assert res_type is not None
        interaction = "history-instance"
        stored = ctx.store.current(res_type, res_id, interaction, audit=False)
        if stored is None:
            raise NotFound(f"{res_type}/{res_id} is not known")
        query = query.where(_V.c.rid == stored.rid)
    else:
        query = query.where(ctx.store.visible(_R, (res_type,) if res_type else None))
    since = since_bound(req)
    if since is not None:
        query = query.where(_V.c.last_updated >= since)
    before = page_key(req, "history")
    if before is not None:
        query = query.where(_V.c.vid < before)
    rows = ctx.session.execute(query.order_by(_V.c.vid.desc()).limit(count + 1)).all()
    page, more = rows[:count], len(rows) > count
    target = f"{res_type}/{res_id}" if res_id else None
    rids = tuple(sorted({row.rid for row in page}))
    ctx.audit.note(Access(interaction, res_type, target=target, rids=rids))

    entries = [_entry(ctx, row) for row in page]
    path = "/".join(p for p in (res_type, res_id) if p) + ("/_history" if res_type else "_history")
    links = page_links(ctx, req, path, ("_count", "_since"), page[-1].vid if more else None)
    return FhirResponse(status=200, body=bundle("history", entries, link=links))


def _entry(ctx: RequestContext, row) -> dict:  # type: ignore[no-untyped-def]
    url = f"{row.res_type}/{row.res_id}"
    entry: dict = {"fullUrl": f"{ctx.base_url}/{url}"}
    if row.content is not None:
        entry["resource"] = embedded(row.content)
    entry["request"] = {"method": row.method, "url": url if row.method != "POST" else row.res_type}
    entry["response"] = {
        "status": _METHOD_STATUS.get(row.method, "200 OK"),
        "etag": etag(row.version),
        "lastModified": format_instant(row.last_updated),
    }
    return entry


def page_size(ctx: RequestContext, req: FhirRequest) -> int:
    """``_count``, within the configured page sizes (``history`` and ``$everything``)."""
    raw = req.param("_count")
    if raw is None:
        return ctx.settings.default_page_size
    count = small_int(raw)
    if count is None:
        raise BadRequest(f"_count must be a non-negative integer, got {raw[:64]!r}")
    return max(1, min(count, ctx.settings.max_page_size))


def since_bound(req: FhirRequest) -> int | None:
    """``_since`` as the first microsecond it admits (``history`` and ``$everything``)."""
    since = req.param("_since")
    if not since:
        return None
    try:
        return date_range(since)[0]
    except InvalidDate as exc:
        raise InvalidSearch(f"_since: {exc}", expression=("_since",)) from None


def page_key(req: FhirRequest, what: str) -> int | None:
    """The storage key in ``_cursor`` that a page of ``what`` starts from, if any."""
    cursor = req.param("_cursor")
    if not cursor:
        return None
    key = small_int(cursor)
    if key is None:
        raise InvalidSearch(f"malformed {what} cursor {cursor[:64]!r}", expression=("_cursor",))
    return key


def page_links(
    ctx: RequestContext, req: FhirRequest, path: str, kept: tuple[str, ...], next_key: int | None
) -> list[dict]:
    """The ``self`` link of a page (the ``kept`` parameters and its ``_cursor``) and, when
    more follow, the ``next`` link, which starts after ``next_key``."""
    params = [(k, v) for k, v in req.params if k in kept]
    cursor = req.param("_cursor")
    links = [link("self", page_url(ctx, path, params + ([("_cursor", cursor)] if cursor else [])))]
    if next_key is not None:
        links.append(link("next", page_url(ctx, path, [*params, ("_cursor", str(next_key))])))
    return links


def page_url(ctx: RequestContext, path: str, params: list[tuple[str, str]]) -> str:
    """``path`` under the FHIR base with ``params`` as its query string."""
    query = urlencode(params)
    return f"{ctx.base_url}/{path}" + (f"?{query}" if query else "")
