"""Each facility Patient is linked to one golden person; by national ID, deterministically."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import pytest
from fhir_helpers import encounter, outcome_issue, patient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ehr.config import REPO_ROOT
from ehr.db.schema import PersonLink, PersonLinkHistory
from ehr.mpi.cccd import make_cccd
from ehr.mpi.golden import GOLDEN_TAG

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
GOLDEN = f"{GOLDEN_TAG['system']}|{GOLDEN_TAG['code']}"
HANOI_MAN_1990 = make_cccd("001", "male", 1990, 12345)


def _with_cccd(number: str, **extra) -> dict:  # type: ignore[no-untyped-def]
    return patient(identifier=[{"system": CCCD, "value": number}], **extra)


def _person_of(resource: dict) -> str:
    refer = [link for link in resource.get("link", []) if link["type"] == "refer"]
    assert len(refer) == 1, resource.get("link")
    return refer[0]["other"]["reference"].removeprefix("Patient/")


def _push(client, token_for, facility: str, body: dict) -> dict:  # type: ignore[no-untyped-def]
    response = client.post(
        "/fhir/Patient", json=body, headers=token_for("facility", facility=facility)
    )
    assert response.status_code == 201, response.text
    return response.json()


def _persons(app) -> int:  # type: ignore[no-untyped-def]
    with app.state.services.engine.connect() as connection:
        return connection.execute(
            select(func.count(func.distinct(PersonLink.person_id)))
        ).scalar_one()


def test_a_patient_with_a_national_id_gets_a_golden_person(client, token_for):
    pushed = _push(client, token_for, "79001", _with_cccd(HANOI_MAN_1990))
    golden = client.get(f"/fhir/Patient/{_person_of(pushed)}").json()
    assert GOLDEN_TAG in golden["meta"]["tag"]
    assert golden["identifier"] == [{"system": CCCD, "value": HANOI_MAN_1990}]
    assert golden["link"] == [
        {"other": {"reference": f"Patient/{pushed['id']}"}, "type": "seealso"}
    ]
    assert golden["name"] == pushed["name"]


def test_a_new_persons_golden_record_is_indexed_as_its_stored_body_extracts(client, app, token_for):
    """Its index values are partly taken from its source's (``extract_all``'s ``like``):
    what is stored must be what extracting the stored golden record gives, on both
    databases, for a Patient with every element the golden record copies."""
    from fhir_helpers import stored_rows

    from ehr.db.schema import SEARCH_TABLES, Resource
    from ehr.db.unit_of_work import unit_of_work
    from ehr.search.extract import extract_all

    body = _with_cccd(
        HANOI_MAN_1990,
        name=[{"family": "Trần", "given": ["Văn", "Bình"], "use": "official"}],
        telecom=[
            {"system": "phone", "value": "0912345678"},
            {"system": "email", "value": "b@x.vn"},
        ],
        address=[{"line": ["12 Hàng Bạc"], "city": "Hà Nội", "country": "VN", "use": "home"}],
        deceasedBoolean=False,
    )
    person = _person_of(_push(client, token_for, "79001", body))
    services = app.state.services
    with unit_of_work(services.engine) as session:
        rid, content = session.execute(
            select(Resource.rid, Resource.content).where(
                Resource.res_type == "Patient", Resource.res_id == person
            )
        ).one()
        stored = stored_rows(session, rid)
    expected: dict[str, list[dict]] = {kind: [] for kind in SEARCH_TABLES}
    for param_type, code, value in extract_all(orjson.loads(content), services.registry):
        expected[param_type].append({"res_type": "Patient", "param": code, **value.__dict__})
    for kind in SEARCH_TABLES:
        assert stored[kind] == sorted(expected[kind], key=repr), kind
    assert {row["param"] for row in stored["string"]} >= {"family", "given", "address-city"}


def test_two_facilities_pushing_one_national_id_share_one_person(client, app, token_for):
    first = _push(client, token_for, "79001", _with_cccd(HANOI_MAN_1990))
    second = _push(client, token_for, "01002", _with_cccd(HANOI_MAN_1990, gender="male"))
    assert _person_of(first) == _person_of(second)
    golden = client.get(f"/fhir/Patient/{_person_of(first)}").json()
    assert {link["other"]["reference"] for link in golden["link"]} == {
        f"Patient/{first['id']}",
        f"Patient/{second['id']}",
    }
    found = client.get("/fhir/Patient", params={"identifier": f"{CCCD}|{HANOI_MAN_1990}"}).json()
    ids = {entry["resource"]["id"] for entry in found["entry"]}
    assert ids == {first["id"], second["id"], _person_of(first)}
    assert _persons(app) == 1


def test_twenty_concurrent_pushes_of_one_national_id_make_one_person(live_server, app):
    auth = app.state.services.auth
    number = make_cccd("079", "female", 1985, 4242)

    def push(index: int) -> str:
        token = auth.mint(
            subject=f"f{index}",
            role="facility",
            scopes="system/*.cruds",
            facility=f"{10000 + index}",
        )
        response = httpx.post(
            f"{live_server.base_url}/Patient",
            json=_with_cccd(number, gender="female"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert response.status_code == 201, response.text
        return _person_of(response.json())

    with ThreadPoolExecutor(max_workers=20) as pool:
        persons = set(pool.map(push, range(20)))
    assert len(persons) == 1
    assert _persons(app) == 1
    golden = httpx.get(
        f"{live_server.base_url}/Patient/{persons.pop()}", headers=live_server.headers
    ).json()
    assert len(golden["link"]) == 20


def test_a_push_that_loses_the_registration_race_joins_the_winners_person(
    client, app, token_for, monkeypatch
):
    """The race the twenty pushes above may or may not meet, made certain: a push looks up
    the national ID before a concurrent push's registration is visible, proposes a new
    person, and its insert meets the winner's key. It must take the winner's person."""
    import ehr.mpi.link_decision as link_decision

    winner = _push(client, token_for, "79001", _with_cccd(HANOI_MAN_1990))
    looked_up = link_decision._registered
    calls = []

    def not_yet_visible(ctx, id_hash):  # type: ignore[no-untyped-def]
        calls.append(id_hash)
        return None if len(calls) == 1 else looked_up(ctx, id_hash)

    monkeypatch.setattr(link_decision, "_registered", not_yet_visible)
    loser = _push(client, token_for, "01002", _with_cccd(HANOI_MAN_1990))
    assert len(calls) == 2  # the first look-up, and the read of the winner after the insert
    assert _person_of(loser) == _person_of(winner)
    assert _persons(app) == 1


def test_a_malformed_or_unknown_national_id_is_rejected_and_nothing_is_written(
    client, store_counts
):
    before = store_counts()
    for number in ("12345", "00109001234X", "999090012345"):
        response = client.post("/fhir/Patient", json=_with_cccd(number))
        assert response.status_code == 422, number
        assert outcome_issue(response)["expression"] == ["Patient.identifier[0].value"]
    assert store_counts() == before


def test_two_different_national_ids_on_one_patient_are_rejected(client, store_counts):
    before = store_counts()
    body = patient(
        identifier=[
            {"system": CCCD, "value": HANOI_MAN_1990},
            {"system": CCCD, "value": make_cccd("079", "male", 1990, 1)},
        ]
    )
    response = client.post("/fhir/Patient", json=body)
    assert response.status_code == 422
    assert outcome_issue(response)["expression"] == ["Patient.identifier"]
    assert store_counts() == before


def test_a_sex_or_birth_year_conflict_is_accepted_and_opens_a_review_task(client):
    woman_1990 = make_cccd("001", "female", 1990, 777)
    pushed = client.post("/fhir/Patient", json=_with_cccd(woman_1990, gender="male"))
    assert pushed.status_code == 201
    tasks = client.get("/fhir/Task", params={"focus": f"Patient/{pushed.json()['id']}"}).json()
    assert len(tasks["entry"]) == 1
    task = tasks["entry"][0]["resource"]
    assert task["code"]["coding"][0]["code"] == "identity-conflict"
    assert woman_1990 not in task["description"]  # the number never appears in text


def test_pushing_the_same_patient_again_changes_no_link(client, app, token_for):
    pushed = _push(client, token_for, "79001", _with_cccd(HANOI_MAN_1990))
    facility = token_for("facility", facility="79001")
    again = client.put(f"/fhir/Patient/{pushed['id']}", json=pushed, headers=facility).json()
    assert _person_of(again) == _person_of(pushed)
    with app.state.services.engine.connect() as connection:
        changes = connection.execute(
            select(func.count()).select_from(PersonLinkHistory)
        ).scalar_one()
    assert changes == 1


_EXAMPLE_PATIENT = REPO_ROOT / "fhir_profiles/examples/Patient-example.json"


@pytest.mark.parametrize("conforming", [True, False], ids=["conforming", "flagged"])
def test_a_record_sent_again_as_stored_is_not_decided_again(
    client, token_for, monkeypatch, conforming
):
    """A returning visit re-sends the facility's Patient as it was: it keeps its person
    without a new decision (nor a new version); any change is decided again. A record the
    national profiles flag is stored with the server's status tag, which the facility
    does not send: it is the same record all the same."""
    from ehr.mpi import linking

    decided: list[str] = []
    decide = linking.decide_person

    def recording(ctx, change, *args):  # type: ignore[no-untyped-def]
        decided.append(change.res_id)
        return decide(ctx, change, *args)

    monkeypatch.setattr(linking, "decide_person", recording)
    facility = token_for("facility", facility="01001")
    if conforming:
        body = {**orjson.loads(_EXAMPLE_PATIENT.read_bytes()), "id": "sent-again"}
    else:
        body = _with_cccd(HANOI_MAN_1990, id="sent-again")
    first = client.put("/fhir/Patient/sent-again", json=body, headers=facility)
    assert first.status_code == 201, first.text
    flagged = any(t["code"] == "not-exchangeable" for t in first.json()["meta"].get("tag", []))
    assert flagged is not conforming
    again = client.put("/fhir/Patient/sent-again", json=body, headers=facility)
    assert again.status_code == 200
    assert again.headers["etag"] == first.headers["etag"]
    assert _person_of(again.json()) == _person_of(first.json())
    assert decided == ["sent-again"]
    phone = [{"system": "phone", "value": "0987654321"}]
    changed = client.put(
        "/fhir/Patient/sent-again", json={**body, "telecom": phone}, headers=facility
    )
    assert changed.headers["etag"] == 'W/"2"'
    assert _person_of(changed.json()) == _person_of(first.json())
    assert decided == ["sent-again", "sent-again"]


def test_a_national_id_arriving_later_moves_the_record_to_that_person(client, token_for):
    known = _push(client, token_for, "79001", _with_cccd(HANOI_MAN_1990))
    anonymous = _push(client, token_for, "01002", patient(family="Trần", birthDate="1990-02-03"))
    assert _person_of(anonymous) != _person_of(known)
    facility = token_for("facility", facility="01002")
    updated = client.put(
        f"/fhir/Patient/{anonymous['id']}",
        json={**anonymous, "identifier": [{"system": CCCD, "value": HANOI_MAN_1990}]},
        headers=facility,
    ).json()
    assert _person_of(updated) == _person_of(known)
    assert client.get(f"/fhir/Patient/{_person_of(anonymous)}").status_code == 410


def test_survivorship_takes_the_newest_address_and_the_verified_name(client, token_for):
    old = _push(client, token_for, "79001", _with_cccd(HANOI_MAN_1990, address=[{"city": "Huế"}]))
    _push(
        client,
        token_for,
        "01002",
        _with_cccd(
            HANOI_MAN_1990,
            address=[{"city": "Đà Nẵng"}],
            name=[{"family": "Nguyen", "given": ["An"]}],
        ),
    )
    golden = client.get(f"/fhir/Patient/{_person_of(old)}").json()
    assert golden["address"] == [{"city": "Đà Nẵng"}]
    assert golden["name"] == [{"family": "Nguyen", "given": ["An"]}]


def test_a_facility_reads_the_records_other_facilities_hold_for_a_person_it_treats(
    client, token_for
):
    a, b = token_for("facility", facility="79001"), token_for("facility", facility="01002")
    pa = client.post("/fhir/Patient", json=_with_cccd(HANOI_MAN_1990), headers=a).json()
    pb = client.post("/fhir/Patient", json=_with_cccd(HANOI_MAN_1990), headers=b).json()
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "mạch"},
        "subject": {"reference": f"Patient/{pb['id']}"},
    }
    ob = client.post("/fhir/Observation", json=observation, headers=b).json()
    assert client.get(f"/fhir/Observation/{ob['id']}", headers=a).status_code == 403
    visit = encounter(f"Patient/{pa['id']}")
    assert client.post("/fhir/Encounter", json=visit, headers=a).status_code == 201
    assert client.get(f"/fhir/Observation/{ob['id']}", headers=a).status_code == 200
    stranger = token_for("facility", facility="48003")
    assert client.get(f"/fhir/Observation/{ob['id']}", headers=stranger).status_code == 403


def test_conditional_create_by_national_id_finds_the_facility_record_not_the_person(client):
    headers = {"If-None-Exist": f"identifier={CCCD}|{HANOI_MAN_1990}"}
    first = client.post("/fhir/Patient", json=_with_cccd(HANOI_MAN_1990), headers=headers)
    second = client.post("/fhir/Patient", json=_with_cccd(HANOI_MAN_1990), headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]


numbers = st.sampled_from(
    [make_cccd(p, "male", 1980 + i, i) for i, p in enumerate(("001", "079", "048", "031"))]
)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pushes=st.lists(st.tuples(st.integers(0, 3), numbers), min_size=1, max_size=6))
def test_linking_by_national_id_is_order_independent_and_idempotent(client, app, pushes):
    """Records with one national ID end in one person, whatever the order; again = no change."""
    groups: dict[str, set[str]] = {}
    for facility, number in pushes:
        body = _with_cccd(number, gender="male", birthDate=f"19{number[4:6]}-01-01")
        response = client.post("/fhir/Patient", json=body, headers={"X-Facility": str(facility)})
        assert response.status_code == 201, response.text
        groups.setdefault(number, set()).add(_person_of(response.json()))
        again = client.put(f"/fhir/Patient/{response.json()['id']}", json=response.json())
        assert _person_of(again.json()) == _person_of(response.json())
    for number, persons in groups.items():
        found = client.get(
            "/fhir/Patient", params={"identifier": f"{CCCD}|{number}", "_tag": GOLDEN}
        ).json()
        assert len(persons) == 1 and len(found["entry"]) == 1, number


def _person_like(**extra) -> dict:  # type: ignore[no-untyped-def]
    """A person without a national ID, with the details that make records comparable."""
    base = patient(
        family="Phạm",
        given=("Thị", "Ngọc", "Anh"),
        gender="female",
        birthDate="1987-11-02",
        telecom=[{"system": "phone", "value": "0912 345 678"}],
        address=[{"city": "Phường Bến Nghé", "state": "Thành phố Hồ Chí Minh"}],
    )
    base.update(extra)
    return base


def test_the_same_person_without_a_national_id_is_linked_by_matching(client, app, token_for):
    first = _push(client, token_for, "79001", _person_like())
    variant = _person_like(
        name=[{"family": "Pham", "given": ["Thi", "Ngoc", "Anh"]}],
        telecom=[{"system": "phone", "value": "+84912345678"}],
    )
    second = _push(client, token_for, "79002", variant)
    assert _person_of(second) == _person_of(first)
    with app.state.services.engine.connect() as connection:
        link = connection.execute(
            select(PersonLink.grade, PersonLink.score).where(PersonLink.patient_id == second["id"])
        ).one()
    assert link.grade == "probable" and 0 < link.score <= 1


def test_twins_are_not_linked_to_each_other(client, token_for):
    sister = _push(client, token_for, "79001", _person_like())
    twin = _push(
        client,
        token_for,
        "79001",
        _person_like(name=[{"family": "Phạm", "given": ["Thị", "Ngọc", "Lan"]}]),
    )
    assert _person_of(twin) != _person_of(sister)


def test_a_grey_zone_record_gets_a_new_person_and_a_duplicate_review(client, token_for):
    known = _push(client, token_for, "79001", _person_like())
    unsure = _person_like(telecom=[], address=[], birthDate="1987-11-21")  # another day
    pushed = _push(client, token_for, "48001", unsure)
    assert _person_of(pushed) != _person_of(known)
    tasks = client.get("/fhir/Task", params={"focus": f"Patient/{pushed['id']}"}).json()
    codes = [e["resource"]["code"]["coding"][0]["code"] for e in tasks.get("entry", [])]
    assert codes == ["possible-duplicate"]
    candidate = tasks["entry"][0]["resource"]["input"][0]["valueReference"]["reference"]
    assert candidate == f"Patient/{_person_of(known)}"
