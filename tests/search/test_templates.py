"""Search statements built once per query shape (``ehr.search.templates``).

A templated search must find exactly what the same search built for itself finds, on
SQLite and PostgreSQL; two requests of one shape must never see each other's values (the
search values, or the caller's facility in the access policy).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_query_helpers import REGISTRY, Store, parse, ref, s, tok, uri
from sqlalchemy import ColumnElement, FromClause, true, update

from ehr.access.policy import AccessPolicy
from ehr.auth.principal import Principal
from ehr.search.criteria_sql import RESOURCE
from ehr.search.execute import run_search
from ehr.search.templates import Slot, SlottedVisibility, bind_slots, slotted

SYSTEMS = ["urn:a", "urn:b"]
CODES = ["1", "2", "x|y", "%_"]


def _direct(resource: FromClause, types: object = None) -> ColumnElement[bool]:
    """A plain policy: the search is built for the query alone, never from a template."""
    return true()


@pytest.fixture
def people(store: Store) -> Store:
    for index, (system, code) in enumerate((s_, c) for s_ in SYSTEMS for c in CODES):
        store.add(
            "Patient",
            f"p{index}",
            ("identifier", tok(system, code)),
            ("family", s(f"Family {index % 3}")),
            ("organization", ref(f"Organization/o{index % 2}")),
            ("_profile", uri(f"urn:profile:{index % 2}")),
        )
    store.add("Patient", "nosystem", ("identifier", tok(None, "1")))
    store.add("Organization", "o0", ("name", s("Bach Mai")))
    return store


def _ids(store: Store, pairs: list[tuple[str, str]], visible: object = None) -> list[str]:
    page = run_search(store.session, REGISTRY, parse("Patient", *pairs), visible=visible)  # type: ignore[arg-type]
    return [row.res_id for row in page.matches]


_token = st.builds(
    lambda system, code: f"{system}|{code}" if system is not None else code,
    st.sampled_from([None, "", *SYSTEMS, "urn:none"]),
    st.sampled_from([*CODES, "absent"]),
)
_criterion = st.one_of(
    st.tuples(st.sampled_from(["identifier", "identifier:not"]), _token),
    st.tuples(st.just("organization"), st.sampled_from(["Organization/o0", "o1", "o9"])),
    st.tuples(st.just("_profile"), st.sampled_from(["urn:profile:0", "urn:profile:1"])),
    st.tuples(st.just("family:exact"), st.sampled_from(["family 1", "Family 1"])),
    st.tuples(st.just("_id"), st.sampled_from(["p1", "p2,p3", "nosystem"])),
    st.tuples(st.just("organization:missing"), st.sampled_from(["true", "false"])),
    st.tuples(st.just("organization.name:exact"), st.sampled_from(["Bach Mai", "Cho Ray"])),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pairs=st.lists(_criterion, min_size=1, max_size=3))
def test_a_templated_search_finds_what_the_search_built_alone_finds(
    people: Store, pairs: list[tuple[str, str]]
) -> None:
    assert slotted(parse("Patient", *pairs)) is not None  # the templated path is taken
    templated = _ids(people, pairs)
    assert templated == _ids(people, pairs, visible=_direct)
    # ... and again from the template now cached, with other values of the same shape
    assert _ids(people, pairs) == templated


def test_requests_of_one_shape_share_the_statement_but_not_their_values(people: Store) -> None:
    one = slotted(parse("Patient", ("identifier", "urn:a|1")))
    two = slotted(parse("Patient", ("identifier", "urn:b|2")))
    assert one is not None and two is not None
    assert one.shape == two.shape and one.values != two.values
    assert _ids(people, [("identifier", "urn:a|1")]) == ["p0"]
    assert _ids(people, [("identifier", "urn:b|2")]) == ["p5"]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("urn:a|1", "1"),  # a system, or any system
        ("urn:a|1", "|1"),  # a system, or none
        ("urn:a|1", "urn:a|"),  # a code, or any code
    ],
)
def test_what_shapes_the_sql_is_part_of_the_shape(a: str, b: str) -> None:
    one, two = (
        slotted(parse("Patient", ("identifier", a))),
        slotted(parse("Patient", ("identifier", b))),
    )
    assert one is not None and two is not None and one.shape != two.shape


@pytest.mark.parametrize(
    "pair",
    [
        ("family", "Tran"),  # a string prefix: its successor is computed
        ("identifier:text", "card"),
        ("_profile:below", "urn:profile"),
        ("_lastUpdated", "gt2020"),
    ],
)
def test_a_value_the_builders_compute_with_is_not_templated(pair: tuple[str, str]) -> None:
    assert slotted(parse("Patient", pair)) is None


def test_a_slot_left_unbound_would_be_searched_for_as_text() -> None:
    """The guard behind every other test here: a slot is a bind parameter, not a value."""
    from sqlalchemy import select

    statement = select(RESOURCE.c.rid).where(RESOURCE.c.res_id == Slot("c0v0code"))
    template = bind_slots(statement)
    compiled = template.statement.compile()
    assert "c0v0code" in compiled.params and compiled.params["c0v0code"] is None
    assert template.statement.compile(column_keys=None).construct_params({"c0v0code": "p1"}) == {
        "c0v0code": "p1"
    }


def _facility_store(store: Store) -> None:
    for facility in ("79001", "01001"):
        rid = store.add("Observation", f"obs-{facility}", ("code", tok("urn:loinc", "8867-4")))
        store.session.execute(
            update(RESOURCE).where(RESOURCE.c.rid == rid).values(facility=facility)
        )


def _policy(facility: str) -> AccessPolicy:
    principal = Principal(subject=f"facility-{facility}", role="facility", facility=facility)
    return AccessPolicy(principal, frozenset({"Observation", "Patient"}), "urn:cccd")


def test_two_facilities_of_one_shape_each_see_their_own(store: Store) -> None:
    _facility_store(store)
    query = parse("Observation", ("code", "urn:loinc|8867-4"))
    everyone = run_search(store.session, REGISTRY, query)  # no policy: a shape of its own
    assert sorted(row.res_id for row in everyone.matches) == ["obs-01001", "obs-79001"]
    seen = {}
    for facility in ("79001", "01001", "79001"):
        visible = _policy(facility).slotted_visibility
        assert isinstance(visible, SlottedVisibility) and visible.values == {
            "vis_facility": facility
        }
        page = run_search(store.session, REGISTRY, query, visible=visible)
        seen.setdefault(facility, []).append([row.res_id for row in page.matches])
    assert seen == {"79001": [["obs-79001"], ["obs-79001"]], "01001": [["obs-01001"]]}
    assert _policy("79001").slotted_visibility.key == _policy("01001").slotted_visibility.key
