"""``_summary`` and ``_elements``: returning part of a resource (https://hl7.org/fhir/R4/search.html#summary).

Without either parameter the stored bytes go out untouched; with one, the resource is
parsed, trimmed to the asked-for top-level elements (plus ``id``, ``meta`` and the
mandatory ones) and tagged ``SUBSETTED`` so that no client mistakes it for the whole.
"""

from __future__ import annotations

from typing import Any

import orjson

from ehr.errors import BadRequest
from ehr.fhir.elements import element_base, mandatory_elements, summary_elements
from ehr.interactions.messages import FhirRequest

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "subsetted",
}
SUMMARY_MODES = ("true", "false", "text", "data", "count")
_ALWAYS = ("resourceType", "id", "meta")


def wants_subset(req: FhirRequest) -> bool:
    summary = req.param("_summary")
    if summary is not None and summary not in SUMMARY_MODES:
        raise BadRequest(f"_summary must be one of {', '.join(SUMMARY_MODES)}, got {summary!r}")
    return bool(req.param("_elements")) or summary in ("true", "text", "data")


def shape(content: bytes, req: FhirRequest) -> bytes | dict[str, Any]:
    """The stored ``content`` as the request's ``_summary``/``_elements`` ask for it."""
    if not wants_subset(req):
        return content
    resource = orjson.loads(content)
    resource_type = resource.get("resourceType", "")
    summary = req.param("_summary")
    if summary == "data":
        kept = {k: v for k, v in resource.items() if k != "text"}
    elif summary == "text":
        keep = {"text", *mandatory_elements(resource_type)}
        kept = {k: v for k, v in resource.items() if k in _ALWAYS or k.lstrip("_") in keep}
    elif summary == "true":
        keep = summary_elements(resource_type)
        kept = {k: v for k, v in resource.items() if k in _ALWAYS or k in keep}
    else:
        wanted = {
            name.strip() for name in (req.param("_elements") or "").split(",") if name.strip()
        }
        wanted |= mandatory_elements(resource_type)
        kept = {
            k: v
            for k, v in resource.items()
            if k in _ALWAYS or element_base(k, resource_type) in wanted
        }
    return _tag_subsetted(kept)


def _tag_subsetted(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag", []) if t.get("code") != "SUBSETTED"]
    meta["tag"] = [*tags, SUBSETTED]
    resource["meta"] = meta
    return resource
