"""The CapabilityStatement is generated from what is registered, and lists what works."""

from __future__ import annotations

from ehr.interactions.router import ROUTES


def test_metadata_lists_the_routed_interactions_for_every_supported_type(client):
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    rest = statement["rest"][0]
    types = {r["type"]: r for r in rest["resource"]}
    registry = client.app.state.services.registry
    assert set(types) == set(registry.resource_types())
    assert {"Patient", "Encounter", "Observation", "Condition"} <= set(types)
    routed = {route.interaction for route in ROUTES}
    for code in (i["code"] for i in types["Patient"]["interaction"]):
        assert code in routed
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch", "history-system"}


def test_metadata_search_parameters_are_the_registry(client):
    statement = client.get("/fhir/metadata").json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    names = {p["name"] for p in patient["searchParam"]}
    registry = client.app.state.services.registry
    assert set(registry.params_for("Patient")) <= names
    assert {"identifier", "name", "birthdate", "gender", "_id", "_lastUpdated"} <= names
    assert "Patient:general-practitioner" in patient["searchInclude"]
    assert "Encounter:subject" in patient["searchRevInclude"]


def test_metadata_is_public_and_points_at_the_token_endpoint(anonymous_client):
    statement = anonymous_client.get("/fhir/metadata").json()
    security = statement["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    token_url = security["extension"][0]["extension"][0]["valueUri"]
    assert token_url == "http://testserver/auth/token"


def test_operations_are_listed_on_the_types_they_serve(client):
    statement = client.get("/fhir/metadata").json()
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    validate = {
        "name": "validate",
        "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
    }
    match = {"name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match"}
    patient_operations = by_type["Patient"]["operation"]
    assert patient_operations.count(match) == 1
    everything = {
        "name": "everything",
        "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
    }
    assert patient_operations.count(everything) == 1
    assert patient_operations.count(validate) == 1  # routed at type and instance level, listed once
    assert by_type["Observation"]["operation"] == [validate]


def test_unsupported_types_are_not_listed(client):
    statement = client.get("/fhir/metadata").json()
    types = {r["type"] for r in statement["rest"][0]["resource"]}
    assert "Spaceship" not in types
    assert client.get("/fhir/Spaceship").status_code == 404
