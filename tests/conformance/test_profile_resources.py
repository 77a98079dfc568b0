"""The generated conformance resources: valid R4, and inside the contract with the validator."""

from __future__ import annotations

import re

import pytest
from fhir_helpers import NATIONAL_PROFILE_TYPES

from ehr.config import Settings
from ehr.conformance.build import conformance, generate
from ehr.conformance.elements import element, structure_definition
from ehr.fhir.identifiers import CORE
from ehr.fhir.validate import validate_structure
from ehr.profiles.definitions import load_profiles

SEED = Settings().seed_dir
RESOURCES = conformance(SEED)
PROFILES = [
    r for r in RESOURCES if r["resourceType"] == "StructureDefinition" and r["kind"] == "resource"
]
ELEMENT_KEYS = {"id", "path", "min", "max", "binding", "type", "slicing", "extension"}
"""What a differential element may say (docs/profiles.md, "The StructureDefinition subset"),
besides ``fixed[x]``/``pattern[x]``."""
FIXED = {"fixedUri", "fixedCode", "fixedString"}
PATTERNS = {"patternCoding", "patternCodeableConcept", "patternIdentifier"}


@pytest.mark.parametrize("name", sorted(generate(SEED)))
def test_every_generated_resource_is_valid_r4(name):
    validate_structure(generate(SEED)[name])


def test_there_is_one_national_profile_per_exchanged_type():
    assert sorted(p["type"] for p in PROFILES) == sorted(NATIONAL_PROFILE_TYPES)
    for profile in PROFILES:
        assert profile["url"] == f"{CORE}/StructureDefinition/{profile['id']}"
        assert profile["id"].startswith("vn-core-")
        assert (
            profile["baseDefinition"]
            == f"http://hl7.org/fhir/StructureDefinition/{profile['type']}"
        )
        assert (profile["derivation"], profile["fhirVersion"], profile["status"]) == (
            "constraint",
            "4.0.1",
            "active",
        )
        assert "snapshot" not in profile and profile["differential"]["element"]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p["id"])
def test_profiles_use_only_the_subset_the_validator_enforces(profile):
    value_sets = {r["url"] for r in RESOURCES if r["resourceType"] == "ValueSet"}
    profile_urls = {p["url"] for p in PROFILES}
    for item in profile["differential"]["element"]:
        extra = set(item) - ELEMENT_KEYS - FIXED - PATTERNS
        assert not extra, (item["id"], extra)
        assert item["path"] == re.sub(r":[^.]+", "", item["id"])
        if "binding" in item:
            assert item["binding"]["strength"] in ("required", "extensible")
            assert item["binding"]["valueSet"] in value_sets
        for type_ in item.get("type", []):
            assert set(type_) <= {"code", "targetProfile"}
            assert set(type_.get("targetProfile", [])) <= profile_urls
        for ext in item.get("extension", []):
            assert ext["url"] == "http://hl7.org/fhir/StructureDefinition/regex"
            re.compile(ext["valueString"])
        if "slicing" in item:
            assert item["slicing"]["rules"] == "open"
            kinds = {d["type"] for d in item["slicing"]["discriminator"]}
            assert kinds <= ({"type"} if item["id"].endswith("[x]") else {"value", "pattern"})


def test_the_validator_compiles_every_profile_without_a_problem():
    profiles = load_profiles(Settings().profiles_dir)
    assert profiles.problems == []
    assert {p.type for p in profiles.profiles.values()} == set(NATIONAL_PROFILE_TYPES)


def test_the_key_rules_are_where_the_issue_asks_for_them():
    by_id = {p["type"]: {e["id"]: e for e in p["differential"]["element"]} for p in PROFILES}
    cccd = by_id["Patient"]["Patient.identifier:cccd.value"]
    assert cccd["extension"][0]["valueString"] == "^[0-9]{12}$"
    assert by_id["Patient"]["Patient.identifier:cccd"]["min"] == 1
    for field in ("name", "gender", "birthDate", "address"):
        assert by_id["Patient"][f"Patient.{field}"]["min"] == 1
    province = by_id["Patient"]["Patient.address.extension:province.value[x]"]
    assert province["binding"] == {"strength": "required", "valueSet": f"{CORE}/ValueSet/province"}
    facility = by_id["Organization"]["Organization.identifier:facilityCode.value"]
    assert facility["extension"][0]["valueString"] == "^[0-9]{5}$"
    level = by_id["Organization"]["Organization.type:level"]["binding"]
    assert level == {"strength": "required", "valueSet": f"{CORE}/ValueSet/facility-level"}
    encounter = by_id["Encounter"]
    assert encounter["Encounter.serviceProvider"]["type"][0]["targetProfile"] == [
        f"{CORE}/StructureDefinition/vn-core-organization"
    ]
    assert encounter["Encounter.period.start"]["min"] == 1
    assert by_id["Condition"]["Condition.code.coding:icd10.system"]["fixedUri"] == (
        "http://hl7.org/fhir/sid/icd-10"
    )
    quantity = "Observation.value[x]:valueQuantity"
    assert by_id["Observation"][f"{quantity}.system"]["fixedUri"] == "http://unitsofmeasure.org"
    assert by_id["Observation"][f"{quantity}.code"]["min"] == 1
    vaccine = by_id["Immunization"]["Immunization.vaccineCode"]["binding"]
    assert vaccine == {"strength": "extensible", "valueSet": f"{CORE}/ValueSet/epi-vaccines"}


def test_a_profile_defining_an_element_twice_is_refused():
    with pytest.raises(ValueError, match=r"Patient\.gender"):
        structure_definition(
            "x", "Patient", "x", "x", [element("Patient.gender"), element("Patient.gender")]
        )


def test_every_canonical_is_unique_and_every_value_set_draws_on_a_known_system():
    urls = [r["url"] for r in RESOURCES if "url" in r and r["resourceType"] != "CodeSystem"]
    assert len(urls) == len(set(urls))
    ids = [(r["resourceType"], r["id"]) for r in RESOURCES]
    assert len(ids) == len(set(ids))
    systems = {r["url"] for r in RESOURCES if r["resourceType"] == "CodeSystem"}
    external = {"http://terminology.hl7.org/CodeSystem/v3-ActCode"}
    for value_set in (r for r in RESOURCES if r["resourceType"] == "ValueSet"):
        for include in value_set["compose"]["include"]:
            assert include["system"] in systems | external, value_set["id"]
            if include["system"] in external:
                assert include["concept"], "an external system is enumerated"
