"""vread: ``GET [base]/[type]/[id]/_history/[vid]`` (https://hl7.org/fhir/R4/http.html#vread)."""

from __future__ import annotations

from ehr.context import RequestContext
from ehr.errors import Gone, NotFound
from ehr.interactions.messages import FhirRequest, FhirResponse, small_int
from ehr.interactions.responses import version_headers
from ehr.interactions.shaping import shape


def vread(
    ctx: RequestContext, req: FhirRequest, res_type: str, res_id: str, version_id: str
) -> FhirResponse:
    version = small_int(version_id)
    if version is None:
        raise NotFound(f"{res_type}/{res_id} has no version {version_id[:64]!r}")
    stored = ctx.store.version(res_type, res_id, version)
    if stored is None:
        raise NotFound(f"{res_type}/{res_id} has no version {version_id}")
    if stored.deleted:
        raise Gone(
            f"version {version_id} of {res_type}/{res_id} is a deletion",
            headers=version_headers(stored),
        )
    assert stored.content is not None
    return FhirResponse(
        status=200, body=shape(stored.content, req), headers=version_headers(stored)
    )
