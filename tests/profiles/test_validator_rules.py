"""Each rule of the StructureDefinition subset, broken once, with the exact issue expected.

The fixture profiles (``fixtures/``) hold one instance of every rule; a resource that meets
them all is changed in one place and must give exactly one issue (severity, code, FHIRPath
expression), as the OperationOutcome of ``$validate`` and of a rejected write carries it.
"""

from __future__ import annotations

import pytest
from profile_examples import (
    BHYT,
    CCCD,
    VITAL_SIGNS,
    found,
    outcome_of,
    valid_encounter,
    valid_observation,
    valid_organization,
    valid_patient,
)

from ehr.profiles.validator import validate


def test_resources_meeting_every_fixture_rule_have_no_issue(fixture_profiles):
    for resource in (
        valid_patient(),
        valid_observation(),
        valid_organization(),
        valid_encounter("Patient/p1"),
    ):
        assert found(resource, fixture_profiles) == [], resource["resourceType"]


def test_the_fixture_profiles_compile_without_problems(fixture_profiles):
    assert fixture_profiles.problems == []


def test_min_a_missing_required_element(fixture_profiles):
    patient = valid_patient()
    del patient["birthDate"]
    assert found(patient, fixture_profiles) == [("error", "required", "Patient.birthDate")]


def test_min_a_missing_child_is_named_with_its_parent_index(fixture_profiles):
    patient = valid_patient(name=[{"given": ["An"]}])
    assert found(patient, fixture_profiles) == [("error", "required", "Patient.name[0].family")]


def test_max_too_many_repetitions(fixture_profiles):
    names = [{"family": family} for family in ("Nguyễn", "Trần", "Lê")]
    assert found(valid_patient(name=names), fixture_profiles) == [
        ("error", "structure", "Patient.name")
    ]


def test_slice_min_a_required_slice_without_a_member(fixture_profiles):
    patient = valid_patient(identifier=[{"system": BHYT, "value": "HC4010123456789"}])
    outcome = outcome_of(patient, fixture_profiles)
    assert found(patient, fixture_profiles) == [("error", "required", "Patient.identifier")]
    assert "slice 'cccd'" in outcome["issue"][0]["diagnostics"]


def test_slice_max_two_members_of_a_slice_of_at_most_one(fixture_profiles):
    second = {"use": "official", "system": CCCD, "value": "079090012345"}
    patient = valid_patient()
    patient["identifier"].append(second)
    outcome = outcome_of(patient, fixture_profiles)
    assert found(patient, fixture_profiles) == [("error", "structure", "Patient.identifier")]
    assert "slice 'cccd'" in outcome["issue"][0]["diagnostics"]


def test_slice_by_pattern_members_are_told_by_the_slice_pattern(fixture_profiles):
    bhyt = [{"system": BHYT, "value": f"HC40101234567{n}"} for n in (88, 89)]
    patient = valid_patient()
    patient["identifier"] += bhyt
    outcome = outcome_of(patient, fixture_profiles)
    assert found(patient, fixture_profiles) == [("error", "structure", "Patient.identifier")]
    assert "slice 'bhyt'" in outcome["issue"][0]["diagnostics"]


def test_slice_child_min_applies_to_members_of_the_slice_only(fixture_profiles):
    patient = valid_patient()
    patient["identifier"] = [{"system": CCCD}, {"system": BHYT}]
    assert found(patient, fixture_profiles) == [
        ("error", "required", "Patient.identifier[0].value")
    ]


def test_open_slicing_accepts_elements_of_no_slice(fixture_profiles):
    patient = valid_patient()
    patient["identifier"].insert(0, {"system": "urn:oid:1.2.3", "value": "anything"})
    assert found(patient, fixture_profiles) == []


def test_closed_slicing_refuses_elements_of_no_slice(fixture_profiles):
    organization = valid_organization()
    organization["identifier"].append({"system": "urn:oid:1.2.3", "value": "x"})
    assert found(organization, fixture_profiles) == [
        ("error", "structure", "Organization.identifier[1]")
    ]


def test_fixed_code_on_a_slice_child(fixture_profiles):
    patient = valid_patient()
    patient["identifier"][0]["use"] = "usual"
    assert found(patient, fixture_profiles) == [("error", "value", "Patient.identifier[0].use")]


def test_fixed_string(fixture_profiles):
    patient = valid_patient(address=[{"state": "79", "country": "US"}])
    assert found(patient, fixture_profiles) == [("error", "value", "Patient.address[0].country")]


def test_fixed_uri_below_a_choice_element(fixture_profiles):
    observation = valid_observation()
    observation["valueQuantity"]["system"] = "http://example.org/units"
    assert found(observation, fixture_profiles) == [
        ("error", "value", "Observation.valueQuantity.system")
    ]


def test_pattern_codeable_concept(fixture_profiles):
    laboratory = {**VITAL_SIGNS, "code": "laboratory"}
    observation = valid_observation(category=[{"coding": [laboratory]}])
    assert found(observation, fixture_profiles) == [("error", "value", "Observation.category[0]")]


def test_pattern_codeable_concept_accepts_more_than_the_pattern(fixture_profiles):
    category = valid_observation()["category"][0]
    category["coding"].insert(0, {"system": "urn:local", "code": "vs"})
    category["text"] = "Vital signs"
    assert found(valid_observation(category=[category]), fixture_profiles) == []


def test_regex_on_a_slice_child(fixture_profiles):
    patient = valid_patient()
    patient["identifier"][0]["value"] = "00109001234"
    assert found(patient, fixture_profiles) == [("error", "value", "Patient.identifier[0].value")]


def test_regex_is_a_full_match(fixture_profiles):
    organization = valid_organization(code="010010")
    assert found(organization, fixture_profiles) == [
        ("error", "value", "Organization.identifier[0].value")
    ]


def test_required_binding_to_a_complete_local_code_system(fixture_profiles):
    patient = valid_patient(address=[{"state": "99"}])
    assert found(patient, fixture_profiles) == [
        ("error", "code-invalid", "Patient.address[0].state")
    ]


def test_required_binding_on_a_bare_code(fixture_profiles):
    observation = valid_observation(status="preliminary")
    assert found(observation, fixture_profiles) == [("error", "code-invalid", "Observation.status")]


def test_required_binding_on_a_coding(fixture_profiles):
    encounter = valid_encounter("Patient/p1")
    encounter["class"]["code"] = "HH"
    assert found(encounter, fixture_profiles) == [("error", "code-invalid", "Encounter.class")]


def test_binding_to_a_fragment_system_checks_the_system_only(fixture_profiles):
    unlisted_loinc = {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}
    assert found(valid_observation(code=unlisted_loinc), fixture_profiles) == []
    snomed = {"coding": [{"system": "http://snomed.info/sct", "code": "364075005"}]}
    assert found(valid_observation(code=snomed), fixture_profiles) == [
        ("error", "code-invalid", "Observation.code")
    ]


def test_extensible_binding_is_a_warning_and_leaves_the_resource_valid(fixture_profiles):
    widowed = {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "W"}
    patient = valid_patient(maritalStatus={"coding": [widowed]})
    assert found(patient, fixture_profiles) == [
        ("warning", "code-invalid", "Patient.maritalStatus")
    ]
    assert validate(patient, fixture_profiles).valid


@pytest.mark.parametrize(
    "reference",
    [
        {"reference": "Practitioner/p1"},
        {"reference": "Practitioner/p1/_history/2"},
        {"reference": "https://other.example/fhir/Practitioner/p1"},
        {"reference": "#pr"},
        {"reference": "urn:uuid:9f1a3c4e-1111-4222-8333-944455556666", "type": "Practitioner"},
        {"identifier": {"value": "x"}, "type": "Practitioner"},
    ],
)
def test_reference_to_a_type_the_profile_does_not_allow(fixture_profiles, reference):
    patient = valid_patient(managingOrganization=reference)
    patient["contained"] = [{"resourceType": "Practitioner", "id": "pr"}]
    assert found(patient, fixture_profiles) == [
        ("error", "invalid", "Patient.managingOrganization")
    ]


@pytest.mark.parametrize(
    "reference",
    [
        {"reference": "Organization/o1"},
        {"reference": "https://other.example/fhir/Organization/o1"},
        {"reference": "Organization?identifier=http://x|1"},
        {"reference": "#org"},
        {"reference": "urn:uuid:9f1a3c4e-1111-4222-8333-944455556666"},
        {"identifier": {"value": "x"}},
    ],
)
def test_reference_of_an_allowed_or_unknowable_type_is_accepted(fixture_profiles, reference):
    patient = valid_patient(managingOrganization=reference)
    patient["contained"] = [{"resourceType": "Organization", "id": "org", "name": "x"}]
    assert found(patient, fixture_profiles) == []


def test_reference_target_named_by_a_national_profile(fixture_profiles):
    observation = valid_observation(subject="Group/g1")
    assert found(observation, fixture_profiles) == [("error", "invalid", "Observation.subject")]


def test_choice_of_a_type_the_profile_does_not_allow(fixture_profiles):
    observation = valid_observation(valueString="72/min")
    del observation["valueQuantity"]
    assert found(observation, fixture_profiles) == [
        ("error", "structure", "Observation.valueString")
    ]


def test_choice_missing_is_named_without_its_type(fixture_profiles):
    observation = valid_observation()
    del observation["valueQuantity"]
    assert found(observation, fixture_profiles) == [("error", "required", "Observation.value")]


def test_type_slice_of_a_choice_applies_to_that_type(fixture_profiles):
    observation = valid_observation()
    del observation["valueQuantity"]["code"]
    assert found(observation, fixture_profiles) == [
        ("error", "required", "Observation.valueQuantity.code")
    ]


def test_a_declared_profile_applies_with_the_profiles_it_derives_from(fixture_profiles):
    declared = {"profile": ["http://example.org/fhir/StructureDefinition/patient-with-phone"]}
    assert found(valid_patient(meta=declared), fixture_profiles) == [
        ("error", "required", "Patient.telecom")
    ]
    report = validate(valid_patient(meta=declared), fixture_profiles)
    assert report.profiles == [
        "http://fhir.hl7.org.vn/core/StructureDefinition/test-patient",
        "http://example.org/fhir/StructureDefinition/patient-with-phone",
    ]


def test_a_profile_that_is_not_national_applies_only_when_declared(fixture_profiles):
    assert found(valid_patient(), fixture_profiles) == []


def test_an_unknown_declared_profile_is_a_warning(fixture_profiles):
    patient = valid_patient(meta={"profile": ["http://example.org/StructureDefinition/nope"]})
    assert found(patient, fixture_profiles) == [
        ("warning", "not-supported", "Patient.meta.profile[0]")
    ]
    assert validate(patient, fixture_profiles).valid


def test_a_declared_profile_of_another_type_is_an_error(fixture_profiles):
    encounter_profile = "http://fhir.hl7.org.vn/core/StructureDefinition/test-encounter"
    patient = valid_patient(meta={"profile": [encounter_profile]})
    assert found(patient, fixture_profiles) == [("error", "invalid", "Patient.meta.profile[0]")]


def test_issues_come_in_profile_element_then_document_order(fixture_profiles):
    patient = valid_patient(
        meta={"profile": ["http://example.org/StructureDefinition/nope"]},
        name=[{"given": ["A"]}, {"given": ["B"]}],
        address=[{"state": "99", "country": "US"}],
    )
    patient["identifier"][0]["value"] = "123"
    del patient["birthDate"]
    expected = [
        ("warning", "not-supported", "Patient.meta.profile[0]"),
        ("error", "value", "Patient.identifier[0].value"),
        ("error", "required", "Patient.name[0].family"),
        ("error", "required", "Patient.name[1].family"),
        ("error", "required", "Patient.birthDate"),
        ("error", "code-invalid", "Patient.address[0].state"),
        ("error", "value", "Patient.address[0].country"),
    ]
    assert found(patient, fixture_profiles) == expected
    assert found(patient, fixture_profiles) == expected


def test_failing_profiles_name_the_profile_whose_rule_broke(fixture_profiles):
    observation = valid_observation(status="preliminary")
    assert validate(observation, fixture_profiles).failing_profiles() == [
        "http://fhir.hl7.org.vn/core/StructureDefinition/test-observation"
    ]
