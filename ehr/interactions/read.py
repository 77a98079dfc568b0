"""read: ``GET [base]/[type]/[id]`` (https://hl7.org/fhir/R4/http.html#read).

Serves the stored bytes as they are. A deleted resource is ``410 Gone``; ``If-None-Match``
with the current ETag and ``If-Modified-Since`` give ``304 Not Modified`` (conditional read).
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from ehr.context import RequestContext
from ehr.errors import Gone, NotFound
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.responses import etag, version_headers
from ehr.interactions.shaping import shape
from ehr.search.dates import to_micros
from ehr.storage.repository import StoredResource


def read(ctx: RequestContext, req: FhirRequest, res_type: str, res_id: str) -> FhirResponse:
    stored = ctx.store.current(res_type, res_id)
    if stored is None:
        raise NotFound(f"{res_type}/{res_id} is not known")
    if stored.deleted:
        raise Gone(f"{res_type}/{res_id} was deleted", headers=version_headers(stored))
    headers = version_headers(stored)
    if _not_modified(req, stored):
        return FhirResponse(status=304, headers=headers)
    assert stored.content is not None
    return FhirResponse(status=200, body=shape(stored.content, req), headers=headers)


def _not_modified(req: FhirRequest, stored: StoredResource) -> bool:
    if_none_match = req.header("if-none-match")
    if if_none_match is not None:
        return etag(stored.version) in {t.strip() for t in if_none_match.split(",")} or (
            if_none_match == "*"
        )
    since = req.header("if-modified-since")
    if since is not None:
        try:
            moment = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if moment.tzinfo is None:
            return False
        # HTTP dates have whole seconds: compare at that precision.
        return stored.last_updated // 1_000_000 <= to_micros(moment) // 1_000_000
    return False
