"""Resources that meet the fixture profiles, and a way to see a validation as the API does."""

from __future__ import annotations

from typing import Any

from ehr.errors import operation_outcome
from ehr.profiles.definitions import ProfileSet
from ehr.profiles.validator import validate

CORE = "http://fhir.hl7.org.vn/core"
CCCD = f"{CORE}/sid/cccd"
BHYT = f"{CORE}/sid/bhyt"
FACILITY_CODE = f"{CORE}/sid/facility-code"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
VITAL_SIGNS = {
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "vital-signs",
}


def valid_patient(**extra: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "Patient",
        "identifier": [{"use": "official", "system": CCCD, "value": "001090012345"}],
        "name": [{"family": "Nguyễn", "given": ["Văn", "An"]}],
        "gender": "male",
        "birthDate": "1990-05-17",
        "address": [{"line": ["1 Tràng Tiền"], "state": "01", "country": "VN"}],
    }
    resource.update(extra)
    return resource


def valid_observation(subject: str = "Patient/p1", **extra: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [dict(VITAL_SIGNS)]}],
        "code": {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": subject},
        "valueQuantity": {"value": 72, "unit": "/min", "system": UCUM, "code": "/min"},
    }
    resource.update(extra)
    return resource


def valid_organization(code: str = "01001") -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "identifier": [{"system": FACILITY_CODE, "value": code}],
        "name": "Bệnh viện Bạch Mai",
    }


def valid_encounter(subject: str, **extra: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": subject},
        "period": {"start": "2026-11-20T08:00:00+07:00", "end": "2026-11-20T09:00:00+07:00"},
    }
    resource.update(extra)
    return resource


def outcome_of(resource: dict[str, Any], profiles: ProfileSet) -> dict[str, Any]:
    """The OperationOutcome of validating ``resource`` (as ``$validate`` and a 422 carry it)."""
    return operation_outcome(validate(resource, profiles).issues)


def found(resource: dict[str, Any], profiles: ProfileSet) -> list[tuple[str, str, str]]:
    """(severity, code, expression) of each issue, in order."""
    return [
        (issue["severity"], issue["code"], ",".join(issue.get("expression", [])))
        for issue in outcome_of(resource, profiles)["issue"]
    ]
