"""Conditional create, update and delete; and the race that every big FHIR server lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import httpx
from fhir_helpers import count_of, outcome_issue, patient

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"


def _with_id(number: str) -> dict:
    return patient(identifier=[{"system": CCCD, "value": number}])


def test_if_none_exist_creates_once_then_returns_the_match(client):
    headers = {"If-None-Exist": f"identifier={CCCD}|001090000001"}
    first = client.post("/fhir/Patient", json=_with_id("001090000001"), headers=headers)
    second = client.post("/fhir/Patient", json=_with_id("001090000001"), headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert count_of(client, "Patient") == 1


def test_if_none_exist_matching_several_is_412(client):
    client.post("/fhir/Patient", json=patient(family="Trần"))
    client.post("/fhir/Patient", json=patient(family="Trần"))
    response = client.post(
        "/fhir/Patient",
        json=patient(family="Trần"),
        headers={"If-None-Exist": "family=" + quote("Trần")},  # headers are ASCII: percent-encode
    )
    assert response.status_code == 412
    outcome_issue(response)


def test_conditional_update_creates_updates_and_refuses_ambiguity(client):
    url = f"/fhir/Patient?identifier={CCCD}|079190000002"
    created = client.put(url, json=_with_id("079190000002"))
    assert created.status_code == 201
    updated = client.put(url, json={**_with_id("079190000002"), "gender": "female"})
    assert updated.status_code == 200
    assert updated.json()["id"] == created.json()["id"]
    assert updated.json()["meta"]["versionId"] == "2"
    client.post("/fhir/Patient", json=_with_id("079190000002"))
    assert client.put(url, json=_with_id("079190000002")).status_code == 412


def test_conditional_delete_removes_the_single_match(client):
    created = client.post("/fhir/Patient", json=_with_id("001090000003")).json()
    response = client.delete(f"/fhir/Patient?identifier={CCCD}|001090000003")
    assert response.status_code in (200, 204)
    assert client.get(f"/fhir/Patient/{created['id']}").status_code == 410


def test_conditional_write_without_criteria_is_400(client):
    response = client.put("/fhir/Patient", json=patient())
    assert response.status_code == 400
    outcome_issue(response)


def test_twenty_concurrent_conditional_creates_make_exactly_one_resource(live_server):
    body = _with_id("001090000042")
    headers = {"If-None-Exist": f"identifier={CCCD}|001090000042"}

    def push(_: int) -> tuple[int, str]:
        response = httpx.post(
            f"{live_server.base_url}/Patient",
            json=body,
            headers={**headers, **live_server.headers},
            timeout=60,
        )
        return response.status_code, response.json().get("id", "")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(push, range(20)))
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1, statuses
    assert set(statuses) <= {200, 201}, statuses
    assert len({resource_id for _, resource_id in results}) == 1
    found = httpx.get(
        f"{live_server.base_url}/Patient",
        params={"identifier": f"{CCCD}|001090000042", "_total": "accurate"},
        headers=live_server.headers,
    ).json()
    assert found["total"] == 1
