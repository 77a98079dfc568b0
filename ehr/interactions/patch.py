"""patch: ``PATCH [base]/[type]/[id]`` with a JSON Patch (RFC 6902) body.

https://hl7.org/fhir/R4/http.html#patch. The patch applies to the current version; the
result goes through the ordinary write path, so it is validated and versioned like any
update. A patch that cannot apply, or that changes ``resourceType`` or ``id``, is 422;
``If-Match`` makes it conditional on the version (412 when stale). The conditional form
``PATCH [base]/[type]?criteria`` patches the single match.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import jsonpointer
import orjson

from ehr.context import RequestContext
from ehr.errors import BadRequest, Gone, NotFound, PreconditionFailed, Unprocessable
from ehr.fhir.validate import depth_exceeds
from ehr.interactions.conditional import criteria_of, match_conditional
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.responses import write_response
from ehr.storage.write import write_resource


def patch(ctx: RequestContext, req: FhirRequest, res_type: str, res_id: str) -> FhirResponse:
    operations = _operations(req.body)
    current = ctx.store.current(res_type, res_id, "patch", audit=False)
    if current is None:
        raise NotFound(f"{res_type}/{res_id} is not known")
    if current.deleted or current.content is None:
        raise Gone(f"{res_type}/{res_id} was deleted")
    patched = _apply(orjson.loads(current.content), operations)
    if patched.get("resourceType") != res_type or patched.get("id") != res_id:
        raise Unprocessable("a patch may not change resourceType or id")
    limit = ctx.settings.max_json_depth
    if depth_exceeds(patched, limit):
        # Patches could otherwise nest a resource deeper, step by step, than any body may be.
        raise Unprocessable(f"the patched resource would be nested deeper than {limit} levels")
    result = write_resource(
        ctx,
        method="PATCH",
        res_type=res_type,
        res_id=res_id,
        body=patched,
        expected_version=req.expected_version(),
    )
    assert result.stored is not None
    return write_response(ctx, req, result.stored, 200, "patched")


def conditional_patch(ctx: RequestContext, req: FhirRequest, res_type: str) -> FhirResponse:
    matches = match_conditional(ctx, res_type, criteria_of(req))
    if not matches:
        raise NotFound("no resource matches the patch criteria")
    if len(matches) > 1:
        raise PreconditionFailed(f"the patch criteria match {len(matches)} resources")
    return patch(ctx, req, res_type, matches[0].res_id)


def _operations(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        raise BadRequest("FHIRPath Patch is not supported; send a JSON Patch", code="not-supported")
    if not isinstance(body, list) or not all(isinstance(op, dict) for op in body):
        raise BadRequest("a JSON Patch body must be an array of operation objects")
    return body


def _apply(document: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        result = jsonpatch.JsonPatch(operations).apply(document)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise PreconditionFailed(f"JSON Patch test failed: {exc}") from None
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise Unprocessable(f"the JSON Patch cannot be applied: {exc}") from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise BadRequest(f"malformed JSON Patch: {exc}") from None
    if not isinstance(result, dict):
        raise Unprocessable("the patched document is not a resource")
    return result
