"""Properties of linking (hypothesis, on SQLite): order independence, idempotence, undo.

Every example starts from an empty store (``_empty``), pushes records with fixed ids
(``r0``, ``r1``...) through the API and reads the partition of records into persons.
The order-independence claim and why it is the strongest one that holds are in
docs/matching.md ("Order independence").
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from link_ops import change_of, link_rows, operation, partition, ref
from sqlalchemy import func, select
from sqlmodel import SQLModel

from ehr.config import Settings
from ehr.db.schema import PersonLinkHistory
from ehr.mpi.blocking import blocking_keys
from ehr.mpi.cccd import make_cccd
from ehr.mpi.features import default_province_index, match_record
from ehr.mpi.rules import default_rules
from ehr.mpi.scoring import score
from ehr.text import normalize

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# Three people nobody would confuse, each with a national ID matching sex and birth year.
PEOPLE: list[dict[str, Any]] = [
    {
        "name": ("Phạm", "Thị Ngọc Anh"),
        "gender": "female",
        "birthDate": "1987-11-02",
        "phone": "0912345678",
        "city": "Phường Bến Nghé",
        "state": "Thành phố Hồ Chí Minh",
        "cccd": make_cccd("079", "female", 1987, 1001),
    },
    {
        "name": ("Trần", "Văn Bình"),
        "gender": "male",
        "birthDate": "1975-03-14",
        "phone": "0987654321",
        "city": "Phường Ba Đình",
        "state": "Thành phố Hà Nội",
        "cccd": make_cccd("001", "male", 1975, 2002),
    },
    {
        "name": ("Lê", "Thị Hoa"),
        "gender": "female",
        "birthDate": "1992-07-21",
        "phone": "0909111222",
        "city": "Phường Hải Châu",
        "state": "Thành phố Đà Nẵng",
        "cccd": make_cccd("048", "female", 1992, 3003),
    },
]


def _record(person: int, variant: tuple[bool, bool, bool], twin: bool = False) -> dict[str, Any]:
    """A facility's record of ``PEOPLE[person]``: with or without diacritics, phone, card.

    ``twin``: the same details under another called name (a twin, never auto-linked)."""
    folded, phone, card = variant
    who = PEOPLE[person]
    family, given = who["name"]
    if twin:
        given = given.rsplit(" ", 1)[0] + " Lan"
    if folded:
        family, given = normalize(family), normalize(given)
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"family": family, "given": given.split()}],
        "gender": who["gender"],
        "birthDate": who["birthDate"],
        "address": [{"city": who["city"], "state": who["state"]}],
    }
    if phone:
        body["telecom"] = [{"system": "phone", "value": who["phone"]}]
    if card and not twin:
        body["identifier"] = [{"system": CCCD, "value": who["cccd"]}]
    return body


variants = st.tuples(st.booleans(), st.booleans(), st.booleans())
records = st.lists(st.tuples(st.integers(0, len(PEOPLE) - 1), variants), min_size=1, max_size=6)


def _empty(app) -> None:  # type: ignore[no-untyped-def]
    """Delete every row: the next example starts from a blank store."""
    with app.state.services.engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())


def _push_all(client, bodies: dict[str, dict], order: list[str]) -> None:  # type: ignore[no-untyped-def]
    for label in order:
        response = client.put(f"/fhir/Patient/{label}", json={**bodies[label], "id": label})
        assert response.status_code in (200, 201), response.text


def _history_rows(app) -> int:  # type: ignore[no-untyped-def]
    with app.state.services.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(PersonLinkHistory)).scalar_one()


def _decisions_are_clean(bodies: dict[str, dict], people: dict[str, int]) -> bool:
    """Pairwise, the matcher auto-links exactly the records of one person (sharing a
    blocking key), and puts every other pair below review."""
    config = Settings()
    rules = default_rules(config.profiles_dir)
    provinces = default_province_index(config.seed_dir)
    features = {
        label: match_record(body, provinces=provinces, national_id_system=CCCD)
        for label, body in bodies.items()
    }
    for a, b in itertools.combinations(sorted(bodies), 2):
        same = people[a] == people[b]
        shared = blocking_keys(features[a], rules) & blocking_keys(features[b], rules)
        decision = score(features[a], features[b], rules).decision
        cards = features[a].national_id and features[b].national_id
        if same and not cards and not (shared and decision == "auto-link"):
            return False
        if not same and shared and decision != "new-person":
            return False
    return True


@sqlite_only
@PROPERTY
@given(pushed=records, seed=st.randoms(use_true_random=False))
def test_the_partition_does_not_depend_on_the_order_of_pushes(client, app, pushed, seed):
    """Records of well-separated people, with or without a card, in any two orders: the same
    persons, and exactly one per person."""
    bodies = {f"r{i}": _record(person, variant) for i, (person, variant) in enumerate(pushed)}
    people = {f"r{i}": person for i, (person, _) in enumerate(pushed)}
    assert _decisions_are_clean(bodies, people)
    expected = {
        frozenset(label for label in bodies if people[label] == person)
        for person in set(people.values())
    }
    order = sorted(bodies)
    shuffled = list(order)
    seed.shuffle(shuffled)
    results = []
    for sequence in (order, shuffled):
        _empty(app)
        _push_all(client, bodies, sequence)
        results.append(partition(app))
    assert results[0] == results[1] == expected


@sqlite_only
@PROPERTY
@given(pushed=records, twins=st.lists(st.integers(0, len(PEOPLE) - 1), max_size=2))
def test_pushing_any_record_again_changes_nothing(client, app, pushed, twins):
    """Idempotence, also with twins in the grey zone: a second push moves no record and
    records no change."""
    _empty(app)
    bodies = {f"r{i}": _record(person, variant) for i, (person, variant) in enumerate(pushed)}
    for j, person in enumerate(twins):
        bodies[f"t{j}"] = _record(person, (False, True, False), twin=True)
    _push_all(client, bodies, sorted(bodies))
    links, history = link_rows(app), _history_rows(app)
    for label in sorted(bodies):
        current = client.get(f"/fhir/Patient/{label}").json()
        assert client.put(f"/fhir/Patient/{label}", json=current).status_code == 200
    assert link_rows(app) == links
    assert _history_rows(app) == history


@sqlite_only
@PROPERTY
@given(
    pushed=records,
    twins=st.lists(st.integers(0, len(PEOPLE) - 1), max_size=2),
    seed=st.randoms(use_true_random=False),
)
def test_in_any_order_cards_decide_and_twins_stay_apart(client, app, pushed, twins, seed):
    """Whatever the order, including grey-zone records: one card, one person; two cards,
    never one person; a twin never joins their sibling; every record in exactly one person."""
    _empty(app)
    bodies = {f"r{i}": _record(person, variant) for i, (person, variant) in enumerate(pushed)}
    for j, person in enumerate(twins):
        bodies[f"t{j}"] = _record(person, (False, True, False), twin=True)
    order = sorted(bodies)
    seed.shuffle(order)
    _push_all(client, bodies, order)
    links = link_rows(app)
    assert set(links) == set(bodies)
    person_of = {label: links[label][0] for label in bodies}
    cards = {label: b["identifier"][0]["value"] for label, b in bodies.items() if "identifier" in b}
    for a, b in itertools.combinations(sorted(bodies), 2):
        if a in cards and b in cards:
            assert (person_of[a] == person_of[b]) == (cards[a] == cards[b]), (a, b)
        if a.startswith("t") and _sibling(twins, a, b, pushed):
            assert person_of[a] != person_of[b], (a, b)


def _sibling(twins: list[int], twin: str, other: str, pushed: list) -> bool:  # type: ignore[type-arg]
    """Whether record ``other`` is of the person ``twin`` is the twin of."""
    return other.startswith("r") and twins[int(twin[1:])] == pushed[int(other[1:])][0]


ops = st.lists(
    st.one_of(
        st.tuples(st.just("link"), st.integers(0, 5), st.integers(0, 5)),
        st.tuples(st.just("unlink"), st.integers(0, 5), st.just(0)),
        st.tuples(st.just("merge"), st.integers(0, 5), st.integers(0, 5)),
        st.tuples(st.just("undo"), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=6,
)


def _check_invariants(client, app, labels: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Every record is linked to exactly one person; its refer link and its person's golden
    record say the same."""
    links = link_rows(app)
    assert set(links) == set(labels)
    for person in {person for person, _ in links.values()}:
        golden = client.get(f"/fhir/Patient/{person}").json()
        members = {f"Patient/{label}" for label, (p, _) in links.items() if p == person}
        seealso = {
            link["other"]["reference"] for link in golden["link"] if link["type"] == "seealso"
        }
        assert golden["active"] is True and seealso == members
    for label in labels:
        refer = [
            link["other"]["reference"]
            for link in client.get(f"/fhir/Patient/{label}").json()["link"]
            if link["type"] == "refer"
        ]
        assert refer == [f"Patient/{links[label][0]}"]


@sqlite_only
@PROPERTY
@given(pushed=records, steps=ops)
def test_link_unlink_merge_and_undo_keep_one_person_per_record(client, app, pushed, steps):
    """Any sequence of admin operations keeps every record in exactly one person, and
    undoing the latest change restores the partition before it."""
    _empty(app)
    bodies = {f"r{i}": _record(person, variant) for i, (person, variant) in enumerate(pushed)}
    labels = sorted(bodies)
    _push_all(client, bodies, labels)
    last: tuple[int, set[frozenset[str]]] | None = None
    for kind, i, j in steps:
        a, b = labels[i % len(labels)], labels[j % len(labels)]
        before = partition(app)
        person_a, person_b = link_rows(app)[a][0], link_rows(app)[b][0]
        if kind == "link":
            response = operation(client, f"Patient/{a}/$link", person=ref(person_b))
        elif kind == "unlink":
            response = operation(client, f"Patient/{a}/$unlink")
        elif kind == "merge":
            response = operation(
                client, "Patient/$merge", source=ref(person_a), target=ref(person_b)
            )
        else:
            if last is None:
                continue
            change, restored = last
            response = operation(client, "Patient/$undo", change={"valueInteger": change})
            assert response.status_code == 200, response.text
            assert partition(app) == restored
            last = None
            _check_invariants(client, app, labels)
            continue
        assert response.status_code in (200, 409, 422), response.text
        if response.status_code == 200:
            last = (change_of(response.json()), before)
        else:
            assert partition(app) == before
            last = None
        _check_invariants(client, app, labels)
