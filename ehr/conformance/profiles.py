"""The national profiles of who and where: Patient, Organization (facility), Encounter.

Plus the definitions of the exchange's own extensions (``ehr.registry``), so that every
extension URL a served resource carries resolves to a StructureDefinition.

Choices (docs/profiles.md has the reasons):

- Patient: a CCCD identifier is expected (``identifier:cccd``, 1..1, 12 digits); name,
  gender, birth date and an address are required, and every address carries its 2025
  province code in the ``province-code`` extension (bound to the 34 provinces). The code
  is in the extension, not in ``address.state``, because the registry, the person index and
  the indicators already read it there, and ``state`` keeps the name people write.
- Organization: a facility, identified by its 5-digit facility code, typed by its level.
- Encounter: the patient, the class, when (a period with a start), and the facility that
  provided it (``serviceProvider``), which is what the indicators count per facility.
"""

from __future__ import annotations

from typing import Any

from ehr.conformance.common import (
    CORE_SD,
    FHIR_VERSION,
    canonical,
    metadata,
    profile_url,
    value_set_url,
)
from ehr.conformance.elements import (
    binding,
    element,
    reference,
    regex,
    required,
    sliced,
    structure_definition,
    system_slice,
)
from ehr.fhir.identifiers import CCCD, FACILITY_CODE, MA_CSKCB
from ehr.registry import (
    EXT_CCCD_BIRTH_PREFIXES,
    EXT_JWKS,
    EXT_LEGACY_PROVINCE_CODES,
    EXT_POPULATION_ESTIMATE,
    EXT_PROVINCE_CODE,
    EXT_SCOPE_POLICY,
    FACILITY_KIND_SYSTEM,
    FACILITY_LEVEL_SYSTEM,
)

CCCD_PATTERN = "^[0-9]{12}$"
FACILITY_CODE_PATTERN = "^[0-9]{5}$"
PATIENT = profile_url("patient")
ORGANIZATION = profile_url("organization")
ENCOUNTER = profile_url("encounter")


def patient() -> dict[str, Any]:
    province = "Patient.address.extension:province"
    return structure_definition(
        "patient",
        "Patient",
        "VN Core Patient",
        "A person as a facility registers them: the CCCD personal identification number, "
        "name, gender, birth date and an address coded by its 2025 province. Secondary "
        "identifiers (BHYT, CMND, the facility's record number) are allowed beside the CCCD.",
        [
            sliced("Patient.identifier", min=1),
            element("Patient.identifier:cccd", min=1, max="1"),
            required("Patient.identifier:cccd.system", fixedUri=CCCD),
            required("Patient.identifier:cccd.value", **regex(CCCD_PATTERN)),
            required("Patient.name"),
            required("Patient.gender"),
            required("Patient.birthDate"),
            required("Patient.address"),
            sliced("Patient.address.extension", "url"),
            element(province, min=1, max="1", type=[{"code": "Extension"}]),
            required(f"{province}.url", fixedUri=EXT_PROVINCE_CODE),
            required(
                f"{province}.value[x]",
                type=[{"code": "Coding"}],
                **binding(value_set_url("province")),
            ),
        ],
    )


def organization() -> dict[str, Any]:
    return structure_definition(
        "organization",
        "Organization",
        "VN Core Organization (facility)",
        "A health facility of the national registry: its 5-digit facility code (also its "
        "SMART client id), its health-insurance facility code if it has one, its level "
        "and kind, and its name.",
        [
            sliced("Organization.identifier", min=1),
            *system_slice("Organization.identifier", "facilityCode", FACILITY_CODE),
            required("Organization.identifier:facilityCode.value", **regex(FACILITY_CODE_PATTERN)),
            *system_slice("Organization.identifier", "maCskcb", MA_CSKCB, min_=0),
            required("Organization.identifier:maCskcb.value", **regex(FACILITY_CODE_PATTERN)),
            sliced("Organization.type", "coding.system", min=1),
            *system_slice(
                "Organization.type",
                "level",
                FACILITY_LEVEL_SYSTEM,
                system_path="coding",
                **binding(value_set_url("facility-level")),
            ),
            *system_slice(
                "Organization.type",
                "kind",
                FACILITY_KIND_SYSTEM,
                min_=0,
                system_path="coding",
                **binding(value_set_url("facility-kind")),
            ),
            required("Organization.name"),
        ],
    )


def encounter() -> dict[str, Any]:
    return structure_definition(
        "encounter",
        "Encounter",
        "VN Core Encounter",
        "A visit or stay at a registered facility: the patient, the class (outpatient, "
        "emergency, inpatient ...), the period with its start, and the facility that "
        "provided it. The interoperability indicator counts these per facility.",
        [
            required("Encounter.class", **binding(value_set_url("encounter-class"))),
            required("Encounter.subject", **reference(PATIENT)),
            required("Encounter.period"),
            required("Encounter.period.start"),
            required("Encounter.serviceProvider", **reference(ORGANIZATION)),
        ],
    )


def _extension(
    res_id: str, title: str, description: str, context: list[str], value: dict[str, Any]
) -> dict[str, Any]:
    """The definition of one of the exchange's simple extensions."""
    return {
        **metadata("StructureDefinition", res_id, title, description),
        "fhirVersion": FHIR_VERSION,
        "kind": "complex-type",
        "abstract": False,
        "context": [{"type": "element", "expression": where} for where in context],
        "type": "Extension",
        "baseDefinition": f"{CORE_SD}/Extension",
        "derivation": "constraint",
        "differential": {
            "element": [
                element("Extension"),
                element("Extension.extension", max="0"),
                element("Extension.url", fixedUri=canonical("StructureDefinition", res_id)),
                required("Extension.value[x]", **value),
            ]
        },
    }


def extensions() -> list[dict[str, Any]]:
    """The exchange's extensions (their URLs are ``ehr.registry`` constants)."""
    string = {"type": [{"code": "string"}]}
    defined = [
        _extension(
            "province-code",
            "Province code",
            "The 2025 province (of the 34) an address lies in, coded. Indicators group by "
            "it; address.state keeps the name as written.",
            ["Address"],
            {"type": [{"code": "Coding"}], **binding(value_set_url("province"))},
        ),
        _extension(
            "population-estimate",
            "Population estimate",
            "On a province Location: the population the EHR coverage rate divides by.",
            ["Location"],
            {"type": [{"code": "integer"}]},
        ),
        _extension(
            "legacy-province-codes",
            "Legacy province codes",
            "On a province Location: the ';'-separated codes of the old provinces it merges.",
            ["Location"],
            string,
        ),
        _extension(
            "cccd-birth-prefixes",
            "CCCD birth-province prefixes",
            "On a province Location: the ';'-separated 3-digit CCCD prefixes of its old provinces.",
            ["Location"],
            string,
        ),
        _extension(
            "jwks",
            "Facility JWKS",
            "On a facility Organization: the public JSON Web Key Set of its SMART client.",
            ["Organization"],
            string,
        ),
        _extension(
            "scope-policy",
            "Facility scope policy",
            "On a facility Organization: the SMART scopes its client may be granted.",
            ["Organization"],
            string,
        ),
    ]
    urls = {d["url"] for d in defined}
    expected = {
        EXT_PROVINCE_CODE,
        EXT_POPULATION_ESTIMATE,
        EXT_LEGACY_PROVINCE_CODES,
        EXT_CCCD_BIRTH_PREFIXES,
        EXT_JWKS,
        EXT_SCOPE_POLICY,
    }
    assert urls == expected, urls ^ expected
    return defined


def admin_profiles() -> list[dict[str, Any]]:
    return [patient(), organization(), encounter()]
