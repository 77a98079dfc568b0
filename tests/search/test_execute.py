"""Running searches (``ehr.search.execute``): sorting, keyset paging, includes, totals.

Everything runs on SQLite and on PostgreSQL. Paging is checked against a pure-Python
ordering (the FHIR ``_sort`` rules) and while resources are created and deleted between
page requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cmp_to_key
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_query_helpers import (
    REGISTRY,
    Store,
    d,
    parse,
    period,
    ref,
    s,
)
from sqlalchemy import Engine, delete, event, select

from ehr.errors import InvalidSearch
from ehr.search.criteria_sql import RESOURCE, TABLES
from ehr.search.cursor import encode_cursor
from ehr.search.execute import SearchPage, run_search
from ehr.search.keyset import UNBOUNDED_HIGH, UNBOUNDED_LOW
from ehr.search.query_model import SearchQuery
from ehr.search.values import DateValue
from ehr.text import normalize


def run(
    store: Store, resource_type: str | None, *pairs: tuple[str, str], **kw: object
) -> SearchPage:
    return run_search(store.session, REGISTRY, parse(resource_type, *pairs), **kw)  # type: ignore[arg-type]


def ids(rows: list) -> list[str]:
    return [row.res_id for row in rows]


def walk(store: Store, resource_type: str, *pairs: tuple[str, str]) -> list[SearchPage]:
    """Every page from the first, following next cursors."""
    pages = [run(store, resource_type, *pairs)]
    while pages[-1].next_cursor:
        pages.append(run(store, resource_type, *pairs, ("_cursor", pages[-1].next_cursor)))
    return pages


# --- sorting -------------------------------------------------------------------------


@pytest.fixture
def family(store: Store) -> None:
    store.add("Patient", "a", ("family", s("Tran")), ("birthdate", d("1990")))
    store.add("Patient", "b", ("family", s("Le")), ("birthdate", d("1985-06")))
    store.add("Patient", "c", ("family", s("Tran")), ("birthdate", d("1970")))
    store.add("Patient", "d", ("birthdate", d("2000")))
    store.add("Patient", "e", ("family", s("Zed")), ("family", s("Abe")))
    store.add("Patient", "f", ("family", s("Le")))


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("family", "ebfacd"),
        ("-family", "eacbfd"),
        ("family,-birthdate", "ebfacd"),
        ("-birthdate,family", "dabcef"),
        ("birthdate", "cbadef"),
        ("-_id", "fedcba"),
        ("_lastUpdated", "abcdef"),
        ("-_lastUpdated", "fedcba"),
        ("", "abcdef"),
    ],
)
def test_sort_with_several_keys_min_ascending_max_descending_missing_last(
    store: Store, family: None, sort: str, expected: str
) -> None:
    page = run(store, "Patient", ("_sort", sort))
    assert "".join(ids(page.matches)) == expected


def test_date_sort_uses_the_range_ends_and_open_ends_are_extremes(store: Store) -> None:
    store.add("Observation", "open-start", ("date", period(None, "2000")))
    store.add("Observation", "y2010", ("date", d("2010")))
    store.add("Observation", "open-end", ("date", period("2005", None)))
    store.add("Observation", "two", ("date", d("2001")), ("date", d("2020")))
    assert ids(run(store, "Observation", ("_sort", "date")).matches) == [
        "open-start",
        "two",
        "open-end",
        "y2010",
    ]
    assert ids(run(store, "Observation", ("_sort", "-date")).matches) == [
        "open-end",
        "two",
        "y2010",
        "open-start",
    ]


# --- keyset paging ---------------------------------------------------------------------


def _patients(store: Store, count: int) -> None:
    for i in range(count):
        store.add("Patient", f"p{i:02}", ("family", s(f"fam{i:02}")))


@pytest.mark.parametrize("sort", ["family", "-family", "_id", ""])
def test_pages_forward_and_backward_cover_every_match_once(store: Store, sort: str) -> None:
    _patients(store, 10)
    pairs = [("_count", "3"), ("_sort", sort)]
    full = ids(run(store, "Patient", ("_sort", sort)).matches)
    forward = walk(store, "Patient", *pairs)
    assert [len(p.matches) for p in forward] == [3, 3, 3, 1]
    assert [x for p in forward for x in ids(p.matches)] == full
    assert forward[0].prev_cursor is None and forward[-1].next_cursor is None
    backward = [forward[-1]]
    while backward[-1].prev_cursor:
        backward.append(run(store, "Patient", *pairs, ("_cursor", backward[-1].prev_cursor)))
    assert [ids(p.matches) for p in reversed(backward)] == [ids(p.matches) for p in forward]
    assert backward[-1].next_cursor is not None


def test_paging_survives_inserts_and_deletes_between_pages(store: Store) -> None:
    _patients(store, 10)
    pairs = [("_count", "3"), ("_sort", "family")]
    first = run(store, "Patient", *pairs)
    assert ids(first.matches) == ["p00", "p01", "p02"]
    store.add("Patient", "early", ("family", s("fam015")))  # sorts before the boundary
    store.add("Patient", "late", ("family", s("fam055")))  # sorts after it
    _delete(store, "p01")  # already seen
    _delete(store, "p04")  # not yet seen
    seen = ids(first.matches)
    cursor = first.next_cursor
    while cursor:
        page = run(store, "Patient", *pairs, ("_cursor", cursor))
        seen += ids(page.matches)
        if page.matches:
            _delete(store, ids(page.matches)[0])
        store.add("Patient", f"new{len(seen)}", ("family", s("fam000")))
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)), "a resource was served twice"
    survivors = {f"p{i:02}" for i in range(10)} - {"p04"}
    assert survivors <= set(seen), "a pre-existing match was skipped"
    assert "late" in seen and "early" not in seen


def test_paging_backward_survives_inserts_and_deletes(store: Store) -> None:
    _patients(store, 10)
    pairs = [("_count", "3"), ("_sort", "-family")]
    last = walk(store, "Patient", *pairs)[-1]
    seen = ids(last.matches)
    cursor = last.prev_cursor
    _delete(store, "p05")
    while cursor:
        store.add("Patient", f"n{len(seen)}", ("family", s("fam999")))
        page = run(store, "Patient", *pairs, ("_cursor", cursor))
        seen += ids(page.matches)
        cursor = page.prev_cursor
    assert len(seen) == len(set(seen))
    assert {f"p{i:02}" for i in range(10)} - {"p05"} <= set(seen)


def test_an_emptied_page_still_leads_back(store: Store) -> None:
    _patients(store, 4)
    pairs = [("_count", "2"), ("_sort", "family")]
    first = run(store, "Patient", *pairs)
    _delete(store, "p02")
    _delete(store, "p03")
    empty = run(store, "Patient", *pairs, ("_cursor", first.next_cursor))  # type: ignore[arg-type]
    assert empty.matches == [] and empty.next_cursor is None and empty.prev_cursor
    back = run(store, "Patient", *pairs, ("_cursor", empty.prev_cursor))
    assert ids(back.matches) == ["p00", "p01"]


def _delete(store: Store, res_id: str) -> None:
    rid = store.session.scalar(select(RESOURCE.c.rid).where(RESOURCE.c.res_id == res_id))
    assert rid is not None
    store.delete(rid)


# Random data, random sort, random page size: the pages concatenated are the ordering the
# FHIR rules give (computed here in Python), forward and backward.

_FAMILY = st.lists(st.sampled_from(["An", "binh", "Chi", "đào"]), max_size=2)
_POINT = st.one_of(st.none(), st.integers(min_value=0, max_value=4))
_DATE = st.tuples(_POINT, _POINT).map(
    lambda r: DateValue(*sorted(r)) if None not in r else DateValue(*r)  # type: ignore[arg-type]
)
_KEYS = st.lists(
    st.sampled_from(["family", "-family", "birthdate", "-birthdate", "-_id", "_lastUpdated"]),
    unique_by=lambda k: k.lstrip("-"),
    max_size=3,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    people=st.lists(st.tuples(_FAMILY, st.lists(_DATE, max_size=2)), max_size=9),
    keys=_KEYS,
    size=st.integers(min_value=1, max_value=4),
)
def test_keyset_pages_agree_with_the_fhir_sort_order(
    store: Store, people: list[tuple[list[str], list[DateValue]]], keys: list[str], size: int
) -> None:
    rows = []
    for i, (names, dates) in enumerate(people):
        index = [("family", s(x)) for x in names] + [("birthdate", v) for v in dates]
        rows.append((store.add("Patient", f"p{i}", *index), f"p{i}", names, dates))
    try:
        expected = [r[1] for r in sorted(rows, key=cmp_to_key(lambda a, b: _compare(a, b, keys)))]
        pairs = [("_sort", ",".join(keys)), ("_count", str(size))]
        forward = walk(store, "Patient", *pairs)
        assert [x for p in forward for x in ids(p.matches)] == expected
        pages = [forward[-1]]
        while pages[-1].prev_cursor:
            pages.append(run(store, "Patient", *pairs, ("_cursor", pages[-1].prev_cursor)))
        assert [x for p in reversed(pages) for x in ids(p.matches)] == expected
    finally:
        for table in TABLES.values():
            store.session.execute(delete(table))
        store.session.execute(delete(RESOURCE))


def _sort_value(row: tuple, code: str, descending: bool) -> object:
    rid, res_id, names, dates = row
    if code == "_id":
        return res_id
    if code == "_lastUpdated":
        return rid  # stamps increase with insertion, as rids do
    if code == "family":
        values = [normalize(x) for x in names]
    elif descending:
        values = [UNBOUNDED_HIGH if v.high is None else v.high for v in dates]
    else:
        values = [UNBOUNDED_LOW if v.low is None else v.low for v in dates]
    if not values:
        return None
    return max(values) if descending else min(values)


def _compare(a: tuple, b: tuple, keys: list[str]) -> int:
    for key in keys:
        code, descending = key.lstrip("-"), key.startswith("-")
        x, y = _sort_value(a, code, descending), _sort_value(b, code, descending)
        if x == y:
            continue
        if x is None or y is None:
            return 1 if x is None else -1  # missing sorts last either way
        less = x < y  # type: ignore[operator]
        return (1 if less else -1) if descending else (-1 if less else 1)
    return (a[0] > b[0]) - (a[0] < b[0])


# --- includes ------------------------------------------------------------------------


@pytest.fixture
def clinic(store: Store) -> dict[str, int]:
    rids = {
        "pa": store.add("Patient", "pa", ("family", s("A"))),
        "pb": store.add("Patient", "pb", ("family", s("B"))),
        "dr": store.add("Practitioner", "dr"),
        "org": store.add("Organization", "org"),
    }
    gone = store.add("Patient", "gone")
    for i, (subject, performer) in enumerate(
        [("pa", "Practitioner/dr"), ("pa", "Organization/org"), ("pb", None), ("gone", None)]
    ):
        index = [("subject", ref(f"Patient/{subject}"))]
        if performer:
            index.append(("performer", ref(performer)))
        rids[f"o{i}"] = store.add("Observation", f"o{i}", *index)
    store.delete(gone)
    store.add("RiskAssessment", "risk", ("subject", ref("Patient/pa")))
    return rids


def test_include_adds_referenced_resources_once_for_the_page_only(
    store: Store, clinic: dict[str, int]
) -> None:
    page = run(store, "Observation", ("_include", "Observation:subject"), ("_count", "2"))
    assert ids(page.matches) == ["o0", "o1"]
    assert ids(page.included) == ["pa"]
    assert page.total == 4
    everything = run(store, "Observation", ("_include", "Observation:subject"))
    assert ids(everything.included) == ["pa", "pb"]  # the deleted patient is not included
    assert everything.total == 4


@pytest.mark.parametrize(
    ("include", "expected"),
    [
        ("Observation:performer", ["dr", "org"]),
        ("Observation:performer:Practitioner", ["dr"]),
        ("Observation:*", ["pa", "pb", "dr", "org"]),
        ("*", ["pa", "pb", "dr", "org"]),
    ],
)
def test_include_variants(
    store: Store, clinic: dict[str, int], include: str, expected: list[str]
) -> None:
    page = run(store, "Observation", ("_include", include))
    assert sorted(ids(page.included)) == sorted(expected)


def test_revinclude_adds_resources_pointing_at_the_matches(
    store: Store, clinic: dict[str, int]
) -> None:
    page = run(
        store,
        "Patient",
        ("_revinclude", "Observation:subject"),
        ("_revinclude", "RiskAssessment:subject"),
        ("_sort", "family"),
        ("_count", "1"),
    )
    assert ids(page.matches) == ["pa"]
    assert sorted(ids(page.included)) == ["o0", "o1", "risk"]


def test_a_match_is_never_repeated_as_an_include(store: Store, clinic: dict[str, int]) -> None:
    store.add("Patient", "pc", ("link", ref("Patient/pa")))
    page = run(store, "Patient", ("_include", "Patient:link"), ("_revinclude", "Patient:link"))
    assert sorted(ids(page.matches)) == ["pa", "pb", "pc"]
    assert page.included == []


def test_includes_are_capped_and_respect_the_access_policy(
    store: Store, clinic: dict[str, int]
) -> None:
    capped = run(store, "Observation", ("_include", "*"), max_included=2)
    assert len(capped.included) == 2 and capped.included_truncated

    def no_organizations(resource, types=None):  # type: ignore[no-untyped-def]
        return resource.c.res_type != "Organization"

    page = run(store, "Observation", ("_include", "*"), visible=no_organizations)
    assert sorted(ids(page.included)) == ["dr", "pa", "pb"]


# --- totals ---------------------------------------------------------------------------


@pytest.fixture
def counted(store: Store, search_db: Engine) -> Iterator[list[str]]:
    _patients(store, 5)
    statements: list[str] = []
    connection = store.session.connection()

    def record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(statement.lower())

    event.listen(connection, "before_cursor_execute", record)
    yield statements
    event.remove(connection, "before_cursor_execute", record)


def _counts(statements: list[str]) -> int:
    return sum("count(" in statement for statement in statements)


def test_a_first_page_that_is_not_full_gives_the_total_without_counting(
    store: Store, counted: list[str]
) -> None:
    assert run(store, "Patient", ("_count", "10")).total == 5
    assert run(store, "Patient", ("_count", "10"), ("_total", "accurate")).total == 5
    assert _counts(counted) == 0


def test_a_full_first_page_is_counted_by_default_later_pages_only_when_asked(
    store: Store, counted: list[str]
) -> None:
    assert run(store, "Patient", ("_count", "2"), ("_total", "none")).total is None
    assert run(store, "Patient", ("_count", "2"), count_first_page=False).total is None
    assert _counts(counted) == 0
    first = run(store, "Patient", ("_count", "2"))
    assert first.total == 5
    assert run(store, "Patient", ("_count", "2"), ("_cursor", first.next_cursor)).total is None  # type: ignore[arg-type]
    for total in ("accurate", "estimate"):
        pairs = [("_count", "2"), ("_total", total)]
        assert run(store, "Patient", *pairs, ("_cursor", first.next_cursor)).total == 5  # type: ignore[arg-type]


def test_summary_count_and_count_zero_return_only_the_total(
    store: Store, counted: list[str]
) -> None:
    summary = run(store, "Patient", ("_summary", "count"), ("family", "fam0"))
    assert (summary.total, summary.matches, summary.next_cursor) == (5, [], None)
    zero = run(store, "Patient", ("_count", "0"))
    assert (zero.total, zero.matches) == (5, [])
    assert run(store, "Patient", ("_count", "0"), ("_total", "none")).total is None


def test_system_search_pages_across_types(store: Store) -> None:
    store.add("Patient", "a")
    store.add("Observation", "b")
    store.add("Organization", "c")
    pages = walk(store, None, ("_type", "Patient,Observation"), ("_count", "1"))  # type: ignore[arg-type]
    assert [ids(p.matches) for p in pages] == [["a"], ["b"]]
    assert len(run(store, None).matches) == 3


def test_parsed_query_is_reusable_for_links(store: Store) -> None:
    _patients(store, 3)
    query: SearchQuery = parse(
        "Patient", ("_count", "2"), ("family", "fam"), ("bogus", "1"), strict=False
    )
    page = run_search(store.session, REGISTRY, query)
    assert query.link_params(page.next_cursor) == [
        ("_count", "2"),
        ("family", "fam"),
        ("_cursor", page.next_cursor),
    ]
    assert query.self_query == "_count=2&family=fam"
    second = parse("Patient", *query.link_params(page.next_cursor))
    assert second.self_query == urlencode(query.link_params(page.next_cursor))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    keys=st.tuples(
        st.one_of(st.none(), st.text(max_size=6)),
        st.one_of(st.none(), st.integers()),
        st.one_of(st.none(), st.integers(), st.floats()),
    ),
    rid=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    backward=st.booleans(),
)
def test_any_cursor_that_parses_runs_on_the_database(
    store: Store, keys: tuple, rid: int, backward: bool
) -> None:
    sort = "name,-birthdate,_id"
    token = encode_cursor(sort, backward, (keys[0], keys[1], keys[0]), rid)
    try:
        query = parse("Patient", ("_sort", sort), ("_cursor", token))
    except InvalidSearch:
        return
    run_search(store.session, REGISTRY, query)
    sort = "probability"
    token = encode_cursor(sort, backward, (keys[2],), rid)
    try:
        query = parse("RiskAssessment", ("_sort", sort), ("_cursor", token))
    except InvalidSearch:
        return
    run_search(store.session, REGISTRY, query)
