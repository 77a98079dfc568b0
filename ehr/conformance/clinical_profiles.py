"""The national profiles of clinical records, aligned with the International Patient Summary.

Each keeps the IPS minimum (https://hl7.org/fhir/uv/ips/): the patient it is about and
what it is (a code), plus when for events. On top of that, the Vietnamese choices:

- Condition: an ICD-10 coding is required (the classification facilities, claims and
  the Ministry's statistics use), its code in ICD-10 form (``I10``, ``E11.9``).
- Observation: a LOINC coding is required; a quantity carries a UCUM unit code.
- Immunization: the vaccine should be one of the national programme's (an extensible
  binding: vaccines bought privately are allowed, with a warning).
- MedicationRequest, AllergyIntolerance, Procedure: as IPS requires, without a national
  code system (Vietnam has none in general use for drugs, allergens or procedures yet).
"""

from __future__ import annotations

from typing import Any

from ehr.conformance.common import value_set_url
from ehr.conformance.elements import (
    binding,
    element,
    reference,
    regex,
    required,
    sliced,
    structure_definition,
    system_slice,
    type_slice,
)
from ehr.conformance.profiles import ENCOUNTER, PATIENT
from ehr.terminology.systems import ICD10, LOINC, UCUM

ICD10_PATTERN = r"^[A-Z][0-9]{2}(\.[0-9]{1,2})?$"
"""A WHO ICD-10 code: a letter, two digits, optionally a dot and one or two digits
(``A90``, ``E11.9``, ``S72.00``), without dagger or asterisk."""
LOINC_PATTERN = r"^[0-9]{1,7}-[0-9]$"
"""A LOINC code: digits, a hyphen and the check digit (``8867-4``)."""


def condition() -> dict[str, Any]:
    coding = "Condition.code.coding"
    return structure_definition(
        "condition",
        "Condition",
        "VN Core Condition",
        "A diagnosis or problem, coded in ICD-10 (other codings, e.g. SNOMED CT, may come "
        "beside it), about a patient.",
        [
            required("Condition.code"),
            sliced(coding, min=1),
            *system_slice(coding, "icd10", ICD10),
            required(f"{coding}:icd10.code", **regex(ICD10_PATTERN)),
            required("Condition.subject", **reference(PATIENT)),
            element("Condition.encounter", **reference(ENCOUNTER)),
        ],
    )


def observation() -> dict[str, Any]:
    coding = "Observation.code.coding"
    quantity = "Observation.value[x]:valueQuantity"
    return structure_definition(
        "observation",
        "Observation",
        "VN Core Observation",
        "A vital sign or laboratory result, coded in LOINC, about a patient, with when it "
        "was taken; a quantity value carries its UCUM unit code.",
        [
            sliced(coding, min=1),
            *system_slice(coding, "loinc", LOINC),
            required(f"{coding}:loinc.code", **regex(LOINC_PATTERN)),
            required("Observation.subject", **reference(PATIENT)),
            required("Observation.effective[x]"),
            *type_slice("Observation.value[x]", "Quantity"),
            required(f"{quantity}.value"),
            required(f"{quantity}.system", fixedUri=UCUM),
            required(f"{quantity}.code"),
        ],
    )


def medication_request() -> dict[str, Any]:
    return structure_definition(
        "medication-request",
        "MedicationRequest",
        "VN Core MedicationRequest",
        "A prescription for a patient: the medication, when it was written and by whom "
        "(IPS minimum; Vietnam has no national drug code system in FHIR yet).",
        [
            required("MedicationRequest.subject", **reference(PATIENT)),
            required("MedicationRequest.authoredOn"),
            element("MedicationRequest.encounter", **reference(ENCOUNTER)),
        ],
    )


def immunization() -> dict[str, Any]:
    return structure_definition(
        "immunization",
        "Immunization",
        "VN Core Immunization",
        "A vaccination given to a patient; the vaccine should be one of the national "
        "expanded programme on immunisation (CVX codes).",
        [
            required(
                "Immunization.vaccineCode",
                **binding(value_set_url("epi-vaccines"), "extensible"),
            ),
            required("Immunization.patient", **reference(PATIENT)),
            required("Immunization.occurrence[x]"),
        ],
    )


def allergy_intolerance() -> dict[str, Any]:
    return structure_definition(
        "allergy-intolerance",
        "AllergyIntolerance",
        "VN Core AllergyIntolerance",
        "An allergy or intolerance of a patient: what it is to (IPS minimum).",
        [
            required("AllergyIntolerance.code"),
            required("AllergyIntolerance.patient", **reference(PATIENT)),
        ],
    )


def procedure() -> dict[str, Any]:
    return structure_definition(
        "procedure",
        "Procedure",
        "VN Core Procedure",
        "A procedure performed on a patient: what and when (IPS minimum).",
        [
            required("Procedure.code"),
            required("Procedure.subject", **reference(PATIENT)),
            required("Procedure.performed[x]"),
        ],
    )


def clinical_profiles() -> list[dict[str, Any]]:
    return [
        condition(),
        observation(),
        medication_request(),
        immunization(),
        allergy_intolerance(),
        procedure(),
    ]
