"""FHIR shapes of the registry: facility ``Organization`` and site ``Location``, the CodeSystems.

Other parts of the exchange depend on these shapes exactly: SMART client registration
finds a facility by its facility-code identifier and reads its JWKS extension; the
indicators group facilities by the province-code extension and ``type`` (level, kind);
``GET /fhir/Location?organization=Organization/fac-<code>`` finds a facility's site.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ehr.registry import (
    CORE,
    FACILITY_CODE,
    FACILITY_KIND_SYSTEM,
    FACILITY_LEVEL_SYSTEM,
    MA_CSKCB,
)
from ehr.registry.facilities import KINDS, LEVELS, Facility
from ehr.registry.provinces import Province, province_address, province_location_id

VERSION = "2025.1"
"""Business version of every conformance resource the exchange publishes."""
PUBLISHER = "ehr: Vietnam national EHR exchange"

SITE = {
    "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
    "code": "si",
    "display": "Site",
}


def _concept(system: str, code: str, table: dict[str, tuple[str, str]]) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": table[code][0]}]}


def organization(facility: Facility) -> dict[str, Any]:
    """The facility's ``Organization`` (id ``fac-<code>``), without operator-managed keys."""
    return {
        "resourceType": "Organization",
        "id": facility.organization_id,
        "identifier": [
            {"use": "official", "system": FACILITY_CODE, "value": facility.code},
            {"system": MA_CSKCB, "value": facility.ma_cskcb},
        ],
        "active": facility.active,
        "type": [
            _concept(FACILITY_LEVEL_SYSTEM, facility.level, LEVELS),
            _concept(FACILITY_KIND_SYSTEM, facility.kind, KINDS),
        ],
        "name": facility.name,
        "address": [province_address(facility.province)],
    }


def site_location(facility: Facility) -> dict[str, Any]:
    """The facility's site ``Location`` (id ``loc-<code>``), inside its province's Location."""
    return {
        "resourceType": "Location",
        "id": facility.location_id,
        "identifier": [{"system": FACILITY_CODE, "value": facility.code}],
        "status": "active" if facility.active else "inactive",
        "name": facility.name,
        "mode": "instance",
        "physicalType": {"coding": [dict(SITE)]},
        "address": province_address(facility.province),
        "managingOrganization": {
            "reference": f"Organization/{facility.organization_id}",
            "display": facility.name,
        },
        "partOf": {"reference": f"Location/{province_location_id(facility.province.code)}"},
    }


def facility_resources(facilities: Iterable[Facility]) -> Iterable[dict[str, Any]]:
    """Each facility's Organization followed by its Location (the order references need)."""
    for facility in facilities:
        yield organization(facility)
        yield site_location(facility)


def _code_system(
    name: str, title: str, description: str, concepts: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "id": name,
        "url": f"{CORE}/CodeSystem/{name}",
        "version": VERSION,
        "name": "".join(part.title() for part in name.split("-")),
        "title": title,
        "status": "active",
        "experimental": False,
        "publisher": PUBLISHER,
        "description": description,
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "concept": concepts,
    }


def _table_system(
    name: str, title: str, description: str, table: dict[str, tuple[str, str]]
) -> dict[str, Any]:
    concepts = [
        {"code": code, "display": display, "definition": definition}
        for code, (display, definition) in table.items()
    ]
    return _code_system(name, title, description, concepts)


def facility_level_code_system() -> dict[str, Any]:
    return _table_system(
        "facility-level",
        "Facility level",
        "The level of a health facility in the registry: who runs it, and for public "
        "facilities at which tier of the system.",
        LEVELS,
    )


def facility_kind_code_system() -> dict[str, Any]:
    return _table_system(
        "facility-kind",
        "Facility kind",
        "Hospital, health station or clinic. Hospitals had to run electronic medical "
        "records by 30 September 2025, all other facilities by 31 December 2026.",
        KINDS,
    )


def province_code_system(provinces: Sequence[Province]) -> dict[str, Any]:
    """The 34 provinces of 1 July 2025, each with the old (63-province) codes it merges."""
    concepts = [
        {
            "code": province.code,
            "display": province.name,
            "definition": _history(province),
        }
        for province in provinces
    ]
    return _code_system(
        "province",
        "Provinces of Vietnam (2025)",
        "The 34 provinces and centrally governed cities since 1 July 2025, by their 2-digit "
        "code. CCCD numbers and health-insurance codes keep the old 63-province codes.",
        concepts,
    )


def legacy_province_code_system(provinces: Sequence[Province]) -> dict[str, Any]:
    """The 63 provinces before 1 July 2025, each saying which 2025 province it is now part of."""
    concepts = sorted(
        (
            {
                "code": code,
                "display": name,
                "definition": _merged_into(code, name, province),
            }
            for province in provinces
            for code, name in zip(province.old_codes, province.old_names, strict=True)
        ),
        key=lambda concept: concept["code"],
    )
    return _code_system(
        "legacy-province",
        "Provinces of Vietnam before 2025 (63)",
        "The 63 provinces and centrally governed cities before 1 July 2025, by their 2-digit "
        "code. CCCD numbers (digits 1-3) and health-insurance codes still carry these codes; "
        "the ConceptMap legacy-province-to-province maps each to its 2025 province.",
        concepts,
    )


def _merged_into(code: str, name: str, province: Province) -> str:
    if len(province.old_codes) > 1:
        return f"Merged into {province.name} ({province.code}) on 1 July 2025."
    if name != province.name or code != province.code:
        return f"Became {province.name} ({province.code}) on 1 July 2025."
    return "Unchanged by the 2025 merger."


def _history(province: Province) -> str:
    old = ", ".join(
        f"{name} ({code})"
        for code, name in zip(province.old_codes, province.old_names, strict=True)
    )
    if len(province.old_codes) > 1:
        return f"{province.name} ({province.division_type}): merges {old}."
    if province.aliases or province.old_codes != (province.code,):
        return f"{province.name} ({province.division_type}): formerly {old}."
    return f"{province.name} ({province.division_type}): unchanged by the 2025 merger."


def code_systems(provinces: Sequence[Province]) -> list[dict[str, Any]]:
    """The registry's CodeSystems, as kept in ``fhir_profiles/`` and seeded into the store."""
    return [
        facility_level_code_system(),
        facility_kind_code_system(),
        province_code_system(provinces),
        legacy_province_code_system(provinces),
    ]
