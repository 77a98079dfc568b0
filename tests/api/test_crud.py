"""The RESTful interactions on one resource: create, read, vread, update, patch, delete."""

from __future__ import annotations

import base64

import orjson
from fastapi.testclient import TestClient
from fhir_helpers import FHIR_JSON, link_url, outcome_issue, patient


def _create(client: TestClient, resource: dict | None = None) -> dict:
    response = client.post("/fhir/Patient", json=resource or patient())
    assert response.status_code == 201, response.text
    return response.json()


def test_create_assigns_id_and_version_and_answers_location_etag_last_modified(client):
    body = {**patient(), "id": "client-chosen"}
    response = client.post("/fhir/Patient", json=body)
    assert response.status_code == 201
    created = response.json()
    assert created["id"] != "client-chosen"
    assert created["meta"]["versionId"] == "1"
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"] == (
        f"http://testserver/fhir/Patient/{created['id']}/_history/1"
    )
    assert response.headers["Last-Modified"].endswith("GMT")
    assert response.headers["content-type"].startswith(FHIR_JSON)


def test_read_returns_the_stored_bytes_exactly(client):
    created = client.post("/fhir/Patient", json=patient())
    read = client.get(f"/fhir/Patient/{created.json()['id']}")
    assert read.status_code == 200
    assert read.content == created.content
    assert read.headers["ETag"] == 'W/"1"'


def test_read_of_unknown_id_is_404_and_unknown_type_is_404(client):
    assert outcome_issue(client.get("/fhir/Patient/nope"))["code"] == "not-found"
    response = client.get("/fhir/NotAType/1")
    assert response.status_code == 404
    outcome_issue(response)


def test_update_makes_a_new_version_and_vread_serves_each_version(client):
    created = _create(client)
    changed = {**created, "gender": "female"}
    response = client.put(f"/fhir/Patient/{created['id']}", json=changed)
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"
    v1 = client.get(f"/fhir/Patient/{created['id']}/_history/1").json()
    v2 = client.get(f"/fhir/Patient/{created['id']}/_history/2").json()
    assert (v1["gender"], v2["gender"]) == ("male", "female")
    assert client.get(f"/fhir/Patient/{created['id']}/_history/3").status_code == 404


def test_an_update_that_says_nothing_new_stores_no_version(client):
    """The same resource again (its version stamps aside, whatever the client sent in
    them) answers the current version: no new version in the history, the same bytes."""
    created = _create(client)
    url = f"/fhir/Patient/{created['id']}"
    echoed = {
        **created,
        "meta": {**created["meta"], "versionId": "7", "lastUpdated": "2020-01-01T00:00:00Z"},
    }
    for body in (created, echoed, {k: v for k, v in created.items() if k != "meta"}):
        again = client.put(url, json=body, headers={"If-Match": 'W/"1"'})
        assert again.status_code == 200, again.text
        assert again.headers["ETag"] == 'W/"1"'
        assert again.content == client.get(url).content
    assert len(client.get(f"{url}/_history").json()["entry"]) == 1
    changed = client.put(url, json={**created, "active": False})
    assert changed.headers["ETag"] == 'W/"2"'
    assert len(client.get(f"{url}/_history").json()["entry"]) == 2


def test_an_update_that_says_nothing_new_checks_no_references(client):
    """Sent again as stored, a resource whose reference target was deleted since is still
    the current version (nothing is stored, nothing new refers anywhere); changed, it is
    a new version whose references must resolve."""
    subject = _create(client)
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "mạch"},
        "subject": {"reference": f"Patient/{subject['id']}"},
    }
    stored = client.post("/fhir/Observation", json=observation).json()
    assert client.delete(f"/fhir/Patient/{subject['id']}").status_code in (200, 204)
    url = f"/fhir/Observation/{stored['id']}"
    again = client.put(url, json=stored)
    assert again.status_code == 200, again.text
    assert again.headers["ETag"] == 'W/"1"'
    changed = client.put(url, json={**stored, "status": "amended"})
    assert changed.status_code == 422
    assert outcome_issue(changed)["expression"] == ["Observation.subject"]
    assert client.get(url).json()["status"] == "final"


def test_update_as_create_uses_the_client_id_and_answers_201(client):
    response = client.put("/fhir/Patient/bn-cho-ray-42", json={**patient(), "id": "bn-cho-ray-42"})
    assert response.status_code == 201
    assert client.get("/fhir/Patient/bn-cho-ray-42").json()["id"] == "bn-cho-ray-42"


def test_if_match_with_stale_version_is_412_and_changes_nothing(client):
    created = _create(client)
    url = f"/fhir/Patient/{created['id']}"
    changed = {**created, "gender": "female"}
    assert client.put(url, json=changed, headers={"If-Match": 'W/"1"'}).status_code == 200
    stale = client.put(url, json={**created, "gender": "other"}, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    outcome_issue(stale)
    assert client.get(url).json()["gender"] == "female"


def test_if_match_that_is_not_an_etag_is_400(client):
    created = _create(client)
    response = client.put(
        f"/fhir/Patient/{created['id']}", json=created, headers={"If-Match": "yesterday"}
    )
    assert response.status_code == 400


def test_json_patch_applies_and_versions(client):
    created = _create(client)
    ops = [{"op": "replace", "path": "/gender", "value": "female"}]
    response = client.patch(
        f"/fhir/Patient/{created['id']}",
        content=orjson.dumps(ops),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["gender"] == "female"
    assert response.json()["meta"]["versionId"] == "2"


def test_patch_that_breaks_the_resource_is_422_and_stores_nothing(client):
    created = _create(client)
    ops = [{"op": "replace", "path": "/gender", "value": "robot"}]
    response = client.patch(
        f"/fhir/Patient/{created['id']}",
        content=orjson.dumps(ops),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 422
    assert outcome_issue(response)["expression"] == ["Patient.gender"]
    assert client.get(f"/fhir/Patient/{created['id']}").json()["meta"]["versionId"] == "1"


def test_patch_that_cannot_apply_is_422_and_a_malformed_patch_is_400(client):
    created = _create(client)
    url = f"/fhir/Patient/{created['id']}"
    headers = {"Content-Type": "application/json-patch+json"}
    missing = [{"op": "remove", "path": "/telecom"}]
    assert client.patch(url, content=orjson.dumps(missing), headers=headers).status_code == 422
    assert client.patch(url, content=b'{"op": "x"}', headers=headers).status_code == 400


def test_delete_is_soft_and_idempotent_and_read_after_delete_is_410(client):
    created = _create(client)
    url = f"/fhir/Patient/{created['id']}"
    assert client.delete(url).status_code == 204
    assert client.delete(url).status_code == 204
    gone = client.get(url)
    assert gone.status_code == 410
    assert outcome_issue(gone)["code"] == "deleted"
    assert client.get(f"{url}/_history/1").status_code == 200
    assert client.get(f"{url}/_history/2").status_code == 410


def test_history_lists_every_version_newest_first_with_the_delete(client):
    created = _create(client)
    url = f"/fhir/Patient/{created['id']}"
    client.put(url, json={**created, "gender": "female"})
    client.delete(url)
    history = client.get(f"{url}/_history").json()
    assert history["type"] == "history"
    methods = [entry["request"]["method"] for entry in history["entry"]]
    assert methods == ["DELETE", "PUT", "POST"]
    assert "resource" not in history["entry"][0]
    assert history["entry"][1]["resource"]["gender"] == "female"


def test_type_and_system_history_page_with_next_links(client):
    for _ in range(5):
        _create(client)
    client.post("/fhir/Organization", json={"resourceType": "Organization", "name": "BV Bạch Mai"})
    page = client.get("/fhir/Patient/_history", params={"_count": 2}).json()
    seen = [e["resource"]["id"] for e in page["entry"]]
    while next_link := link_url(page, "next"):
        page = client.get(next_link).json()
        seen += [e["resource"]["id"] for e in page["entry"]]
    assert len(seen) == len(set(seen)) == 5
    system = client.get("/fhir/_history", params={"_count": 50}).json()
    types = {e["resource"]["resourceType"] for e in system["entry"]}
    assert types == {"Patient", "Organization", "AuditEvent"}  # writing patients is audited


def test_prefer_return_minimal_and_operation_outcome(client):
    minimal = client.post("/fhir/Patient", json=patient(), headers={"Prefer": "return=minimal"})
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert minimal.headers["Location"]
    outcome = client.post(
        "/fhir/Patient", json=patient(), headers={"Prefer": "return=OperationOutcome"}
    )
    assert outcome.json()["resourceType"] == "OperationOutcome"


def test_conditional_read_answers_304_when_unchanged(client):
    created = _create(client)
    url = f"/fhir/Patient/{created['id']}"
    assert client.get(url, headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert client.get(url, headers={"If-None-Match": 'W/"2"'}).status_code == 200


def test_elements_and_summary_return_a_tagged_subset(client):
    created = _create(client, patient(telecom=[{"system": "phone", "value": "0901234567"}]))
    url = f"/fhir/Patient/{created['id']}"
    subset = client.get(url, params={"_elements": "gender"}).json()
    assert subset["gender"] == "male"
    assert "name" not in subset and "telecom" not in subset
    assert any(t["code"] == "SUBSETTED" for t in subset["meta"]["tag"])
    data = client.get(url, params={"_summary": "data"}).json()
    assert data["telecom"] and "text" not in data
    assert client.get(url, params={"_summary": "bogus"}).status_code == 400


def test_format_json_is_served_and_xml_is_refused_with_406(client):
    created = _create(client)
    url = f"/fhir/Patient/{created['id']}"
    assert client.get(url, params={"_format": "json"}).status_code == 200
    refused = client.get(url, params={"_format": "xml"})
    assert refused.status_code == 406
    outcome_issue(refused)
    assert client.get(url, headers={"Accept": "application/fhir+xml"}).status_code == 406


def test_pretty_output_is_the_same_resource(client):
    created = _create(client)
    pretty = client.get(f"/fhir/Patient/{created['id']}", params={"_pretty": "true"})
    assert b"\n  " in pretty.content
    assert pretty.json() == created


def test_binary_content_survives_a_round_trip(client):
    data = base64.b64encode("Kết quả xét nghiệm".encode()).decode()
    body = {"resourceType": "Binary", "contentType": "text/plain", "data": data}
    created = client.post("/fhir/Binary", json=body).json()
    assert client.get(f"/fhir/Binary/{created['id']}").json()["data"] == data
