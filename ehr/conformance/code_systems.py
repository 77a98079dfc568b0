"""The parts of ICD-10, LOINC and CVX the exchange ships, as ``content: fragment`` CodeSystems.

Each keeps the official ``url`` (the system records are coded with) and says it is a
fragment: a code outside it is not wrong, only not shipped here. Concepts carry the
system's own (English) display and a Vietnamese designation, the same rows
``ehr.terminology`` serves. The registry's complete CodeSystems (provinces, facility
levels) come from ``ehr.registry.resources.code_systems``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ehr.conformance.common import metadata
from ehr.terminology.codes import SYSTEMS
from ehr.terminology.seed_codes import Code, read_icd10, read_loinc, read_vaccines
from ehr.terminology.systems import CVX, ICD10, LOINC

UCUM_PROPERTY = "EXAMPLE_UCUM_UNITS"
"""The LOINC property naming the usual UCUM unit of a result."""


def concept(code: Code, properties: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A seeded code as a ``CodeSystem.concept`` (also the shape of a ValueSet's
    ``compose.include.concept``): the system's own display, the Vietnamese as a designation."""
    entry: dict[str, Any] = {
        "code": code.code,
        "display": code.display_en,
        "designation": [{"language": "vi", "value": code.display_vi}],
    }
    if properties:
        entry["property"] = properties
    return entry


def _fragment(
    res_id: str,
    url: str,
    title: str,
    description: str,
    copyright_: str,
    concepts: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        **metadata("CodeSystem", res_id, title, description, url=False),
        "url": url,
        "name": SYSTEMS[url].name.replace("-", ""),
        "copyright": copyright_,
        "caseSensitive": True,
        "content": "fragment",
        "count": len(concepts),
        "concept": concepts,
    }


def icd10_fragment(seed_dir: Path) -> dict[str, Any]:
    return _fragment(
        "icd-10",
        ICD10,
        "ICD-10: codes common in Vietnam",
        "Diagnoses common in Vietnamese facilities (communicable diseases of the national "
        "surveillance list, the leading non-communicable diseases, maternal and child "
        "health), with the WHO English title and a Vietnamese display.",
        "ICD-10 is copyright World Health Organization. The Vietnamese displays are for "
        "reading only; the Ministry of Health's Vietnamese ICD-10 edition is authoritative.",
        [concept(code) for code in read_icd10(seed_dir)],
    )


def loinc_fragment(seed_dir: Path) -> dict[str, Any]:
    fragment = _fragment(
        "loinc",
        LOINC,
        "LOINC: common vital signs and laboratory tests",
        "The vital signs of the FHIR vital-signs profiles and the laboratory tests most "
        "often ordered in Vietnamese facilities, in the SI units Vietnamese laboratories "
        "report (mmol/L, umol/L, g/L), each with its usual UCUM unit.",
        "This material contains content from LOINC (http://loinc.org). LOINC is copyright "
        "Regenstrief Institute, Inc. and the LOINC Committee and is available at no cost "
        "under the license at http://loinc.org/license.",
        [
            concept(
                code,
                [{"code": UCUM_PROPERTY, "valueString": code.unit}] if code.unit else None,
            )
            for code in read_loinc(seed_dir)
        ],
    )
    fragment["property"] = [
        {
            "code": UCUM_PROPERTY,
            "uri": "http://loinc.org/property/EXAMPLE_UCUM_UNITS",
            "description": "The UCUM unit a result is usually reported in.",
            "type": "string",
        }
    ]
    return fragment


def cvx_fragment(seed_dir: Path) -> dict[str, Any]:
    return _fragment(
        "cvx",
        CVX,
        "CVX: vaccines of the national expanded programme on immunisation",
        "The vaccines Vietnam's expanded programme on immunisation (Tiêm chủng mở rộng) "
        "gives, by their CDC CVX code: the routine childhood schedule, tetanus for pregnant "
        "women, and the vaccines given in high-risk areas only.",
        "CVX codes are published by the US CDC (public domain).",
        [concept(code) for code in read_vaccines(seed_dir)],
    )


def fragments(seed_dir: Path) -> list[dict[str, Any]]:
    return [icd10_fragment(seed_dir), loinc_fragment(seed_dir), cvx_fragment(seed_dir)]
