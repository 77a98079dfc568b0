"""The ValueSets the profiles bind to and the portal picks from, and the province ConceptMap.

A ValueSet either takes a whole local CodeSystem (provinces, facility levels: the
validator knows their every code) or enumerates concepts (encounter classes, the national
vaccines, the common ICD-10 and LOINC codes), which is the subset ``ehr.profiles`` reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ehr.conformance.code_systems import concept
from ehr.conformance.common import canonical, metadata, value_set_url
from ehr.registry import (
    FACILITY_KIND_SYSTEM,
    FACILITY_LEVEL_SYSTEM,
    LEGACY_PROVINCE_SYSTEM,
    PROVINCE_SYSTEM,
)
from ehr.registry.provinces import Province
from ehr.terminology.seed_codes import (
    Code,
    read_encounter_classes,
    read_icd10,
    read_loinc,
    read_vaccines,
)
from ehr.terminology.systems import ACT_CODE, CVX, ICD10, LOINC

PROVINCE_MAP = "legacy-province-to-province"


def _value_set(res_id: str, title: str, description: str, include: dict[str, Any]) -> dict:
    return {
        **metadata("ValueSet", res_id, title, description),
        "immutable": False,
        "compose": {"include": [include]},
    }


def _whole(res_id: str, system: str, title: str, description: str) -> dict[str, Any]:
    return _value_set(res_id, title, description, {"system": system})


def _enumerated(
    res_id: str, system: str, codes: list[Code], title: str, description: str
) -> dict[str, Any]:
    concepts = [concept(c) for c in codes]
    return _value_set(res_id, title, description, {"system": system, "concept": concepts})


def registry_value_sets() -> list[dict[str, Any]]:
    return [
        _whole(
            "province",
            PROVINCE_SYSTEM,
            "Provinces of Vietnam (2025)",
            "Every one of the 34 provinces and centrally governed cities since 1 July 2025.",
        ),
        _whole(
            "legacy-province",
            LEGACY_PROVINCE_SYSTEM,
            "Provinces of Vietnam before 2025 (63)",
            "Every one of the 63 provinces before 1 July 2025, for history and CCCD prefixes.",
        ),
        _whole(
            "facility-level",
            FACILITY_LEVEL_SYSTEM,
            "Facility levels",
            "Central, provincial, regional, commune or private.",
        ),
        _whole(
            "facility-kind",
            FACILITY_KIND_SYSTEM,
            "Facility kinds",
            "Hospital, health station or clinic.",
        ),
    ]


def terminology_value_sets(seed_dir: Path) -> list[dict[str, Any]]:
    return [
        _enumerated(
            "encounter-class",
            ACT_CODE,
            read_encounter_classes(seed_dir),
            "Encounter classes",
            "The v3 ActCode encounter classes Vietnamese facilities record: outpatient, "
            "emergency, inpatient, day treatment, home care, telehealth and mobile "
            "(outreach) visits.",
        ),
        _enumerated(
            "epi-vaccines",
            CVX,
            read_vaccines(seed_dir),
            "Vaccines of the national expanded programme on immunisation",
            "The vaccines of Vietnam's expanded programme on immunisation (Tiêm chủng mở "
            "rộng), by CVX code.",
        ),
        _enumerated(
            "icd-10-common",
            ICD10,
            read_icd10(seed_dir),
            "Common ICD-10 diagnoses",
            "ICD-10 codes common in Vietnamese facilities, for pick lists. Any ICD-10 code "
            "is valid in a record; this set is not a binding.",
        ),
        _enumerated(
            "loinc-common",
            LOINC,
            read_loinc(seed_dir),
            "Common vital signs and laboratory tests",
            "LOINC codes of the vital signs and the common laboratory tests, for pick lists.",
        ),
    ]


def province_concept_map(provinces: list[Province]) -> dict[str, Any]:
    """Each of the 63 old province codes to the one 2025 province it is part of."""
    elements = sorted(
        (
            {
                "code": code,
                "display": name,
                "target": [
                    {
                        "code": province.code,
                        "display": province.name,
                        "equivalence": "wider" if len(province.old_codes) > 1 else "equivalent",
                    }
                ],
            }
            for province in provinces
            for code, name in zip(province.old_codes, province.old_names, strict=True)
        ),
        key=lambda e: e["code"],
    )
    return {
        **metadata(
            "ConceptMap",
            PROVINCE_MAP,
            "Provinces before 2025 to the 2025 provinces",
            "The merger of 1 July 2025 (Resolution 202/2025/QH15): each of the 63 old "
            "provinces to the province it became part of. 'wider' where several old "
            "provinces merged into one, 'equivalent' where a province kept its territory.",
        ),
        "sourceCanonical": value_set_url("legacy-province"),
        "targetCanonical": value_set_url("province"),
        "group": [
            {"source": LEGACY_PROVINCE_SYSTEM, "target": PROVINCE_SYSTEM, "element": elements}
        ],
    }


def concept_map_url() -> str:
    return canonical("ConceptMap", PROVINCE_MAP)
