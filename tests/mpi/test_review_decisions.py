"""The review queue: listing open tasks by search, Task/$confirm and Task/$reject."""

from __future__ import annotations

import pytest
from link_ops import change_of, link_rows, ok, open_tasks, operation, partition, ref
from test_linking import _person_like, _person_of, _push, _with_cccd

from ehr.mpi.cccd import make_cccd


def _grey_zone(client, token_for) -> tuple[dict, dict, str]:  # type: ignore[no-untyped-def]
    """A known person and a record that may be them: its task id."""
    known = _push(client, token_for, "79001", _person_like())
    unsure = _push(
        client, token_for, "48001", _person_like(telecom=[], address=[], birthDate="1987-11-21")
    )
    assert _person_of(unsure) != _person_of(known)
    return known, unsure, f"mpi-duplicate-{unsure['id']}"


def test_open_tasks_are_listed_by_ordinary_search_by_kind(client, token_for):
    _, unsure, task_id = _grey_zone(client, token_for)
    woman = make_cccd("001", "female", 1990, 777)
    conflicted = _push(client, token_for, "79001", _with_cccd(woman, gender="male"))
    assert [t["id"] for t in open_tasks(client, "possible-duplicate")] == [task_id]
    assert [t["focus"]["reference"] for t in open_tasks(client, "identity-conflict")] == [
        f"Patient/{conflicted['id']}"
    ]
    ok(operation(client, f"Task/{task_id}/$reject"))
    assert open_tasks(client, "possible-duplicate") == []
    decided = client.get("/fhir/Task", params={"status": "rejected"}).json()["entry"]
    assert [e["resource"]["focus"]["reference"] for e in decided] == [f"Patient/{unsure['id']}"]


def test_confirming_a_possible_duplicate_merges_the_persons(client, app, token_for):
    known, unsure, task_id = _grey_zone(client, token_for)
    result = ok(operation(client, f"Task/{task_id}/$confirm"))
    assert partition(app) == {frozenset({known["id"], unsure["id"]})}
    assert _person_of(client.get(f"/fhir/Patient/{unsure['id']}").json()) == _person_of(known)
    task = client.get(f"/fhir/Task/{task_id}").json()
    assert task["status"] == "completed"
    assert {"valueReference": {"reference": f"Task/{task_id}"}, "name": "task"} in result[
        "parameter"
    ]
    again = operation(client, f"Task/{task_id}/$confirm")
    assert again.status_code == 409


def test_undoing_the_change_that_closed_a_task_reopens_it(client, app, token_for):
    """Undo restores the partition before the change, so the question the task asked is
    open again; the task says which change closed it while it was closed."""
    _, _, task_id = _grey_zone(client, token_for)
    before = partition(app)
    change = change_of(ok(operation(client, f"Task/{task_id}/$confirm")))
    closed = client.get(f"/fhir/Task/{task_id}").json()
    assert closed["businessStatus"]["coding"][0]["code"] == str(change)
    ok(operation(client, "Patient/$undo", change={"valueInteger": change}))
    assert partition(app) == before
    task = client.get(f"/fhir/Task/{task_id}").json()
    assert task["status"] == "requested"
    assert "businessStatus" not in task and "statusReason" not in task
    assert [t["id"] for t in open_tasks(client, "possible-duplicate")] == [task_id]
    ok(operation(client, f"Task/{task_id}/$reject"))  # and it can be decided again
    assert client.get(f"/fhir/Task/{task_id}").json()["status"] == "rejected"


def test_rejecting_a_possible_duplicate_keeps_them_apart_for_good(client, app, token_for):
    known, unsure, task_id = _grey_zone(client, token_for)
    before = partition(app)
    ok(operation(client, f"Task/{task_id}/$reject", reason={"valueString": "different mothers"}))
    assert partition(app) == before
    task = client.get(f"/fhir/Task/{task_id}").json()
    assert task["status"] == "rejected"
    assert task["statusReason"]["text"].startswith("different mothers")
    merge = operation(
        client, "Patient/$merge", source=ref(_person_of(unsure)), target=ref(_person_of(known))
    )
    assert merge.status_code == 409
    # Pushing the record again reopens nothing.
    facility = token_for("facility", facility="48001")
    current = client.get(f"/fhir/Patient/{unsure['id']}").json()
    client.put(f"/fhir/Patient/{unsure['id']}", json=current, headers=facility)
    assert open_tasks(client, "possible-duplicate") == []


@pytest.mark.parametrize(
    ("name", "parameters", "status"),
    [
        ("$not-duplicate", lambda known, unsure: {"person": known, "other": unsure}, "rejected"),
        ("$merge", lambda known, unsure: {"source": unsure, "target": known}, "completed"),
    ],
    ids=["not-duplicate-rejects", "merge-completes"],
)
def test_answering_the_question_directly_closes_the_open_task(
    client, token_for, name, parameters, status
):
    """The admin decides on the persons, not the task: the task is closed all the same."""
    known, unsure, task_id = _grey_zone(client, token_for)
    given = parameters(_person_of(known), _person_of(unsure))
    ok(operation(client, f"Patient/{name}", **{k: ref(v) for k, v in given.items()}))
    assert client.get(f"/fhir/Task/{task_id}").json()["status"] == status


def test_an_identity_conflict_is_confirmed_as_a_manual_link_or_dismissed(client, app, token_for):
    woman = make_cccd("001", "female", 1990, 777)
    first = _push(client, token_for, "79001", _with_cccd(woman, gender="male"))
    second = _push(
        client, token_for, "01002", _with_cccd(woman, gender="male", birthDate="1990-01-01")
    )
    ok(operation(client, f"Task/mpi-review-{first['id']}/$confirm"))
    assert link_rows(app)[first["id"]][1] == "MANUAL"
    assert client.get(f"/fhir/Task/mpi-review-{first['id']}").json()["status"] == "completed"
    ok(operation(client, f"Task/mpi-review-{second['id']}/$reject"))
    assert link_rows(app)[second["id"]][1] == "AUTO"
    assert client.get(f"/fhir/Task/mpi-review-{second['id']}").json()["status"] == "rejected"
    assert _person_of(first) == _person_of(second)


def test_a_task_that_is_no_review_task_or_a_wrong_candidate_is_422(client, token_for, store_counts):
    _, _, task_id = _grey_zone(client, token_for)
    other = client.post(
        "/fhir/Task", json={"resourceType": "Task", "status": "requested", "intent": "order"}
    ).json()
    before = store_counts()
    assert operation(client, f"Task/{other['id']}/$confirm").status_code == 422
    wrong = operation(client, f"Task/{task_id}/$confirm", person=ref("someone-else"))
    assert wrong.status_code == 422
    assert store_counts() == before
