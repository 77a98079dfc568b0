"""The reject policy: a write failing a profile is a 422 with every issue, and writes nothing."""

from __future__ import annotations

import pytest
from profile_examples import outcome_of, valid_observation, valid_patient

from ehr.profiles.participant import NOT_EXCHANGEABLE


@pytest.fixture
def profile_policy() -> str:
    return "accept-and-flag; reject:test-patient"


def test_a_write_failing_a_rejecting_profile_is_422_with_every_issue(
    client, store_counts, fixture_profiles
):
    invalid = valid_patient(name=[{"given": ["An"]}], address=[{"state": "99"}])
    before = store_counts()
    response = client.post("/fhir/Patient", json=invalid)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json() == outcome_of(invalid, fixture_profiles)
    assert [(i["severity"], i["code"], i["expression"]) for i in response.json()["issue"]] == [
        ("error", "required", ["Patient.name[0].family"]),
        ("error", "code-invalid", ["Patient.address[0].state"]),
    ]
    assert store_counts() == before


def test_an_update_failing_a_rejecting_profile_leaves_the_current_version(client, store_counts):
    created = client.post("/fhir/Patient", json=valid_patient()).json()
    before = store_counts()
    broken = {**created, "address": [{"state": "99"}]}
    assert client.put(f"/fhir/Patient/{created['id']}", json=broken).status_code == 422
    assert store_counts() == before
    assert client.get(f"/fhir/Patient/{created['id']}").json()["meta"]["versionId"] == "1"


def test_a_transaction_with_one_rejected_entry_writes_nothing(client, store_counts):
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": valid_patient(), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": valid_patient(address=[{"state": "99"}]),
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    before = store_counts()
    assert client.post("/fhir", json=bundle).status_code == 422
    assert store_counts() == before


def test_profiles_not_named_for_reject_still_accept_and_flag(client):
    patient = client.post("/fhir/Patient", json=valid_patient()).json()
    invalid = valid_observation(subject=f"Patient/{patient['id']}", status="preliminary")
    response = client.post("/fhir/Observation", json=invalid)
    assert response.status_code == 201, response.text
    assert NOT_EXCHANGEABLE in response.json()["meta"]["tag"]


def test_a_valid_write_passes_the_reject_policy(client):
    response = client.post("/fhir/Patient", json=valid_patient())
    assert response.status_code == 201, response.text
    assert "tag" not in response.json()["meta"]


def test_an_error_of_no_profile_falls_under_the_default_action(client):
    encounter_profile = "http://fhir.hl7.org.vn/core/StructureDefinition/test-encounter"
    patient = valid_patient(meta={"profile": [encounter_profile]})
    response = client.post("/fhir/Patient", json=patient)
    assert response.status_code == 201, response.text  # the default here is accept-and-flag
    assert NOT_EXCHANGEABLE in response.json()["meta"]["tag"]
