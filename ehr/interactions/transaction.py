"""batch and transaction: ``POST [base]`` with a Bundle (https://hl7.org/fhir/R4/http.html#transaction).

A transaction is all or nothing: its entries run inside the request's single unit of
work and any failure raises, rolling back everything. Before running, ids are given to
every created resource so that ``urn:uuid:`` fullUrls and conditional references
(``Patient?identifier=...``) can be rewritten to ``Type/id`` in every resource; then the
entries run in the order the specification prescribes (DELETE, POST, PUT/PATCH, GET)
through the same router as plain HTTP. A batch runs each entry in its own savepoint and
reports failures per entry. The response lists entries in the request's order.
"""

from __future__ import annotations

from dataclasses import replace
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError

from ehr.context import RequestContext
from ehr.errors import BadRequest, Conflict, FhirError, NotFound, PreconditionFailed
from ehr.interactions.bundle_entries import Entry, read_bundle
from ehr.interactions.bundles import bundle, embedded
from ehr.interactions.conditional import match_conditional
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.responses import write_response
from ehr.interactions.update import check_id
from ehr.storage.references import iter_references, rewrite_references
from ehr.storage.write import new_id

ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


def process_bundle(ctx: RequestContext, req: FhirRequest) -> FhirResponse:
    bundle_type, entries = read_bundle(ctx, req.body)
    if bundle_type == "transaction":
        responses = _run_transaction(ctx, req, entries)
    else:
        responses = [_run_batch_entry(ctx, req, entry) for entry in entries]
    result = bundle(f"{bundle_type}-response", [_response_entry(r) for r in responses])
    return FhirResponse(status=200, body=result)


def _run_transaction(
    ctx: RequestContext, req: FhirRequest, entries: list[Entry]
) -> list[FhirResponse]:
    mapping = _assign_ids(ctx, entries)
    _check_unique_targets(entries)
    for entry in entries:
        if isinstance(entry.body, dict):
            rewrite_references(entry.body, mapping)
            _resolve_conditional_references(ctx, entry)
    responses: dict[int, FhirResponse] = {}
    for entry in sorted(entries, key=lambda e: ORDER[e.method]):
        try:
            responses[entry.index] = _execute(ctx, req, entry)
        except FhirError as error:
            error.issues = [
                replace(issue, diagnostics=f"{entry.label()}: {issue.diagnostics}")
                for issue in error.issues
            ]
            raise
    return [responses[entry.index] for entry in entries]


def _assign_ids(ctx: RequestContext, entries: list[Entry]) -> dict[str, str]:
    """Give every created resource its id up front; map each fullUrl to ``Type/id``."""
    mapping: dict[str, str] = {}
    for entry in entries:
        if entry.res_type not in ctx.registry.resource_types():
            raise NotFound(f"{entry.label()}: unknown resource type {entry.res_type!r}")
        if entry.method == "POST" and "/" not in entry.path:
            criteria = entry.headers.get("if-none-exist")
            matches = match_conditional(ctx, entry.path, criteria) if criteria else []
            if len(matches) > 1:
                raise PreconditionFailed(
                    f"{entry.label()}: ifNoneExist matches {len(matches)} resources"
                )
            entry.existing = bool(matches)
            entry.assigned_id = matches[0].res_id if matches else new_id()
        elif entry.method == "PUT" and entry.params and "/" not in entry.path:
            matches = match_conditional(ctx, entry.path, _criteria(entry))
            if len(matches) > 1:
                raise PreconditionFailed(
                    f"{entry.label()}: the update criteria match {len(matches)} resources"
                )
            body_id = entry.body.get("id") if isinstance(entry.body, dict) else None
            if matches:
                target = matches[0].res_id
            else:
                target = check_id(body_id) if isinstance(body_id, str) else new_id()
            entry.path, entry.params = f"{entry.path}/{target}", []
            if isinstance(entry.body, dict):
                entry.body.setdefault("id", target)
        if entry.full_url is None:
            continue
        if entry.assigned_id is not None:
            mapping[entry.full_url] = f"{entry.path}/{entry.assigned_id}"
        elif entry.method == "PUT" and entry.path.count("/") == 1:
            mapping[entry.full_url] = entry.path
    return mapping


def _criteria(entry: Entry) -> str:
    return urlencode(entry.params)


def _check_unique_targets(entries: list[Entry]) -> None:
    seen: dict[str, int] = {}
    for entry in entries:
        if entry.method in ("GET", "HEAD"):
            continue
        target = entry.path if entry.path.count("/") == 1 else None
        if entry.assigned_id:
            target = f"{entry.path}/{entry.assigned_id}"
        if target is None:
            continue
        if target in seen:
            raise BadRequest(
                f"{entry.label()} and Bundle.entry[{seen[target]}] both change {target}"
            )
        seen[target] = entry.index


def _resolve_conditional_references(ctx: RequestContext, entry: Entry) -> None:
    """Rewrite ``Type?criteria`` references to the single resource they match."""
    conditional: dict[str, str] = {}
    for reference, path in iter_references(entry.body):
        if "?" not in reference or reference in conditional:
            continue
        res_type, _, criteria = reference.partition("?")
        if res_type not in ctx.registry.resource_types():
            raise BadRequest(f"{entry.label()}: reference {reference!r} names no known type")
        matches = match_conditional(ctx, res_type, criteria, lock=False)
        where = f"{entry.label()}.resource.{path}"
        if not matches:
            raise BadRequest(
                f"{where}: conditional reference {reference!r} matches nothing",
                code="not-found",
                expression=(where,),
            )
        if len(matches) > 1:
            raise PreconditionFailed(
                f"{where}: conditional reference {reference!r} matches {len(matches)} resources",
                expression=(where,),
            )
        conditional[reference] = f"{res_type}/{matches[0].res_id}"
    if conditional:
        rewrite_references(entry.body, conditional)


def _execute(ctx: RequestContext, req: FhirRequest, entry: Entry) -> FhirResponse:
    from ehr.interactions.router import dispatch

    if entry.existing:
        stored = ctx.store.current(entry.path, entry.assigned_id or "", audit=False)
        assert stored is not None
        return write_response(ctx, _entry_request(req, entry), stored, 200, "already exists")
    return dispatch(ctx, _entry_request(req, entry))


def _entry_request(req: FhirRequest, entry: Entry) -> FhirRequest:
    headers = dict(entry.headers)
    if prefer := req.header("prefer"):
        headers["prefer"] = prefer
    return FhirRequest(
        method=entry.method,
        path=entry.path,
        params=entry.params,
        headers=headers,
        body=entry.body,
        assigned_id=entry.assigned_id,
    )


def _run_batch_entry(ctx: RequestContext, req: FhirRequest, entry: Entry) -> FhirResponse:
    """One batch entry in its own savepoint: its failure is its own."""
    from ehr.interactions.router import dispatch

    savepoint = ctx.session.begin_nested()
    try:
        response = dispatch(ctx, _entry_request(req, entry))
        ctx.finish()
    except FhirError as error:
        savepoint.rollback()
        ctx.discard_pending()
        return FhirResponse(status=error.status, body=error.outcome())
    except IntegrityError:
        savepoint.rollback()
        ctx.discard_pending()
        error = Conflict("the entry conflicts with a concurrent change; retry")
        return FhirResponse(status=error.status, body=error.outcome())
    savepoint.commit()
    return response


def _response_entry(response: FhirResponse) -> dict[str, Any]:
    status = HTTPStatus(response.status)
    result: dict[str, Any] = {"status": f"{status.value} {status.phrase}"}
    if "Location" in response.headers:
        result["location"] = response.headers["Location"]
    if "ETag" in response.headers:
        result["etag"] = response.headers["ETag"]
    if "Last-Modified" in response.headers:
        moment = parsedate_to_datetime(response.headers["Last-Modified"])
        result["lastModified"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    entry: dict[str, Any] = {}
    body = response.body
    if (
        isinstance(body, dict)
        and body.get("resourceType") == "OperationOutcome"
        and response.status >= 400
    ):
        result["outcome"] = body
    elif body is not None:
        entry["resource"] = embedded(body)
    entry["response"] = result
    return entry
