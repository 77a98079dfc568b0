"""``GET Patient/{id}/$everything``: the person's record from every facility, as the access
policy lets each caller see it, paged, filtered, audited."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
from app_fixtures import index_pending_audit
from fhir_helpers import encounter, heart_rate, outcome_issue, patient
from sqlalchemy import select

from ehr.db.schema import Resource

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
NUMBER = "079190000001"
A, B, C = "79001", "01002", "48003"


def _condition(subject: str) -> dict:
    return {
        "resourceType": "Condition",
        "subject": {"reference": subject},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "E11"}]},
    }


@pytest.fixture
def person(client, token_for):  # type: ignore[no-untyped-def]
    """One person, seen at facility A (an Encounter and an Observation) and at facility B
    (an Encounter and a Condition); facility C never treated them. A third person at A."""
    made: dict = {}
    for key, facility, clinical in (("a", A, heart_rate), ("b", B, _condition)):
        token = token_for("facility", facility=facility)

        def post(resource: dict, token: dict = token) -> dict:
            response = client.post(
                f"/fhir/{resource['resourceType']}", json=resource, headers=token
            )
            assert response.status_code == 201, response.text
            return response.json()

        body = patient(identifier=[{"system": CCCD, "value": NUMBER}], birthDate="1990-05-17")
        p = post(body)
        ref = f"Patient/{p['id']}"
        made[f"p{key}"] = p["id"]
        made[f"e{key}"] = post(encounter(ref))["id"]
        made[f"x{key}"] = post(clinical(ref))["id"]
        refer = next(link for link in p["link"] if link["type"] == "refer")
        made["golden"] = refer["other"]["reference"].removeprefix("Patient/")
    other = client.post(
        "/fhir/Patient", json=patient(family="Lê"), headers=token_for("facility", facility=A)
    ).json()
    made["other"] = other["id"]
    return made


def _record(person: dict) -> set[str]:
    return {person[k] for k in ("golden", "pa", "pb", "ea", "eb", "xa", "xb")}


def _ids(response) -> set[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    return {entry["resource"]["id"] for entry in body.get("entry", [])}


def test_asked_of_the_golden_person_or_any_linked_record_it_is_the_whole_record(client, person):
    for start in ("golden", "pa", "pb"):
        found = _ids(client.get(f"/fhir/Patient/{person[start]}/$everything"))
        assert found == _record(person), start
    assert person["other"] not in found


def test_a_treating_facility_sees_the_other_facilitys_records_and_a_stranger_nothing(
    client, person, token_for
):
    a = token_for("facility", facility=A)
    assert _ids(client.get(f"/fhir/Patient/{person['pa']}/$everything", headers=a)) == _record(
        person
    )
    stranger = token_for("facility", facility=C)
    denied = client.get(f"/fhir/Patient/{person['pa']}/$everything", headers=stranger)
    assert denied.status_code == 403
    assert "X-Break-Glass-Reason" in outcome_issue(denied)["diagnostics"]


def test_a_facility_that_only_registered_the_person_sees_only_what_it_wrote(
    client, person, token_for
):
    """The policy applies inside the query: without a care relationship (no Encounter), a
    facility sees its own Patient record, not the person's records from elsewhere."""
    c = token_for("facility", facility=C)
    body = patient(identifier=[{"system": CCCD, "value": NUMBER}], birthDate="1990-05-17")
    own = client.post("/fhir/Patient", json=body, headers=c).json()["id"]
    assert _ids(client.get(f"/fhir/Patient/{own}/$everything", headers=c)) == {own}
    admin_view = _ids(client.get(f"/fhir/Patient/{own}/$everything"))
    assert admin_view == _record(person) | {own}


def test_the_patient_sees_their_own_record_and_the_ministry_none(client, person, token_for):
    me = token_for("patient", cccd=NUMBER)
    assert _ids(client.get(f"/fhir/Patient/{person['golden']}/$everything", headers=me)) == (
        _record(person)
    )
    ministry = token_for("ministry")
    response = client.get(f"/fhir/Patient/{person['golden']}/$everything", headers=ministry)
    assert response.status_code == 403


def test_a_scope_narrows_the_types(client, person, token_for):
    narrow = token_for("facility", facility=A, scopes="system/Patient.rs system/Condition.rs")
    found = _ids(client.get(f"/fhir/Patient/{person['pa']}/$everything", headers=narrow))
    assert found == {person["golden"], person["pa"], person["pb"], person["xb"]}


def test_type_and_since_filter(client, person):
    path = f"/fhir/Patient/{person['golden']}/$everything"
    typed = _ids(client.get(path, params={"_type": "Condition,Observation"}))
    assert typed == {person["xa"], person["xb"]}
    assert _ids(client.get(path, params={"_since": "2999-01-01"})) == set()
    assert _ids(client.get(path, params={"_since": "2000-01-01"})) == _record(person)


def test_access_logs_come_only_when_asked_for(client, person):
    path = f"/fhir/Patient/{person['golden']}/$everything"
    client.get(path)  # an access, audited
    assert not any(i.startswith("AuditEvent") for i in _types(client.get(path)))
    logs = client.get(path, params={"_type": "AuditEvent"})
    assert logs.status_code == 200
    assert {entry["resource"]["resourceType"] for entry in logs.json()["entry"]} == {"AuditEvent"}


def _types(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [e["resource"]["resourceType"] for e in response.json().get("entry", [])]


def test_pages_follow_next_links_and_give_each_resource_once(client, person):
    url: str | None = f"/fhir/Patient/{person['pa']}/$everything?_count=2"
    seen: list[str] = []
    while url is not None:
        page = client.get(url)
        assert page.status_code == 200, page.text
        entries = page.json().get("entry", [])
        assert len(entries) <= 2
        seen += [entry["resource"]["id"] for entry in entries]
        following = [ln["url"] for ln in page.json()["link"] if ln["relation"] == "next"]
        url = None
        if following:
            parts = urlsplit(following[0])
            assert dict(parse_qsl(parts.query))["_count"] == "2"
            url = f"{parts.path}?{parts.query}"
    assert sorted(seen) == sorted(_record(person))


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"start": "2020-01-01"}, 400),
        ({"end": "2020-01-01"}, 400),
        ({"_type": "Organization"}, 400),
        ({"_type": "NotAType"}, 400),
        ({"_since": "yesterday"}, 400),
        ({"_cursor": "x'; drop"}, 400),
        ({"_count": "-1"}, 400),
    ],
)
def test_bad_parameters_are_a_clear_400(client, person, params, status):
    response = client.get(f"/fhir/Patient/{person['golden']}/$everything", params=params)
    assert response.status_code == status, response.text
    outcome_issue(response)


def test_an_unknown_or_deleted_patient_is_404(client, person):
    assert client.get("/fhir/Patient/nobody/$everything").status_code == 404
    assert client.delete(f"/fhir/Patient/{person['other']}").status_code in (200, 204)
    assert client.get(f"/fhir/Patient/{person['other']}/$everything").status_code == 404


def test_the_access_is_audited_naming_every_record_of_the_person(client, app, person, token_for):
    a = token_for("facility", facility=A)
    client.get(f"/fhir/Patient/{person['pa']}/$everything", headers=a)
    index_pending_audit(app)
    with app.state.services.engine.connect() as connection:
        events = [
            orjson.loads(row.content)
            for row in connection.execute(
                select(Resource.content).where(Resource.res_type == "AuditEvent")
            )
        ]
    everything = [e for e in events if "$everything" in orjson.dumps(e).decode()]
    assert len(everything) == 1
    named = {
        entity["what"]["reference"]
        for entity in everything[0].get("entity", [])
        if "what" in entity and "reference" in entity["what"]
    }
    assert {f"Patient/{person[k]}" for k in ("golden", "pa", "pb")} <= named
