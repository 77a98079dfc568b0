"""Finding the target of a conditional interaction (create, update, patch, delete, reference).

Criteria are an ordinary search, parsed strictly (an unknown parameter in a condition is
an error, never silently ignored: ignoring it would widen the match), and criteria with
nothing to match on (only empty values or result parameters) are refused. For writes, the
criteria are locked first (``ehr.db.locks``), so that concurrent conditional writes with
the same criteria run one after the other and the second sees the first's result.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from ehr.context import RequestContext
from ehr.db.locks import serialize_on
from ehr.errors import BadRequest
from ehr.interactions.messages import FhirRequest
from ehr.mpi.golden import GOLDEN_TAG
from ehr.search.query import parse_search
from ehr.storage.repository import StoredResource

_NOT_CRITERIA = {"_format", "_pretty", "_summary", "_elements"}
_CLIENT_RECORDS = {"Patient": [("_tag:not", f"{GOLDEN_TAG['system']}|{GOLDEN_TAG['code']}")]}
"""Golden person records belong to the exchange: a client's conditional write never targets
one (a CCCD in ``If-None-Exist`` must find the facility's record, not the person's)."""


def criteria_of(req: FhirRequest) -> str:
    """The search criteria of a conditional update/patch/delete: its query string."""
    params = [(k, v) for k, v in req.params if k not in _NOT_CRITERIA]
    if not params:
        raise BadRequest(f"{req.method} on a resource type needs search criteria or an id")
    return urlencode(params)


def match_conditional(
    ctx: RequestContext, res_type: str, criteria: str, *, lock: bool = True
) -> list[StoredResource]:
    """The current resources of ``res_type`` matching ``criteria`` (at most two are fetched)."""
    params = parse_qsl(criteria.lstrip("?"), keep_blank_values=True)
    params = [(k, v) for k, v in params if k not in _NOT_CRITERIA]
    if not params:
        raise BadRequest(f"conditional criteria {criteria!r} are empty")
    if lock:
        serialize_on(ctx.session, f"{res_type}?{urlencode(sorted(params))}")
    implied = _CLIENT_RECORDS.get(res_type, [])
    query = parse_search(
        res_type,
        [*params, *implied, ("_count", "2"), ("_total", "none")],
        ctx.registry,
        strict=True,
        base_url=ctx.base_url,
    )
    if len(query.criteria) <= len(implied):
        # Only empty values or result parameters (``identifier=``, ``_count=1``): such a
        # "condition" would match every resource of the type.
        raise BadRequest(f"conditional criteria {criteria[:200]!r} select nothing to match on")
    page = ctx.store.search(query, audit=False)
    return [
        StoredResource(
            rid=row.rid,
            res_type=row.res_type,
            res_id=row.res_id,
            version=row.version,
            last_updated=row.last_updated,
            deleted=False,
            content=row.content,
        )
        for row in page.matches
    ]
