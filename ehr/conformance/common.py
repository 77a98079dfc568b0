"""Canonical URLs and the metadata every generated conformance resource carries."""

from __future__ import annotations

from typing import Any

from ehr.fhir.identifiers import CORE
from ehr.registry.resources import PUBLISHER, VERSION

FHIR_VERSION = "4.0.1"
CORE_SD = "http://hl7.org/fhir/StructureDefinition"
JURISDICTION = [{"coding": [{"system": "urn:iso:std:iso:3166", "code": "VN"}]}]


def canonical(resource_type: str, res_id: str) -> str:
    """``http://fhir.hl7.org.vn/core/<resourceType>/<id>``."""
    return f"{CORE}/{resource_type}/{res_id}"


def profile_url(name: str) -> str:
    """The canonical of the national profile of ``name``: ``.../vn-core-patient``."""
    return canonical("StructureDefinition", f"vn-core-{name}")


def value_set_url(res_id: str) -> str:
    return canonical("ValueSet", res_id)


def computable_name(res_id: str) -> str:
    """``vn-core-patient`` -> ``VNCorePatient``; ``epi-vaccines`` -> ``EpiVaccines``."""
    prefix = "VNCore" if res_id.startswith("vn-core-") else ""
    return prefix + "".join(part.title() for part in res_id.removeprefix("vn-core-").split("-"))


def metadata(
    resource_type: str, res_id: str, title: str, description: str, *, url: bool = True
) -> dict[str, Any]:
    """The common head of a conformance resource (``url`` off for NamingSystem, which
    has none in R4)."""
    head: dict[str, Any] = {"resourceType": resource_type, "id": res_id}
    if url:
        head["url"] = canonical(resource_type, res_id)
        head["version"] = VERSION
    head.update(
        {
            "name": computable_name(res_id),
            "title": title,
            "status": "active",
            "experimental": False,
            "publisher": PUBLISHER,
            "description": description,
            "jurisdiction": JURISDICTION,
        }
    )
    return head
