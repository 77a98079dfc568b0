"""Building the response of an interaction that returns one resource.

ETag, Location and Last-Modified follow https://hl7.org/fhir/R4/http.html; the body
follows ``Prefer: return=minimal|representation|OperationOutcome`` (default
representation). The resource bytes are the stored bytes, never re-serialised.
"""

from __future__ import annotations

from ehr.context import RequestContext
from ehr.errors import Issue, operation_outcome
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.search.dates import format_http_date
from ehr.storage.repository import StoredResource


def etag(version: int) -> str:
    return f'W/"{version}"'


def version_headers(stored: StoredResource) -> dict[str, str]:
    """``ETag`` and ``Last-Modified`` of a stored version."""
    return {"ETag": etag(stored.version), "Last-Modified": format_http_date(stored.last_updated)}


def version_location(ctx: RequestContext, stored: StoredResource) -> str:
    return f"{ctx.base_url}/{stored.res_type}/{stored.res_id}/_history/{stored.version}"


def write_response(
    ctx: RequestContext, req: FhirRequest, stored: StoredResource, status: int, message: str
) -> FhirResponse:
    """The answer to a create/update/patch: headers, and a body as ``Prefer: return`` asks."""
    headers = version_headers(stored)
    headers["Location"] = version_location(ctx, stored)
    preference = req.prefer("return") or "representation"
    body: bytes | dict | None
    if preference == "minimal":
        body = None
    elif preference == "operationoutcome":
        body = operation_outcome([Issue("information", "informational", message)])
    else:
        body = stored.content
    return FhirResponse(status=status, body=body, headers=headers, resource=stored.content)


def outcome_response(status: int, message: str, severity: str = "information") -> FhirResponse:
    """A response whose body is a one-issue ``OperationOutcome``."""
    code = "informational" if severity == "information" else "processing"
    return FhirResponse(status=status, body=operation_outcome([Issue(severity, code, message)]))
