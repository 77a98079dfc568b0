"""delete: ``DELETE [base]/[type]/[id]``, and conditional delete.

https://hl7.org/fhir/R4/http.html#delete. Deletion is soft: a tombstone version is written
to history, the search index rows go, and reads answer 410. Deleting what is already gone
or never existed succeeds (delete is idempotent). ``If-Match`` applies. The conditional
form ``DELETE [base]/[type]?criteria`` deletes the single match and refuses (412) several.
"""

from __future__ import annotations

from ehr.context import RequestContext
from ehr.errors import PreconditionFailed
from ehr.interactions.conditional import criteria_of, match_conditional
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.responses import etag, outcome_response
from ehr.storage.write import write_resource


def delete(ctx: RequestContext, req: FhirRequest, res_type: str, res_id: str) -> FhirResponse:
    result = write_resource(
        ctx,
        method="DELETE",
        res_type=res_type,
        res_id=res_id,
        body=None,
        expected_version=req.expected_version(),
    )
    message = f"{res_type}/{res_id} deleted" if result.changed else f"{res_type}/{res_id} is gone"
    if req.prefer("return") == "operationoutcome":
        response = outcome_response(200, message)
    else:
        response = FhirResponse(status=204)
    if result.changed and result.stored is not None:
        response.headers["ETag"] = etag(result.stored.version)
    return response


def conditional_delete(ctx: RequestContext, req: FhirRequest, res_type: str) -> FhirResponse:
    matches = match_conditional(ctx, res_type, criteria_of(req))
    if len(matches) > 1:
        raise PreconditionFailed(f"the delete criteria match {len(matches)} resources")
    if not matches:
        return outcome_response(200, "no resource matched the delete criteria")
    return delete(ctx, req, res_type, matches[0].res_id)
