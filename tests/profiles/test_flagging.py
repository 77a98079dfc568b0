"""accept-and-flag (the default): a write failing a profile is stored, tagged and flagged;
a corrected version clears both. On SQLite and PostgreSQL."""

from __future__ import annotations

import orjson
from profile_examples import outcome_of, valid_observation, valid_patient
from sqlalchemy import select

from ehr.db.schema import ProfileFlag
from ehr.profiles.participant import NOT_EXCHANGEABLE

TAG = f"{NOT_EXCHANGEABLE['system']}|{NOT_EXCHANGEABLE['code']}"


def _flags(app) -> list[tuple[str, str, int, str, dict]]:  # type: ignore[no-untyped-def]
    with app.state.services.engine.connect() as connection:
        rows = connection.execute(select(ProfileFlag.__table__)).all()  # type: ignore[attr-defined]
    return [(r.res_type, r.res_id, r.version, r.profiles, orjson.loads(r.outcome)) for r in rows]


def _tagged(client) -> set[str]:  # type: ignore[no-untyped-def]
    bundle = client.get("/fhir/Patient", params={"_tag": TAG}).json()
    return {e["resource"]["id"] for e in bundle.get("entry", [])}


def test_a_failing_write_is_stored_tagged_and_flagged_with_its_issues(
    app, client, fixture_profiles
):
    invalid = valid_patient()
    del invalid["address"]
    response = client.post("/fhir/Patient", json=invalid)
    assert response.status_code == 201, response.text
    created = response.json()
    assert NOT_EXCHANGEABLE in created["meta"]["tag"]
    assert client.get(f"/fhir/Patient/{created['id']}").json()["meta"]["tag"] == [NOT_EXCHANGEABLE]
    expected = outcome_of(invalid, fixture_profiles)
    assert expected["issue"] == [
        {
            "severity": "error",
            "code": "required",
            "diagnostics": expected["issue"][0]["diagnostics"],
            "expression": ["Patient.address"],
        }
    ]
    assert _flags(app) == [
        (
            "Patient",
            created["id"],
            1,
            "http://fhir.hl7.org.vn/core/StructureDefinition/test-patient",
            expected,
        )
    ]
    assert _tagged(client) == {created["id"]}


def test_a_corrected_version_clears_the_tag_and_the_flag(app, client):
    invalid = valid_patient()
    del invalid["address"]
    created = client.post("/fhir/Patient", json=invalid).json()
    still_invalid = {**created, "birthDate": "1990-05-18"}
    client.put(f"/fhir/Patient/{created['id']}", json=still_invalid).raise_for_status()
    assert [(t, v) for t, _, v, _, _ in _flags(app)] == [("Patient", 2)]

    corrected = {**created, "address": valid_patient()["address"]}  # still carries the tag
    response = client.put(f"/fhir/Patient/{created['id']}", json=corrected)
    assert response.status_code == 200, response.text
    assert "tag" not in response.json()["meta"]
    assert _flags(app) == []
    assert _tagged(client) == set()


def test_a_client_cannot_set_the_status_tag_on_a_valid_record(app, client):
    patient = valid_patient(meta={"tag": [NOT_EXCHANGEABLE, {"system": "urn:x", "code": "y"}]})
    created = client.post("/fhir/Patient", json=patient).json()
    assert created["meta"]["tag"] == [{"system": "urn:x", "code": "y"}]
    assert _flags(app) == []


def test_a_client_cannot_set_the_status_tag_on_a_type_without_a_profile(app, client):
    practitioner = {"resourceType": "Practitioner", "meta": {"tag": [NOT_EXCHANGEABLE]}}
    created = client.post("/fhir/Practitioner", json=practitioner).json()
    assert "tag" not in created["meta"]


def test_deleting_a_flagged_record_removes_its_flag(app, client):
    invalid = valid_patient()
    del invalid["birthDate"]
    created = client.post("/fhir/Patient", json=invalid).json()
    assert len(_flags(app)) == 1
    assert client.delete(f"/fhir/Patient/{created['id']}").status_code in (200, 204)
    assert _flags(app) == []


def test_warnings_alone_do_not_flag(app, client):
    widowed = {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "W"}
    created = client.post(
        "/fhir/Patient", json=valid_patient(maritalStatus={"coding": [widowed]})
    ).json()
    assert "tag" not in created["meta"]
    assert _flags(app) == []


def test_every_entry_of_a_transaction_is_validated(app, client):
    observation = valid_observation(subject="urn:uuid:11111111-2222-4333-8444-555555555555")
    observation["status"] = "preliminary"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:11111111-2222-4333-8444-555555555555",
                "resource": valid_patient(),
                "request": {"method": "POST", "url": "Patient"},
            },
            {"resource": observation, "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    response = client.post("/fhir", json=bundle)
    assert response.status_code == 200, response.text
    assert [(t, v) for t, _, v, _, _ in _flags(app)] == [("Observation", 1)]
