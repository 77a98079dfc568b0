"""What the exchange seeds itself meets its own profiles: no registry facility is flagged."""

from __future__ import annotations

from ehr.config import Settings
from ehr.conformance.examples import examples
from ehr.profiles.definitions import load_profiles
from ehr.profiles.validator import validate
from ehr.registry.facilities import generate_registry
from ehr.registry.provinces import read_provinces
from ehr.registry.resources import organization

SETTINGS = Settings()


def test_every_registry_facility_conforms_to_the_organization_profile():
    profiles = load_profiles(SETTINGS.profiles_dir)
    facilities = generate_registry(read_provinces(SETTINGS.seed_dir), scale=0.2)
    assert {f.level for f in facilities} == {
        "central",
        "provincial",
        "regional",
        "commune",
        "private",
    }
    for facility in facilities:
        assert validate(organization(facility), profiles).issues == [], facility.code


def test_the_validator_accepts_every_shipped_example():
    profiles = load_profiles(SETTINGS.profiles_dir)
    for example in examples(SETTINGS.seed_dir):
        assert validate(example, profiles).issues == [], example["resourceType"]


def test_the_validator_flags_a_patient_whose_address_has_no_2025_province_code():
    profiles = load_profiles(SETTINGS.profiles_dir)
    (patient,) = [e for e in examples(SETTINGS.seed_dir) if e["resourceType"] == "Patient"]
    old_code = {**patient, "address": [{**patient["address"][0]}]}
    old_code["address"][0]["extension"] = [
        {
            **patient["address"][0]["extension"][0],
            "valueCoding": {
                "system": "http://fhir.hl7.org.vn/core/CodeSystem/province",
                "code": "02",
            },
        }
    ]
    issues = validate(old_code, profiles).issues
    assert [(i.severity, i.code) for i in issues] == [("error", "code-invalid")]
    assert issues[0].expression == ("Patient.address[0].extension[0].valueCoding",)
