"""update: ``PUT [base]/[type]/[id]``, update-as-create, and conditional update.

https://hl7.org/fhir/R4/http.html#update. The body's id must equal the URL id. A PUT to
an id that does not exist creates it (client-assigned ids are allowed), answering 201.
``If-Match: W/"n"`` makes the update conditional on version n (412 when stale). The
conditional form ``PUT [base]/[type]?criteria`` updates the single match, creates when
nothing matches, and refuses (412) when several do.
"""

from __future__ import annotations

import re

from ehr.context import RequestContext
from ehr.errors import BadRequest, PreconditionFailed
from ehr.fhir.validate import require_resource_type
from ehr.interactions.conditional import criteria_of, match_conditional
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.responses import write_response
from ehr.storage.write import new_id, write_resource

ID_PATTERN = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def check_id(res_id: str) -> str:
    """``res_id`` if it is a valid FHIR id, else a 400."""
    if not ID_PATTERN.fullmatch(res_id):
        raise BadRequest(f"{res_id[:80]!r} is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})")
    return res_id


def update(ctx: RequestContext, req: FhirRequest, res_type: str, res_id: str) -> FhirResponse:
    check_id(res_id)
    require_resource_type(req.body, res_type)
    body_id = req.body.get("id")
    if body_id is None:
        raise BadRequest("the resource in an update must carry its id", expression=("id",))
    if body_id != res_id:
        raise BadRequest(
            f"the resource id {body_id!r} does not match the URL id {res_id!r}", expression=("id",)
        )
    return _store(ctx, req, res_type, res_id)


def conditional_update(ctx: RequestContext, req: FhirRequest, res_type: str) -> FhirResponse:
    require_resource_type(req.body, res_type)
    matches = match_conditional(ctx, res_type, criteria_of(req))
    if len(matches) > 1:
        raise PreconditionFailed(f"the update criteria match {len(matches)} resources")
    body_id = req.body.get("id")
    if matches:
        res_id = matches[0].res_id
        if body_id is not None and body_id != res_id:
            raise BadRequest(
                f"the resource id {body_id!r} differs from the matched {res_type}/{res_id}",
                expression=("id",),
            )
    else:
        res_id = check_id(body_id) if isinstance(body_id, str) else new_id()
    return _store(ctx, req, res_type, res_id)


def _store(ctx: RequestContext, req: FhirRequest, res_type: str, res_id: str) -> FhirResponse:
    result = write_resource(
        ctx,
        method="PUT",
        res_type=res_type,
        res_id=res_id,
        body=req.body,
        expected_version=req.expected_version(),
    )
    assert result.stored is not None
    status = 201 if result.created else 200
    return write_response(
        ctx, req, result.stored, status, "created" if result.created else "updated"
    )
