"""Bad input gets an OperationOutcome with the right status, never a 500, never a partial write."""

from __future__ import annotations

import orjson
import pytest
from fhir_helpers import link_url, outcome_issue, patient


def _post(client, body: bytes, path: str = "/fhir/Patient", **headers):  # type: ignore[no-untyped-def]
    headers.setdefault("Content-Type", "application/fhir+json")
    return client.post(path, content=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"resourceType": "Patient", ', 400),
        (b"[1, 2, 3]", 400),
        (b'"just a string"', 400),
        (b'{"gender": "male"}', 400),
        (b'{"resourceType": "Observation", "status": "final", "code": {"text": "x"}}', 400),
        (b'{"resourceType": "Patient", "gender": "robot"}', 422),
        (b'{"resourceType": "Patient", "birthDate": "1990-02-30"}', 422),
        (b'{"resourceType": "Patient", "favouriteColour": "blue"}', 422),
        (b'{"resourceType": "Patient", "name": "not-a-list"}', 422),
        (b'{"resourceType": "Patient", "meta": "not-an-object"}', 422),
        (b"\xff\xfe\x00garbage", 400),
    ],
)
def test_malformed_or_invalid_bodies_are_refused_and_nothing_is_written(
    client, store_counts, body, status
):
    before = store_counts()
    response = _post(client, body)
    assert response.status_code == status, response.text
    outcome_issue(response)
    assert store_counts() == before


def test_a_structural_error_names_the_element(client):
    response = client.post("/fhir/Patient", json=patient(name=[{"family": 42}]))
    issue = outcome_issue(response)
    assert response.status_code == 422
    assert issue["expression"] == ["Patient.name[0].family"]


def test_resource_type_different_from_the_url_is_400(client, store_counts):
    response = client.post("/fhir/Observation", json=patient())
    assert response.status_code == 400
    assert outcome_issue(response)["expression"] == ["resourceType"]
    assert store_counts().resources == 0


def test_update_with_an_id_different_from_the_url_is_400(client, store_counts):
    response = client.put("/fhir/Patient/a", json={**patient(), "id": "b"})
    assert response.status_code == 400
    assert outcome_issue(response)["expression"] == ["id"]
    response = client.put("/fhir/Patient/a", json=patient())
    assert response.status_code == 400
    assert store_counts().resources == 0


def test_an_invalid_id_in_the_url_is_400(client):
    response = client.put("/fhir/Patient/has%20space", json={**patient(), "id": "has space"})
    assert response.status_code == 400
    outcome_issue(response)


def test_unknown_resource_type_is_404_on_every_interaction(client):
    for method, path in [
        ("GET", "/fhir/Spaceship"),
        ("POST", "/fhir/Spaceship"),
        ("GET", "/fhir/Spaceship/1"),
        ("PUT", "/fhir/Spaceship/1"),
        ("DELETE", "/fhir/Spaceship/1"),
        ("GET", "/fhir/Spaceship/1/_history"),
    ]:
        response = client.request(method, path, json={"resourceType": "Spaceship", "id": "1"})
        assert response.status_code == 404, (method, path, response.text)
        outcome_issue(response)


def test_invalid_search_prefix_and_values_are_400(client):
    for params in [
        {"birthdate": "xx1990-01-01"},
        {"birthdate": "1990-13-45"},
        {"_count": "many"},
        {"_sort": "-nonsense"},
    ]:
        response = client.get("/fhir/Patient", params=params, headers={"Prefer": "handling=strict"})
        assert response.status_code == 400, (params, response.text)
        outcome_issue(response)


def test_unknown_search_parameter_is_ignored_when_lenient_and_refused_when_strict(client):
    client.post("/fhir/Patient", json=patient())
    lenient = client.get("/fhir/Patient", params={"shoe-size": "42"})
    assert lenient.status_code == 200
    assert "shoe-size" not in link_url(lenient.json(), "self")
    strict = client.get(
        "/fhir/Patient", params={"shoe-size": "42"}, headers={"Prefer": "handling=strict"}
    )
    assert strict.status_code == 400
    assert "shoe-size" in outcome_issue(strict)["diagnostics"]


def test_a_body_over_the_size_limit_is_413(client, store_counts):
    services = client.app.state.services
    limit = services.settings.max_body_bytes
    big = patient(text={"status": "generated", "div": "<div>" + "x" * (limit + 10) + "</div>"})
    response = client.post(
        "/fhir/Patient",
        content=orjson.dumps(big),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 413
    outcome_issue(response)
    assert store_counts().resources == 0


def test_deeply_nested_json_is_400_not_a_crash(client, store_counts):
    depth = 5000
    body = b'{"resourceType": "Patient", "extension": ' + b"[" * depth + b"]" * depth + b"}"
    response = _post(client, body)
    assert response.status_code == 400
    outcome_issue(response)
    nested = {"resourceType": "Patient"}
    node = nested
    for _ in range(100):
        node["contained"] = [{"resourceType": "Patient"}]
        node = node["contained"][0]
    response = _post(client, orjson.dumps(nested))
    assert response.status_code == 400
    assert store_counts().resources == 0


def test_unsupported_content_type_is_415(client):
    response = client.post(
        "/fhir/Patient", content=b"<Patient/>", headers={"Content-Type": "application/fhir+xml"}
    )
    assert response.status_code == 415
    outcome_issue(response)


def test_wrong_method_is_405_and_unknown_path_is_404(client):
    response = client.delete("/fhir/Patient/1/_history/1")
    assert response.status_code in (404, 405)
    outcome_issue(response)
    response = client.get("/not-here")
    assert response.status_code == 404
    outcome_issue(response)


def test_references_to_missing_resources_are_422_and_nothing_is_written(client, store_counts):
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "mạch"},
        "subject": {"reference": "Patient/does-not-exist"},
    }
    response = client.post("/fhir/Observation", json=observation)
    assert response.status_code == 422
    assert outcome_issue(response)["expression"] == ["Observation.subject"]
    assert store_counts().resources == 0
