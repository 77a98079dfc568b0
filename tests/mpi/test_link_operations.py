"""Admins' link management: $link, $unlink, $merge, $not-duplicate, $undo, $link-history."""

from __future__ import annotations

from fhir_helpers import outcome_issue, patient
from link_ops import change_of, link_rows, ok, operation, partition, ref, tasks_of
from test_linking import CCCD, _person_like, _person_of, _push, _with_cccd

from ehr.mpi.cccd import make_cccd

WOMAN_1987 = make_cccd("079", "female", 1987, 5151)
MAN_1990 = make_cccd("001", "male", 1990, 4242)


def _two_strangers(client, token_for) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    first = _push(client, token_for, "79001", patient(family="Trần", birthDate="1950-02-03"))
    second = _push(client, token_for, "01002", patient(family="Đỗ", birthDate="1999-12-30"))
    assert _person_of(first) != _person_of(second)
    return first, second


def test_link_moves_a_record_to_the_person_as_a_sticky_manual_link(client, app, token_for):
    first, second = _two_strangers(client, token_for)
    target, old = _person_of(first), _person_of(second)
    result = ok(
        operation(
            client, f"Patient/{second['id']}/$link", person=ref(target), reason={"valueString": "x"}
        )
    )
    assert change_of(result) > 0
    assert link_rows(app)[second["id"]] == (target, "MANUAL")
    relabelled = client.get(f"/fhir/Patient/{second['id']}").json()
    assert _person_of(relabelled) == target
    golden = client.get(f"/fhir/Patient/{target}").json()
    assert {link["other"]["reference"] for link in golden["link"]} == {
        f"Patient/{first['id']}",
        f"Patient/{second['id']}",
    }
    assert client.get(f"/fhir/Patient/{old}").status_code == 410
    # The facility pushes the record again: the admin's decision holds.
    facility = token_for("facility", facility="01002")
    again = client.put(f"/fhir/Patient/{second['id']}", json=relabelled, headers=facility)
    assert _person_of(again.json()) == target


def test_unlink_gives_the_record_a_person_of_its_own(client, app, token_for):
    first = _push(client, token_for, "79001", _with_cccd(MAN_1990))
    second = _push(client, token_for, "01002", _with_cccd(MAN_1990))
    shared = _person_of(first)
    result = ok(operation(client, f"Patient/{second['id']}/$unlink"))
    alone = result["parameter"][1]["part"][1]["valueReference"]["reference"].removeprefix(
        "Patient/"
    )
    assert alone != shared
    assert partition(app) == {frozenset({first["id"]}), frozenset({second["id"]})}
    assert client.get(f"/fhir/Patient/{alone}").json()["link"][0]["other"] == {
        "reference": f"Patient/{second['id']}"
    }
    facility = token_for("facility", facility="01002")
    current = client.get(f"/fhir/Patient/{second['id']}").json()
    again = client.put(f"/fhir/Patient/{second['id']}", json=current, headers=facility)
    assert _person_of(again.json()) == alone  # the same national ID is no new evidence
    refused = operation(client, f"Patient/{second['id']}/$unlink")
    assert refused.status_code == 409  # already alone


def test_merge_moves_every_record_and_undo_restores_the_partition(client, app, token_for):
    a1 = _push(client, token_for, "79001", _with_cccd(MAN_1990))
    a2 = _push(client, token_for, "01002", _with_cccd(MAN_1990))
    b = _push(client, token_for, "48001", patient(family="Trần", birthDate="1950-02-03"))
    target, source = _person_of(a1), _person_of(b)
    before = partition(app)
    merged = ok(operation(client, "Patient/$merge", source=ref(source), target=ref(target)))
    assert partition(app) == {frozenset({a1["id"], a2["id"], b["id"]})}
    old = client.get(f"/fhir/Patient/{source}").json()
    assert old["active"] is False
    assert old["link"] == [{"other": {"reference": f"Patient/{target}"}, "type": "replaced-by"}]
    survivor = client.get(f"/fhir/Patient/{target}").json()
    assert {"other": {"reference": f"Patient/{source}"}, "type": "replaces"} in survivor["link"]
    assert _person_of(client.get(f"/fhir/Patient/{b['id']}").json()) == target

    undone = ok(operation(client, "Patient/$undo", change={"valueInteger": change_of(merged)}))
    assert partition(app) == before
    assert _person_of(client.get(f"/fhir/Patient/{b['id']}").json()) == source
    restored = client.get(f"/fhir/Patient/{source}").json()
    assert restored["active"] is True
    assert restored["link"] == [{"other": {"reference": f"Patient/{b['id']}"}, "type": "seealso"}]
    again = operation(client, "Patient/$undo", change={"valueInteger": change_of(merged)})
    assert again.status_code == 409  # already undone
    undo_of_undo = operation(client, "Patient/$undo", change={"valueInteger": change_of(undone)})
    assert undo_of_undo.status_code == 409


def test_undo_is_refused_when_a_later_change_moved_the_records_again(client, token_for):
    first, second = _two_strangers(client, token_for)
    linked = ok(operation(client, f"Patient/{second['id']}/$link", person=ref(_person_of(first))))
    ok(operation(client, f"Patient/{second['id']}/$unlink"))
    refused = operation(client, "Patient/$undo", change={"valueInteger": change_of(linked)})
    assert refused.status_code == 409
    assert "moved again" in outcome_issue(refused)["diagnostics"]


def test_a_merge_of_two_national_ids_is_made_but_opens_a_conflict_task(client, token_for):
    x = _push(client, token_for, "79001", _with_cccd(MAN_1990))
    y = _push(client, token_for, "79001", _with_cccd(WOMAN_1987, gender="female"))
    result = ok(
        operation(client, "Patient/$merge", source=ref(_person_of(y)), target=ref(_person_of(x)))
    )
    [task] = tasks_of(result)
    opened = client.get(f"/fhir/{task}").json()
    assert opened["code"]["coding"][0]["code"] == "national-id-conflict"
    assert opened["status"] == "requested"
    assert MAN_1990 not in str(opened) and WOMAN_1987 not in str(opened)


def test_a_manual_link_bringing_a_second_national_id_opens_a_conflict_task(client, token_for):
    x = _push(client, token_for, "79001", _with_cccd(MAN_1990))
    y = _push(client, token_for, "79001", _with_cccd(WOMAN_1987, gender="female"))
    result = ok(operation(client, f"Patient/{y['id']}/$link", person=ref(_person_of(x))))
    assert [t.split("/")[1].startswith("mpi-national-id-") for t in tasks_of(result)] == [True]


def test_a_national_id_arriving_later_merges_the_persons_it_proves_one(client, app, token_for):
    known = _push(client, token_for, "79001", _with_cccd(WOMAN_1987, gender="female"))
    first = _push(client, token_for, "01002", _person_like())
    second = _push(client, token_for, "48001", _person_like(telecom=[]))
    assert _person_of(first) == _person_of(second) != _person_of(known)
    former = _person_of(first)
    before = partition(app)
    facility = token_for("facility", facility="01002")
    card = [{"system": CCCD, "value": WOMAN_1987}]
    updated = client.put(
        f"/fhir/Patient/{first['id']}", json={**first, "identifier": card}, headers=facility
    )
    assert updated.status_code == 200, updated.text
    person = _person_of(known)
    assert partition(app) == {frozenset({known["id"], first["id"], second["id"]})}
    assert _person_of(client.get(f"/fhir/Patient/{second['id']}").json()) == person
    assert client.get(f"/fhir/Patient/{former}").json()["link"][0]["type"] == "replaced-by"
    history = ok(client.get(f"/fhir/Patient/{second['id']}/$link-history"))
    merge = history["parameter"][-1]["part"]
    fields = {part["name"]: part for part in merge}
    assert fields["action"]["valueCode"] == "merge"
    assert fields["linkType"]["valueCode"] == "AUTO"
    assert fields["reason"]["valueString"].startswith("national-id")
    assert fields["to"]["valueReference"]["reference"] == f"Patient/{person}"
    ok(
        operation(
            client, "Patient/$undo", change={"valueInteger": fields["change"]["valueInteger"]}
        )
    )
    assert partition(app) == before


def test_persons_marked_not_duplicates_are_never_merged_by_a_national_id(client, app, token_for):
    known = _push(client, token_for, "79001", _with_cccd(WOMAN_1987, gender="female"))
    first = _push(client, token_for, "01002", _person_like())
    second = _push(client, token_for, "48001", _person_like(telecom=[]))
    former, person = _person_of(first), _person_of(known)
    marked = ok(operation(client, "Patient/$not-duplicate", person=ref(former), other=ref(person)))
    refused = operation(client, "Patient/$merge", source=ref(former), target=ref(person))
    assert refused.status_code == 409
    facility = token_for("facility", facility="01002")
    card = [{"system": CCCD, "value": WOMAN_1987}]
    client.put(f"/fhir/Patient/{first['id']}", json={**first, "identifier": card}, headers=facility)
    assert partition(app) == {frozenset({known["id"], first["id"]}), frozenset({second["id"]})}
    tasks = client.get("/fhir/Task", params={"focus": f"Patient/{first['id']}"}).json()["entry"]
    codes = {entry["resource"]["code"]["coding"][0]["code"] for entry in tasks}
    assert "national-id-conflict" in codes
    # Undoing the mark lets an admin merge them.
    ok(operation(client, "Patient/$undo", change={"valueInteger": change_of(marked)}))
    ok(operation(client, "Patient/$merge", source=ref(former), target=ref(person)))


def test_link_history_says_who_when_why_and_how(client, token_for):
    first, second = _two_strangers(client, token_for)
    ok(
        operation(
            client,
            f"Patient/{second['id']}/$link",
            person=ref(_person_of(first)),
            reason={"valueString": "same person, checked by phone"},
        )
    )
    history = ok(client.get(f"/fhir/Patient/{second['id']}/$link-history"))
    entries = [{p["name"]: p for p in e["part"]} for e in history["parameter"]]
    assert [e["linkType"]["valueCode"] for e in entries] == ["AUTO", "MANUAL"]
    manual = entries[1]
    assert manual["actor"]["valueString"] == "test-admin"
    assert manual["reason"]["valueString"] == "same person, checked by phone"
    assert manual["from"]["valueReference"]["reference"] == f"Patient/{_person_of(second)}"
    assert manual["to"]["valueReference"]["reference"] == f"Patient/{_person_of(first)}"
    assert manual["at"]["valueInstant"]
    person_view = ok(client.get(f"/fhir/Patient/{_person_of(first)}/$link-history"))
    assert len(person_view["parameter"]) == 2  # first's own link and second's move in
    assert client.get("/fhir/Patient/nobody/$link-history").status_code == 404


def test_every_change_is_audited(client, token_for):
    first, second = _two_strangers(client, token_for)
    ok(operation(client, f"Patient/{second['id']}/$link", person=ref(_person_of(first))))
    events = client.get("/fhir/AuditEvent", params={"subtype": "$link"}).json()["entry"]
    [event] = [e["resource"] for e in events]
    patients = {e["what"]["reference"] for e in event["entity"] if "what" in e}
    assert f"Patient/{second['id']}" in patients
    assert f"Patient/{_person_of(first)}" in patients


def test_only_admins_manage_links(client, token_for):
    _, second = _two_strangers(client, token_for)
    calls = [
        ("POST", f"Patient/{second['id']}/$link"),
        ("POST", f"Patient/{second['id']}/$unlink"),
        ("POST", "Patient/$merge"),
        ("POST", "Patient/$not-duplicate"),
        ("POST", "Patient/$undo"),
        ("GET", f"Patient/{second['id']}/$link-history"),
        ("POST", "Task/x/$confirm"),
        ("POST", "Task/x/$reject"),
    ]
    for role, facility in (("facility", "79001"), ("ministry", None), ("patient", None)):
        headers = token_for(role, facility=facility, cccd=MAN_1990 if role == "patient" else None)
        for method, path in calls:
            response = client.request(method, f"/fhir/{path}", headers=headers, json={})
            assert response.status_code == 403, (role, path, response.text)


def test_malformed_or_impossible_requests_write_nothing(client, token_for, store_counts):
    first, second = _two_strangers(client, token_for)
    person, other = _person_of(first), _person_of(second)
    merged = ok(operation(client, "Patient/$merge", source=ref(other), target=ref(person)))
    before = store_counts()
    link = f"Patient/{second['id']}/$link"
    cases = [
        (400, client.post(f"/fhir/{link}", json=patient())),
        (400, client.post(f"/fhir/{link}", json={"resourceType": "Parameters"})),
        (400, operation(client, link, person={"valueString": person})),
        (400, operation(client, link, person={"valueReference": {"reference": "Task/1"}})),
        (400, operation(client, link, person=ref(person), colour={"valueString": "red"})),
        (400, operation(client, link, person=ref("bad id!"))),
        (400, operation(client, "Patient/$undo", change={"valueInteger": 0})),
        (400, operation(client, "Patient/$undo", change={"valueString": "1"})),
        (400, operation(client, "Patient/$merge", source=ref(person))),
        (404, operation(client, "Patient/nobody/$link", person=ref(person))),
        (404, operation(client, link, person=ref("nobody"))),
        (404, operation(client, "Patient/$undo", change={"valueInteger": 10**9})),
        (404, operation(client, "Task/nothing/$confirm")),
        (409, operation(client, link, person=ref(other))),  # merged away
        (409, operation(client, "Patient/$merge", source=ref(other), target=ref(person))),
        (422, operation(client, "Patient/$merge", source=ref(person), target=ref(person))),
        (422, operation(client, f"Patient/{person}/$link", person=ref(person))),
        (422, operation(client, "Patient/$not-duplicate", person=ref(person), other=ref(person))),
    ]
    for status, response in cases:
        assert response.status_code == status, (status, response.text)
        outcome_issue(response)
    assert store_counts() == before
    assert change_of(merged) > 0


def test_a_new_national_id_never_merges_a_person_holding_another(client, app, token_for):
    other_card = make_cccd("079", "female", 1987, 9999)
    known = _push(client, token_for, "79001", _with_cccd(other_card, gender="female"))
    carded = _push(client, token_for, "01002", {**_person_like(), "identifier": _card(WOMAN_1987)})
    cardless = _push(client, token_for, "48001", _person_like(telecom=[]))
    assert _person_of(cardless) == _person_of(carded)
    facility = token_for("facility", facility="01002")
    moved = client.put(
        f"/fhir/Patient/{carded['id']}",
        json={**carded, "identifier": _card(other_card)},
        headers=facility,
    )
    assert moved.status_code == 200, moved.text
    assert partition(app) == {
        frozenset({known["id"], carded["id"]}),
        frozenset({cardless["id"]}),
    }
    task = client.get(f"/fhir/Task/mpi-national-id-{carded['id']}").json()
    assert task["code"]["coding"][0]["code"] == "national-id-conflict"
    assert task["for"]["reference"] == f"Patient/{_person_of(cardless)}"


def _card(number: str) -> list[dict]:
    return [{"system": CCCD, "value": number}]


def test_link_history_pages_oldest_first_with_next(client, token_for):
    first, second = _two_strangers(client, token_for)
    person = _person_of(first)
    for _ in range(3):  # each round trip: second moves in, then out to a person of its own
        ok(operation(client, f"Patient/{second['id']}/$link", person=ref(person)))
        ok(operation(client, f"Patient/{second['id']}/$unlink"))
    own = _person_of(client.get(f"/fhir/Patient/{second['id']}").json())
    ok(operation(client, "Patient/$not-duplicate", person=ref(own), other=ref(person)))
    url = f"/fhir/Patient/{person}/$link-history"
    whole = [e for e in ok(client.get(url))["parameter"] if e["name"] == "entry"]
    assert len(whole) == 7  # first's link, then second moved in and out three times
    seen, after, pages, marks = [], None, 0, []
    while True:
        params = {"count": 3} if after is None else {"count": 3, "after": after}
        page = ok(client.get(url, params=params))["parameter"]
        pages += 1
        seen += [e for e in page if e["name"] == "entry"]
        marks.append(sum(p["name"] == "notDuplicate" for p in page))
        following = [p["valueInteger"] for p in page if p["name"] == "next"]
        if not following:
            break
        after = following[0]
    assert seen == whole and pages == 3
    assert marks == [1, 0, 0]  # the person's not-duplicate mark: with the first page only


def test_link_history_refuses_bad_paging_parameters(client, token_for):
    first, _ = _two_strangers(client, token_for)
    url = f"/fhir/Patient/{first['id']}/$link-history"
    for params in ({"count": 0}, {"count": 1001}, {"count": "x"}, {"after": -1}, {"page": 2}):
        response = client.get(url, params=params)
        assert response.status_code == 400, params
        assert outcome_issue(response)["severity"] == "error"
