"""create: ``POST [base]/[type]``, and conditional create with ``If-None-Exist``.

https://hl7.org/fhir/R4/http.html#create. The server assigns the id (any id in the body
is ignored, as the specification requires). With ``If-None-Exist`` the criteria are
searched under a lock on them (``ehr.db.locks``): no match creates, one match returns it
with 200 and creates nothing, several matches are 412. Concurrent retries of the same
conditional create therefore produce exactly one resource.
"""

from __future__ import annotations

from ehr.context import RequestContext
from ehr.errors import PreconditionFailed
from ehr.fhir.validate import require_resource_type
from ehr.interactions.conditional import match_conditional
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.responses import write_response
from ehr.storage.write import new_id, write_resource


def create(ctx: RequestContext, req: FhirRequest, res_type: str) -> FhirResponse:
    require_resource_type(req.body, res_type)
    criteria = req.header("if-none-exist")
    if criteria is not None:
        matches = match_conditional(ctx, res_type, criteria)
        if len(matches) > 1:
            raise PreconditionFailed(
                f"If-None-Exist criteria {criteria!r} match {len(matches)} resources"
            )
        if matches:
            return write_response(ctx, req, matches[0], 200, "matched an existing resource")
    # ``assigned_id``: minted by the transaction for this entry (``_assign_ids``)
    result = write_resource(
        ctx,
        method="POST",
        res_type=res_type,
        res_id=req.assigned_id or new_id(),
        body=req.body,
        fresh_id=True,
    )
    assert result.stored is not None
    return write_response(ctx, req, result.stored, 201, "created")
