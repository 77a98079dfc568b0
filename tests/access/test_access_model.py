"""PRODUCT.md section 5 end to end: who may read and write what; every access audited."""

from __future__ import annotations

import base64

import pytest
from app_fixtures import index_pending_audit
from fhir_helpers import encounter, heart_rate, outcome_issue, patient
from sqlalchemy import select

from ehr.db.schema import Resource

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
A, B = "79001", "01002"


def _audit_events(app) -> list[dict]:  # type: ignore[no-untyped-def]
    import orjson

    index_pending_audit(app)
    with app.state.services.engine.connect() as connection:
        rows = connection.execute(
            select(Resource.content).where(Resource.res_type == "AuditEvent").order_by(Resource.rid)
        )
        return [orjson.loads(row.content) for row in rows]


@pytest.fixture
def world(client, token_for):  # type: ignore[no-untyped-def]
    """Facility A treats patient pa (CCCD 079190000001), facility B treats pb.

    Each facility Patient is linked to its golden person (ga, gb), which its facility sees.
    """
    a, b = token_for("facility", facility=A), token_for("facility", facility=B)
    made: dict = {"a": a, "b": b}
    for who, token, number in (("a", a, "079190000001"), ("b", b, "001085000002")):
        body = patient(identifier=[{"system": CCCD, "value": number}])
        p = client.post("/fhir/Patient", json=body, headers=token).json()
        ref = f"Patient/{p['id']}"
        e = client.post("/fhir/Encounter", json=encounter(ref), headers=token).json()
        o = client.post("/fhir/Observation", json=heart_rate(ref), headers=token).json()
        made[f"p{who}"], made[f"e{who}"], made[f"o{who}"] = p["id"], e["id"], o["id"]
        golden = next(link for link in p["link"] if link["type"] == "refer")
        made[f"g{who}"] = golden["other"]["reference"].removeprefix("Patient/")
    return made


def _ids(response) -> set[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return {entry["resource"]["id"] for entry in response.json().get("entry", [])}


def test_no_token_is_401_with_www_authenticate(anonymous_client):
    response = anonymous_client.get("/fhir/Patient")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    outcome_issue(response)
    assert anonymous_client.get("/fhir/metadata").status_code == 200


def test_a_facility_reads_only_persons_it_treats(client, world):
    a = world["a"]
    assert client.get(f"/fhir/Patient/{world['pa']}", headers=a).status_code == 200
    denied = client.get(f"/fhir/Patient/{world['pb']}", headers=a)
    assert denied.status_code == 403
    assert "X-Break-Glass-Reason" in outcome_issue(denied)["diagnostics"]
    assert client.get(f"/fhir/Observation/{world['ob']}", headers=a).status_code == 403
    assert _ids(client.get("/fhir/Patient", headers=a)) == {world["pa"], world["ga"]}
    assert _ids(client.get("/fhir/Observation", headers=a)) == {world["oa"]}
    assert client.get(f"/fhir/Patient/{world['gb']}", headers=a).status_code == 403
    assert _ids(client.get(f"/fhir/Observation?subject=Patient/{world['pb']}", headers=a)) == set()


def test_includes_chains_and_totals_never_reveal_another_facilitys_person(client, world):
    a = world["a"]
    included = client.get("/fhir/Encounter", params={"_include": "Encounter:subject"}, headers=a)
    assert _ids(included) == {world["ea"], world["pa"]}
    assert included.json()["total"] == 1
    rev = client.get("/fhir/Patient", params={"_revinclude": "Observation:subject"}, headers=a)
    assert _ids(rev) == {world["pa"], world["ga"], world["oa"]}
    assert rev.json()["total"] == 2
    chained = client.get(
        "/fhir/Observation", params={"subject:Patient.identifier": "001085000002"}, headers=a
    )
    assert _ids(chained) == set()
    counted = client.get("/fhir/Observation", params={"_summary": "count"}, headers=a).json()
    assert counted["total"] == 1


def test_history_of_another_facilitys_person_is_refused_and_filtered(client, world):
    a = world["a"]
    assert client.get(f"/fhir/Patient/{world['pb']}/_history", headers=a).status_code == 403
    assert client.get(f"/fhir/Patient/{world['pb']}/_history/1", headers=a).status_code == 403
    system = client.get("/fhir/_history", params={"_count": 100}, headers=a).json()
    seen = {e["resource"]["id"] for e in system.get("entry", []) if "resource" in e}
    assert not seen & {world["pb"], world["eb"], world["ob"]}
    assert {world["pa"], world["ea"], world["oa"]} <= seen


def test_a_facility_cannot_change_another_facilitys_record(client, world):
    observation = client.get(f"/fhir/Observation/{world['ob']}", headers=world["b"]).json()
    assert observation["meta"]["source"] == f"urn:ehr:facility:{B}"
    response = client.put(f"/fhir/Observation/{world['ob']}", json=observation, headers=world["a"])
    assert response.status_code == 403
    assert client.delete(f"/fhir/Observation/{world['ob']}", headers=world["a"]).status_code == 403


def test_what_a_facility_writes_names_it_whatever_the_client_said(client, world, token_for):
    spoofed = {**patient(), "meta": {"source": f"urn:ehr:facility:{B}"}}
    created = client.post("/fhir/Patient", json=spoofed, headers=world["a"]).json()
    assert created["meta"]["source"] == f"urn:ehr:facility:{A}"


def test_the_ministry_sees_no_person_level_data(client, world, token_for):
    ministry = token_for("ministry")
    for path in (
        "/fhir/Patient",
        "/fhir/Observation",
        "/fhir/Encounter",
        "/fhir/AuditEvent",
        f"/fhir/Patient/{world['pa']}",
    ):
        response = client.get(path, headers=ministry)
        assert response.status_code == 403, path
        outcome_issue(response)
    assert client.get("/fhir/Organization", headers=ministry).status_code == 200
    history = client.get("/fhir/_history", headers=ministry)
    assert history.status_code in (200, 403)
    if history.status_code == 200:
        assert "entry" not in history.json()


def test_a_patient_reads_only_their_own_compartment(client, world, token_for):
    me = token_for("patient", cccd="079190000001")
    assert _ids(client.get("/fhir/Patient", headers=me)) == {world["pa"], world["ga"]}
    assert _ids(client.get("/fhir/Observation", headers=me)) == {world["oa"]}
    assert client.get(f"/fhir/Patient/{world['pb']}", headers=me).status_code == 403
    assert (
        client.post(
            "/fhir/Observation", json=heart_rate(f"Patient/{world['pa']}"), headers=me
        ).status_code
        == 403
    )


def test_break_glass_allows_emergency_reading_and_flags_it(client, app, world):
    headers = {**world["a"], "X-Break-Glass-Reason": "unconscious patient in the emergency room"}
    assert client.get(f"/fhir/Patient/{world['pb']}", headers=headers).status_code == 200
    event = _audit_events(app)[-1]
    assert event["meta"]["security"][0]["code"] == "BTG"
    assert event["purposeOfEvent"][0]["text"] == "unconscious patient in the emergency room"
    whose = {e["what"]["reference"] for e in event["entity"] if "what" in e}
    assert f"Patient/{world['pb']}" in whose


def test_every_allowed_and_denied_access_leaves_exactly_one_audit_event(client, app, world):
    a = world["a"]
    requests = [
        ("GET", f"/fhir/Patient/{world['pa']}", 200, "0", "read"),
        ("GET", f"/fhir/Patient/{world['pb']}", 403, "8", "read"),
        ("GET", "/fhir/Observation", 200, "0", "search-type"),
        ("GET", f"/fhir/Patient/{world['pb']}/_history", 403, "8", "history-instance"),
    ]
    for method, path, status, outcome, interaction in requests:
        before = len(_audit_events(app))
        assert client.request(method, path, headers=a).status_code == status
        events = _audit_events(app)
        assert len(events) == before + 1, path
        assert events[-1]["outcome"] == outcome
        assert events[-1]["subtype"][0]["code"] == interaction
        assert events[-1]["agent"][1]["altId"] == A


def test_a_search_audit_event_names_the_query_and_the_patients_returned(client, app, world):
    client.get("/fhir/Observation", params={"code": "8867-4"}, headers=world["a"])
    event = _audit_events(app)[-1]
    query = next(e for e in event["entity"] if "query" in e)
    assert base64.b64decode(query["query"]).decode() == "code=8867-4"
    patients = {e["what"]["reference"] for e in event["entity"] if "what" in e}
    assert patients == {f"Patient/{world['pa']}"}


def test_a_read_audit_event_names_the_resource_and_the_patient_it_concerns(client, app, world):
    """A read of a clinical resource is an access to its patient's data: the event names
    both (the patient comes from the compartment, read in the same statement)."""
    assert client.get(f"/fhir/Observation/{world['oa']}", headers=world["a"]).status_code == 200
    event = _audit_events(app)[-1]
    named = {e["what"]["reference"] for e in event["entity"] if "what" in e}
    assert named == {f"Observation/{world['oa']}", f"Patient/{world['pa']}"}


def test_a_write_that_rolls_back_leaves_no_audit_event(client, app, world):
    before = len(_audit_events(app))
    invalid = {**heart_rate(f"Patient/{world['pa']}"), "effectiveDateTime": "yesterday"}
    bad = client.post("/fhir/Observation", json=invalid, headers=world["a"])
    assert bad.status_code == 422
    assert len(_audit_events(app)) == before


def test_a_write_is_audited_once_with_its_patient(client, app, world):
    before = len(_audit_events(app))
    client.post("/fhir/Observation", json=heart_rate(f"Patient/{world['pa']}"), headers=world["a"])
    events = _audit_events(app)
    assert len(events) == before + 1
    assert events[-1]["action"] == "C"
    assert events[-1]["entity"][0]["what"]["reference"] == f"Patient/{world['pa']}"


def test_audit_events_are_append_only_even_for_admin(client, app, world, token_for):
    admin = token_for("admin")
    event_id = client.get("/fhir/AuditEvent", params={"_count": 1}, headers=admin).json()["entry"][
        0
    ]["resource"]["id"]
    assert client.delete(f"/fhir/AuditEvent/{event_id}", headers=admin).status_code == 403
    event = client.get(f"/fhir/AuditEvent/{event_id}", headers=admin).json()
    assert client.put(f"/fhir/AuditEvent/{event_id}", json=event, headers=admin).status_code == 403
    assert client.post("/fhir/AuditEvent", json=event, headers=admin).status_code == 403


def test_a_patient_reads_who_accessed_their_records(client, world, token_for):
    client.get(f"/fhir/Patient/{world['pa']}", headers=world["a"])
    me = token_for("patient", cccd="079190000001")
    log = client.get("/fhir/AuditEvent", params={"patient": f"Patient/{world['pa']}"}, headers=me)
    assert log.status_code == 200
    events = [e["resource"] for e in log.json()["entry"]]
    assert events and all(
        any(x.get("what", {}).get("reference") == f"Patient/{world['pa']}" for x in e["entity"])
        for e in events
    )
    others = client.get(
        "/fhir/AuditEvent", params={"patient": f"Patient/{world['pb']}"}, headers=me
    )
    assert _ids(others) == set()


def test_audit_events_are_searchable_by_patient_agent_and_date(client, world, token_for):
    client.get(f"/fhir/Patient/{world['pa']}", headers=world["a"])
    admin = token_for("admin")
    by_patient = client.get(
        "/fhir/AuditEvent", params={"patient": f"Patient/{world['pa']}"}, headers=admin
    )
    by_agent = client.get("/fhir/AuditEvent", params={"altid": A}, headers=admin)
    by_date = client.get("/fhir/AuditEvent", params={"date": "ge2020-01-01"}, headers=admin)
    assert _ids(by_patient) and _ids(by_agent) and _ids(by_date)
    assert _ids(by_agent) <= _ids(by_date)


def test_too_many_requests_is_429_with_retry_after(client, app, token_for):
    app.state.services.limiter.per_minute = 3
    app.state.services.limiter._buckets.clear()
    headers = token_for("admin")
    statuses = [client.get("/fhir/Organization", headers=headers).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[-1] == 429
    limited = client.get("/fhir/Organization", headers=headers)
    assert int(limited.headers["Retry-After"]) >= 1
    outcome_issue(limited)


def test_access_to_data_that_is_not_personal_is_not_audited(client, app, world, token_for):
    admin = token_for("admin")
    before = len(_audit_events(app))
    assert client.get("/fhir/Organization", headers=admin).status_code == 200
    assert len(_audit_events(app)) == before
    assert client.get("/fhir/Patient", headers=admin).status_code == 200
    assert len(_audit_events(app)) == before + 1


def test_an_update_that_changes_nothing_is_still_audited(client, app, world):
    """A facility sending its record again unchanged stores no new version
    (``ehr.storage.write``), but the write is an access to the person's record."""
    url = f"/fhir/Observation/{world['oa']}"
    current = client.get(url, headers=world["a"]).json()
    before = len(_audit_events(app))
    again = client.put(url, json=current, headers=world["a"])
    assert again.status_code == 200, again.text
    assert again.headers["ETag"] == 'W/"1"'
    events = _audit_events(app)
    assert len(events) == before + 1
    assert events[-1]["action"] == "U"
    what = {entity["what"]["reference"] for entity in events[-1]["entity"]}
    assert what == {f"Observation/{world['oa']}/_history/1", f"Patient/{world['pa']}"}
