"""One conforming example per national profile: a hypertension visit at Bạch Mai hospital.

The examples are a coherent record (``fhir_profiles/examples/``): a patient seen as an
outpatient, her diagnosis, blood pressure, prescription, ECG, allergy and a tetanus
booster. They point only at each other and at the registry (the facility is the registry's
own ``Organization``, built by ``ehr.registry.resources.organization``), and every code
they use is one the exchange ships, so they double as fixtures for the validator's tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ehr.fhir.identifiers import BHYT, CCCD, facility_record_system
from ehr.mpi.cccd import make_cccd
from ehr.mpi.secondary_ids import make_bhyt
from ehr.registry.facilities import Facility, generate_registry
from ehr.registry.provinces import province_address, read_provinces
from ehr.registry.resources import organization
from ehr.terminology.codes import build_index
from ehr.terminology.systems import ACT_CODE, CVX, ICD10, LOINC, UCUM

EXAMPLE_ID = "example"
FACILITY_CODE = "01001"
"""Bệnh viện Bạch Mai, the first facility of the registry."""
HL7_CS = "http://terminology.hl7.org/CodeSystem"
SNOMED = "http://snomed.info/sct"
ATC = "http://www.whocc.no/atc"
VISIT = "2025-09-15"


def _facility(seed_dir: Path) -> Facility:
    provinces = read_provinces(seed_dir)
    registry = generate_registry(provinces, province_codes=[FACILITY_CODE[:2]])
    return next(f for f in registry if f.code == FACILITY_CODE)


def _coding(seed_dir: Path, system: str, code: str) -> dict[str, str]:
    concept = build_index(seed_dir).lookup(system, code)
    if concept is None:
        raise ValueError(f"the examples use {system}|{code}, which seed/ does not define")
    return {"system": system, "code": code, "display": concept.display}


def _hl7(name: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": f"{HL7_CS}/{name}", "code": code, "display": display}]}


def _refs() -> dict[str, dict[str, str]]:
    return {
        "subject": {"reference": f"Patient/{EXAMPLE_ID}"},
        "encounter": {"reference": f"Encounter/{EXAMPLE_ID}"},
    }


def patient(seed_dir: Path) -> dict[str, Any]:
    facility = _facility(seed_dir)
    address = province_address(facility.province)
    return {
        "resourceType": "Patient",
        "id": EXAMPLE_ID,
        "identifier": [
            {
                "use": "official",
                "system": CCCD,
                "value": make_cccd("001", "female", 1968, 204518, seed_dir=seed_dir),
            },
            {"system": BHYT, "value": make_bhyt("HT", 2, "01", "0112040188")},
            {
                "use": "usual",
                "system": facility_record_system(facility.code),
                "value": "2509150042",
            },
        ],
        "name": [
            {
                "use": "official",
                "text": "Nguyễn Thị Lan",
                "family": "Nguyễn",
                "given": ["Thị", "Lan"],
            }
        ],
        "telecom": [{"system": "phone", "value": "0912345678", "use": "mobile"}],
        "gender": "female",
        "birthDate": "1968-03-14",
        "address": [
            {
                **address,
                "use": "home",
                "line": ["12 phố Tràng Tiền"],
                "city": "Phường Hoàn Kiếm",
            }
        ],
    }


def encounter(seed_dir: Path) -> dict[str, Any]:
    facility = _facility(seed_dir)
    return {
        "resourceType": "Encounter",
        "id": EXAMPLE_ID,
        "status": "finished",
        "class": _coding(seed_dir, ACT_CODE, "AMB"),
        "subject": {"reference": f"Patient/{EXAMPLE_ID}"},
        "period": {"start": f"{VISIT}T08:30:00+07:00", "end": f"{VISIT}T09:10:00+07:00"},
        "reasonCode": [{"coding": [_coding(seed_dir, ICD10, "I10")]}],
        "serviceProvider": {
            "reference": f"Organization/{facility.organization_id}",
            "display": facility.name,
        },
    }


def condition(seed_dir: Path) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": EXAMPLE_ID,
        "clinicalStatus": _hl7("condition-clinical", "active", "Active"),
        "verificationStatus": _hl7("condition-ver-status", "confirmed", "Confirmed"),
        "category": [_hl7("condition-category", "encounter-diagnosis", "Encounter Diagnosis")],
        "code": {
            "coding": [_coding(seed_dir, ICD10, "I10")],
            "text": "Tăng huyết áp vô căn (nguyên phát)",
        },
        **_refs(),
        "onsetDateTime": "2021",
        "recordedDate": VISIT,
    }


def observation(seed_dir: Path) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": EXAMPLE_ID,
        "status": "final",
        "category": [_hl7("observation-category", "vital-signs", "Vital Signs")],
        "code": {"coding": [_coding(seed_dir, LOINC, "8480-6")], "text": "Huyết áp tâm thu"},
        **_refs(),
        "effectiveDateTime": f"{VISIT}T08:40:00+07:00",
        "valueQuantity": {"value": 152, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
    }


def medication_request(seed_dir: Path) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": EXAMPLE_ID,
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": ATC, "code": "C08CA01", "display": "amlodipine"}],
            "text": "Amlodipin 5 mg, viên nén",
        },
        **_refs(),
        "authoredOn": f"{VISIT}T09:05:00+07:00",
        "dosageInstruction": [{"text": "Uống 1 viên mỗi sáng, trong 30 ngày"}],
    }


def immunization(seed_dir: Path) -> dict[str, Any]:
    return {
        "resourceType": "Immunization",
        "id": EXAMPLE_ID,
        "status": "completed",
        "vaccineCode": {
            "coding": [_coding(seed_dir, CVX, "139")],
            "text": "Vắc xin uốn ván - bạch hầu giảm liều (Td)",
        },
        "patient": {"reference": f"Patient/{EXAMPLE_ID}"},
        "encounter": {"reference": f"Encounter/{EXAMPLE_ID}"},
        "occurrenceDateTime": f"{VISIT}T09:00:00+07:00",
        "primarySource": True,
    }


def allergy_intolerance(seed_dir: Path) -> dict[str, Any]:
    return {
        "resourceType": "AllergyIntolerance",
        "id": EXAMPLE_ID,
        "clinicalStatus": _hl7("allergyintolerance-clinical", "active", "Active"),
        "verificationStatus": _hl7("allergyintolerance-verification", "confirmed", "Confirmed"),
        "type": "allergy",
        "category": ["medication"],
        "criticality": "high",
        "code": {"text": "Penicillin"},
        "patient": {"reference": f"Patient/{EXAMPLE_ID}"},
        "recordedDate": VISIT,
        "reaction": [{"manifestation": [{"text": "Mày đay toàn thân"}]}],
    }


def procedure(seed_dir: Path) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": EXAMPLE_ID,
        "status": "completed",
        "code": {
            "coding": [
                {"system": SNOMED, "code": "29303009", "display": "Electrocardiographic procedure"}
            ],
            "text": "Điện tim thường",
        },
        **_refs(),
        "performedDateTime": f"{VISIT}T08:50:00+07:00",
    }


def examples(seed_dir: Path) -> list[dict[str, Any]]:
    """The examples, one per profile, with the registry Organization they refer to."""
    return [
        patient(seed_dir),
        organization(_facility(seed_dir)),
        encounter(seed_dir),
        condition(seed_dir),
        observation(seed_dir),
        medication_request(seed_dir),
        immunization(seed_dir),
        allergy_intolerance(seed_dir),
        procedure(seed_dir),
    ]
