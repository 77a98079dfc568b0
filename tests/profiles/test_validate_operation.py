"""$validate (https://hl7.org/fhir/R4/resource-operation-validate.html): 200 with an
OperationOutcome, nothing written. On SQLite and PostgreSQL."""

from __future__ import annotations

from app_fixtures import index_pending_audit
from fhir_helpers import outcome_issue
from profile_examples import outcome_of, valid_patient
from sqlalchemy import func, select

from ehr.db.schema import Resource, ResourceVersion

PATIENT_PROFILE = "http://fhir.hl7.org.vn/core/StructureDefinition/test-patient"
PHONE_PROFILE = "http://example.org/fhir/StructureDefinition/patient-with-phone"


def _parameters(*parameters: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": list(parameters)}


def _audit_events(app) -> int:  # type: ignore[no-untyped-def]
    index_pending_audit(app)
    with app.state.services.engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(Resource).where(Resource.res_type == "AuditEvent")
        ).scalar_one()


def _records(app) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Resources and versions other than AuditEvents (a read is audited, by design)."""
    with app.state.services.engine.connect() as connection:
        resources = connection.execute(
            select(func.count()).select_from(Resource).where(Resource.res_type != "AuditEvent")
        ).scalar_one()
        versions = connection.execute(
            select(func.count())
            .select_from(ResourceVersion)
            .where(ResourceVersion.res_type != "AuditEvent")
        ).scalar_one()
    return resources, versions


def test_a_valid_resource_gives_one_information_issue(client, store_counts):
    before = store_counts()
    response = client.post("/fhir/Patient/$validate", json=valid_patient())
    assert response.status_code == 200, response.text
    assert response.json() == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "information",
                "code": "informational",
                "diagnostics": f"valid against {PATIENT_PROFILE}",
            }
        ],
    }
    assert store_counts() == before


def test_an_invalid_resource_gives_its_issues_and_writes_nothing(
    client, store_counts, fixture_profiles
):
    invalid = valid_patient(address=[{"state": "99"}])
    before = store_counts()
    response = client.post("/fhir/Patient/$validate", json=invalid)
    assert response.status_code == 200, response.text
    assert response.json() == outcome_of(invalid, fixture_profiles)
    assert [(i["severity"], i["code"], i["expression"]) for i in response.json()["issue"]] == [
        ("error", "code-invalid", ["Patient.address[0].state"])
    ]
    assert store_counts() == before


def test_parameters_with_a_nominated_profile(client, store_counts):
    body = _parameters(
        {"name": "resource", "resource": valid_patient()},
        {"name": "profile", "valueUri": PHONE_PROFILE},
        {"name": "mode", "valueCode": "create"},
    )
    before = store_counts()
    response = client.post("/fhir/Patient/$validate", json=body)
    assert response.status_code == 200, response.text
    issues = response.json()["issue"]
    assert [(i["severity"], i["code"], i["expression"]) for i in issues] == [
        ("error", "required", ["Patient.telecom"])
    ]
    assert store_counts() == before


def test_a_profile_nominated_in_the_url(client):
    response = client.post(
        "/fhir/Patient/$validate", params={"profile": PHONE_PROFILE}, json=valid_patient()
    )
    assert [i["expression"] for i in response.json()["issue"]] == [["Patient.telecom"]]


def test_an_unknown_nominated_profile_cannot_be_validated_against(client, store_counts):
    before = store_counts()
    body = _parameters(
        {"name": "resource", "resource": valid_patient()},
        {"name": "profile", "valueUri": "http://example.org/StructureDefinition/unknown"},
    )
    response = client.post("/fhir/Patient/$validate", json=body)
    assert response.status_code == 400
    assert outcome_issue(response)["code"] == "not-supported"
    assert store_counts() == before


def test_an_unknown_declared_profile_is_a_warning(client):
    patient = valid_patient(meta={"profile": ["http://example.org/StructureDefinition/unknown"]})
    response = client.post("/fhir/Patient/$validate", json=patient)
    assert response.status_code == 200
    assert [(i["severity"], i["code"], i["expression"]) for i in response.json()["issue"]] == [
        ("warning", "not-supported", ["Patient.meta.profile[0]"])
    ]


def test_model_failures_are_issues_not_errors(client, store_counts):
    before = store_counts()
    response = client.post(
        "/fhir/Patient/$validate", json=valid_patient(birthDate="17/05/1990", gender="man")
    )
    assert response.status_code == 200, response.text
    found = [(i["severity"], i["code"], i["expression"]) for i in response.json()["issue"]]
    assert ("error", "value", ["Patient.birthDate"]) in found
    assert store_counts() == before


def test_malformed_input_is_a_400(client, store_counts):
    before = store_counts()
    cases = [
        client.post("/fhir/Patient/$validate"),
        client.post(
            "/fhir/Patient/$validate",
            content=b"{not json",
            headers={"Content-Type": "application/fhir+json"},
        ),
        client.post("/fhir/Patient/$validate", json=[1, 2]),
        client.post("/fhir/Patient/$validate", json={"resourceType": "Observation"}),
        client.post("/fhir/Patient/$validate", json={"resourceType": "Spaceship"}),
        client.post("/fhir/Patient/$validate", json=_parameters()),
        client.post("/fhir/Patient/$validate", json=_parameters({"name": "color"})),
        client.post(
            "/fhir/Patient/$validate",
            json=_parameters(
                {"name": "resource", "resource": valid_patient()},
                {"name": "mode", "valueCode": "destroy"},
            ),
        ),
        client.post("/fhir/Patient/$validate", json={"resourceType": "Parameters", "parameter": 1}),
        client.post("/fhir/Patient/$validate", params={"mode": "destroy"}, json=valid_patient()),
        client.post("/fhir/Patient/$validate", params={"colour": "red"}, json=valid_patient()),
    ]
    for response in cases:
        assert response.status_code == 400, response.text
        assert outcome_issue(response)["severity"] == "error"
    assert store_counts() == before


def test_update_mode_needs_the_id_of_the_url(client):
    response = client.post("/fhir/Patient/abc/$validate", json=valid_patient(id="xyz"))
    assert [(i["code"], i["expression"]) for i in response.json()["issue"]] == [
        ("invalid", ["Patient.id"])
    ]
    response = client.post("/fhir/Patient/abc/$validate", json=valid_patient(id="abc"))
    assert response.json()["issue"][0]["severity"] == "information"


def test_the_stored_version_shows_why_it_is_flagged(app, client, token_for, fixture_profiles):
    facility = token_for("facility", facility="01001")
    invalid = valid_patient()
    del invalid["birthDate"]
    created = client.post("/fhir/Patient", json=invalid, headers=facility).json()
    before, events = _records(app), _audit_events(app)
    response = client.get(f"/fhir/Patient/{created['id']}/$validate", headers=facility)
    assert response.status_code == 200, response.text
    assert response.json() == outcome_of(created, fixture_profiles)
    assert [(i["code"], i["expression"]) for i in response.json()["issue"]] == [
        ("required", ["Patient.birthDate"])
    ]
    assert _records(app) == before
    assert _audit_events(app) == events + 1  # the read of the stored record is audited


def test_validating_a_stored_record_follows_the_access_rules(client, token_for):
    created = client.post("/fhir/Patient", json=valid_patient()).json()
    url = f"/fhir/Patient/{created['id']}/$validate"
    stranger = token_for("facility", facility="79002")
    assert client.get(url, headers=stranger).status_code == 403
    assert client.get(url, headers=token_for("ministry")).status_code == 403
    assert client.get("/fhir/Patient/nobody/$validate").status_code == 404


def test_the_ministry_may_not_validate_person_data(client, token_for, store_counts):
    response = client.post(
        "/fhir/Patient/$validate", json=valid_patient(), headers=token_for("ministry")
    )
    assert response.status_code == 403


def test_a_deleted_record_is_gone(client):
    created = client.post("/fhir/Patient", json=valid_patient()).json()
    client.delete(f"/fhir/Patient/{created['id']}")
    assert client.get(f"/fhir/Patient/{created['id']}/$validate").status_code == 410
