"""Search criteria as SQL (``ehr.search.criteria_sql``) on SQLite and PostgreSQL.

Index rows are written by hand (``Store``), so each test states exactly what is indexed.
"""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_query_helpers import (
    Store,
    d,
    n,
    parse,
    period,
    qty,
    ref,
    s,
    tok,
    uri,
)
from sqlalchemy import delete, select

from ehr.search.criteria_sql import RESOURCE, TABLES, search_clause, successor
from ehr.search.dates import format_instant
from ehr.search.query_model import DateQ, NumberQ, SearchQuery
from ehr.search.values import DateValue

NOW = 1_750_000_000_000_000


def found(store: Store, query: SearchQuery, **kw: object) -> set[int]:
    where = search_clause(query, RESOURCE, now_us=NOW, **kw)  # type: ignore[arg-type]
    return set(store.session.scalars(select(RESOURCE.c.rid).where(where)))


def search(store: Store, resource_type: str, *pairs: tuple[str, str], **kw: object) -> set[int]:
    return found(store, parse(resource_type, *pairs, base_url="https://ehr.gov.vn/fhir"), **kw)


@pytest.fixture
def people(store: Store) -> dict[str, int]:
    rids = {
        "dang_van_an": store.add("Patient", "p1", ("name", s("Đặng Văn An")), ("name", s("Ana"))),
        "dang_binh": store.add("Patient", "p2", ("name", s("Dang Binh"))),
        "nguyen_an": store.add("Patient", "p3", ("name", s("Nguyễn An"))),
        "nameless": store.add("Patient", "p4", ("gender", tok(None, "male"))),
        "percent": store.add("Patient", "p5", ("name", s("50%_off"))),
        "chinese": store.add("Patient", "p6", ("name", s("中文名"))),
    }
    store.delete(store.add("Patient", "p7", ("name", s("dang"))))
    return rids


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("name", "dang")], {"dang_van_an", "dang_binh"}),
        ([("name", "DẶNG  V")], {"dang_van_an"}),
        ([("name", "an")], {"dang_van_an"}),
        ([("name", "an,binh")], {"dang_van_an"}),
        ([("name", "dang"), ("name", "dang b")], {"dang_binh"}),
        ([("name:exact", "Dang Binh")], {"dang_binh"}),
        ([("name:exact", "dang binh")], set()),
        ([("name:contains", "an")], {"dang_van_an", "dang_binh", "nguyen_an"}),
        ([("name", "50%")], {"percent"}),
        ([("name:contains", "%_")], {"percent"}),
        ([("name:contains", "_")], {"percent"}),
        ([("name", "5_")], set()),
        ([("name", "中")], {"chinese"}),
    ],
)
def test_string_search(
    store: Store, people: dict[str, int], pairs: list[tuple[str, str]], expected: set[str]
) -> None:
    assert search(store, "Patient", *pairs) == {people[k] for k in expected}


def test_string_prefix_upper_bound_handles_the_last_code_points() -> None:
    assert successor("ab") == "ac"
    assert successor("a\U0010ffff") == "b"
    assert successor("\ud7ff") == "\ue000"
    assert successor("\U0010ffff") is None


@pytest.fixture
def codes(store: Store) -> dict[str, int]:
    loinc, snomed = "http://loinc.org", "http://snomed.info/sct"
    return {
        "loinc": store.add("Observation", "o1", ("code", tok(loinc, "1234", "Blood Pressure"))),
        "snomed": store.add("Observation", "o2", ("code", tok(snomed, "1234"))),
        "bare": store.add("Observation", "o3", ("code", tok(None, "1234"))),
        "other": store.add("Observation", "o4", ("code", tok(loinc, "999"))),
        "none": store.add("Observation", "o5"),
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("code=1234", {"loinc", "snomed", "bare"}),
        ("code=http://loinc.org|1234", {"loinc"}),
        ("code=|1234", {"bare"}),
        ("code=http://loinc.org|", {"loinc", "other"}),
        ("code=1234,999", {"loinc", "snomed", "bare", "other"}),
        ("code:not=http://loinc.org|1234", {"snomed", "bare", "other", "none"}),
        ("code:text=press", {"loinc"}),
        ("code:text=blood pr", {"loinc"}),
        ("code:text=ood", set()),
        ("code:missing=true", {"none"}),
        ("code:missing=false", {"loinc", "snomed", "bare", "other"}),
    ],
)
def test_token_search(store: Store, codes: dict[str, int], value: str, expected: set[str]) -> None:
    name, _, text = value.partition("=")
    assert search(store, "Observation", (name, text)) == {codes[k] for k in expected}


def oracle_date(prefix: str, search: tuple[int, int], target: DateValue, now: int) -> bool:
    """The R4 prefix table, written over real intervals (None = infinite)."""
    sl, sh = search
    lo = -math.inf if target.low is None else target.low
    hi = math.inf if target.high is None else target.high
    contains = sl <= lo and hi <= sh
    above, below = hi > sh, lo < sl
    gap = 0 if sl <= now <= sh else min(abs(now - sl), abs(now - sh))
    table = {
        "eq": contains,
        "ne": not contains,
        "gt": above,
        "lt": below,
        "ge": above or contains,
        "le": below or contains,
        "sa": lo > sh,
        "eb": hi < sl,
        "ap": lo <= sh + gap // 10 and hi >= sl - gap // 10,
    }
    return table[prefix]


PREFIXES = ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]
_DATES = {
    "2019": d("2019"),
    "2020": d("2020"),
    "2020-03": d("2020-03"),
    "2020-03-04T10:00:00Z": d("2020-03-04T10:00:00Z"),
    "late 2019 to mid 2020": period("2019-10", "2020-06"),
    "open start to 2020": period(None, "2020-02"),
    "2020 to open end": period("2020-11", None),
    "2021": d("2021"),
    "open both": DateValue(None, None),
}
_EXPECTED_2020 = {
    "eq": {"2020", "2020-03", "2020-03-04T10:00:00Z"},
    "gt": {"2021", "2020 to open end", "open both"},
    "lt": {"2019", "late 2019 to mid 2020", "open start to 2020", "open both"},
    "sa": {"2021"},
    "eb": {"2019"},
}


@pytest.mark.parametrize("prefix", PREFIXES)
def test_date_prefixes_follow_the_spec_table(store: Store, prefix: str) -> None:
    rids = {
        k: store.add("Observation", f"d{i}", ("date", v)) for i, (k, v) in enumerate(_DATES.items())
    }
    low, high = d("2020").low, d("2020").high
    assert low is not None and high is not None
    expected = {k for k, v in _DATES.items() if oracle_date(prefix, (low, high), v, NOW)}
    if prefix in _EXPECTED_2020:
        assert expected == _EXPECTED_2020[prefix]
    assert search(store, "Observation", ("date", f"{prefix}2020")) == {rids[k] for k in expected}


_POINT = st.integers(min_value=-6, max_value=6)
_RANGE = st.tuples(st.one_of(st.none(), _POINT), st.one_of(st.none(), _POINT)).map(
    lambda r: DateValue(*sorted(r)) if None not in r else DateValue(*r)  # type: ignore[arg-type]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    targets=st.lists(st.lists(_RANGE, max_size=2), min_size=1, max_size=8),
    search_range=st.tuples(_POINT, _POINT).map(sorted),
    now=st.integers(min_value=-30, max_value=30),
)
def test_date_prefix_sql_agrees_with_the_spec_oracle(
    store: Store, targets: list[list[DateValue]], search_range: list[int], now: int
) -> None:
    scaled = [[_scaled(v) for v in ranges] for ranges in targets]
    rids = [
        store.add("Observation", f"o{i}", *(("date", v) for v in t)) for i, t in enumerate(scaled)
    ]
    low, high = search_range[0] * SCALE, search_range[1] * SCALE
    now *= SCALE
    try:
        for prefix in PREFIXES:
            criterion = parse("Observation", ("date", "2020"))
            query = _with_date(criterion, DateQ(prefix, low, high))
            where = search_clause(query, RESOURCE, now_us=now)
            got = set(store.session.scalars(select(RESOURCE.c.rid).where(where)))
            want = {
                rid
                for rid, ranges in zip(rids, scaled, strict=True)
                if any(oracle_date(prefix, (low, high), v, now) for v in ranges)
            }
            assert got == want, prefix
    finally:
        store.session.execute(delete(TABLES["date"]))
        store.session.execute(delete(RESOURCE))


SCALE = 1_000_000
"""Microseconds per unit of the generated ranges, so the 10% "ap" margin is exact."""


def _scaled(value: DateValue) -> DateValue:
    low, high = (None if x is None else x * SCALE for x in (value.low, value.high))
    return DateValue(low, high)


def _with_date(query: SearchQuery, value: DateQ) -> SearchQuery:
    (criterion,) = query.criteria
    return replace(query, criteria=(replace(criterion, values=(value,)),))


@pytest.fixture
def numbers(store: Store) -> dict[str, int]:
    texts = ["100", "100.4", "99.5", "100.5", "101", "0.5", "90", "110", "111", "-100"]
    return {
        t: store.add("RiskAssessment", f"r{i}", ("probability", n(t))) for i, t in enumerate(texts)
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100", {"100", "100.4", "99.5"}),
        ("eq100", {"100", "100.4", "99.5"}),
        ("100.0", {"100"}),
        ("1e2", {"100", "100.4", "99.5", "100.5", "101", "90", "110", "111"}),
        ("ne100", {"100.5", "101", "0.5", "90", "110", "111", "-100"}),
        ("gt100", {"100.4", "100.5", "101", "110", "111"}),
        ("sa100", {"100.4", "100.5", "101", "110", "111"}),
        ("ge100", {"100", "100.4", "100.5", "101", "110", "111"}),
        ("lt100", {"99.5", "0.5", "90", "-100"}),
        ("eb100", {"99.5", "0.5", "90", "-100"}),
        ("le100", {"100", "99.5", "0.5", "90", "-100"}),
        ("ap100", {"100", "100.4", "99.5", "100.5", "101", "90", "110"}),
        ("ap-100", {"-100"}),
        ("lt0.5,gt110", {"-100", "111"}),
    ],
)
def test_number_prefixes(
    store: Store, numbers: dict[str, int], value: str, expected: set[str]
) -> None:
    assert search(store, "RiskAssessment", ("probability", value)) == {numbers[k] for k in expected}


def oracle_number(prefix: str, value: NumberQ, target: float) -> bool:
    margin = abs(value.value) / 10
    return {
        "eq": value.low <= target < value.high,
        "ne": not value.low <= target < value.high,
        "gt": target > value.value,
        "sa": target > value.value,
        "lt": target < value.value,
        "eb": target < value.value,
        "ge": target >= value.value,
        "le": target <= value.value,
        "ap": min(value.low, value.value - margin)
        <= target
        <= max(value.high, value.value + margin),
    }[prefix]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    targets=st.lists(st.decimals(min_value=-50, max_value=50, places=1), min_size=1, max_size=8),
    searched=st.decimals(min_value=-50, max_value=50, places=1),
)
def test_number_prefix_sql_agrees_with_the_oracle(
    store: Store, targets: list[Decimal], searched: Decimal
) -> None:
    rids = [
        store.add("RiskAssessment", f"r{i}", ("probability", n(str(t))))
        for i, t in enumerate(targets)
    ]
    try:
        for prefix in PREFIXES:
            query = parse("RiskAssessment", ("probability", f"{prefix}{searched}"))
            (value,) = query.criteria[0].values
            assert isinstance(value, NumberQ)
            pairs = zip(rids, targets, strict=True)
            want = {rid for rid, t in pairs if oracle_number(prefix, value, float(t))}
            assert found(store, query) == want, prefix
    finally:
        store.session.execute(delete(TABLES["number"]))
        store.session.execute(delete(RESOURCE))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5.4", {"mg", "g", "unit-only"}),
        ("5.4|http://unitsofmeasure.org|mg", {"mg"}),
        ("5.4||mg", {"mg", "unit-only"}),
        ("5.4|http://unitsofmeasure.org|", {"mg", "g"}),
        ("gt5|http://unitsofmeasure.org|mg", {"mg", "six"}),
        ("le5.4", {"mg", "g", "unit-only"}),
    ],
)
def test_quantity_search(store: Store, value: str, expected: set[str]) -> None:
    ucum = "http://unitsofmeasure.org"
    values = {
        "mg": qty("5.4", ucum, "mg", "mg"),
        "g": qty("5.4", ucum, "g"),
        "unit-only": qty("5.4", None, None, "mg"),
        "six": qty("6", ucum, "mg"),
    }
    rids = {k: store.add("Observation", k, ("value-quantity", v)) for k, v in values.items()}
    assert search(store, "Observation", ("value-quantity", value)) == {rids[k] for k in expected}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("subject", "Patient/p1", {"patient"}),
        ("subject", "p1", {"patient", "group"}),
        ("subject:Patient", "p1", {"patient"}),
        ("subject", "Patient/p1/_history/2", {"patient"}),
        ("subject", "https://ehr.gov.vn/fhir/Patient/p1", {"patient"}),
        ("subject", "http://other.org/fhir/Patient/p1", {"external"}),
        ("patient", "p1", {"by-patient"}),
        ("subject:missing", "true", {"by-patient"}),
    ],
)
def test_reference_search(store: Store, name: str, value: str, expected: set[str]) -> None:
    rids = {
        "patient": store.add("Observation", "r1", ("subject", ref("Patient/p1"))),
        "group": store.add("Observation", "r2", ("subject", ref("Group/p1"))),
        "external": store.add(
            "Observation", "r3", ("subject", ref("http://other.org/fhir/Patient/p1"))
        ),
        "by-patient": store.add("Observation", "r4", ("patient", ref("Patient/p1"))),
    }
    assert search(store, "Observation", (name, value)) == {rids[k] for k in expected}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("url", "http://hl7.org/fhir/ValueSet/a", {"a"}),
        ("url", "http://hl7.org/fhir/ValueSet", set()),
        ("url:below", "http://hl7.org/fhir/", {"a", "b"}),
        ("url:below", "http://hl7.org/fhir/ValueSet/a", {"a"}),
        ("url:missing", "true", {"none"}),
    ],
)
def test_uri_search(store: Store, name: str, value: str, expected: set[str]) -> None:
    rids = {
        "a": store.add("ValueSet", "v1", ("url", uri("http://hl7.org/fhir/ValueSet/a"))),
        "b": store.add("ValueSet", "v2", ("url", uri("http://hl7.org/fhir/ValueSet/b"))),
        "upper": store.add("ValueSet", "v3", ("url", uri("HTTP://HL7.ORG/fhir/ValueSet/c"))),
        "none": store.add("ValueSet", "v4"),
    }
    assert search(store, "ValueSet", (name, value)) == {rids[k] for k in expected}


def test_missing_on_date_and_string(store: Store, people: dict[str, int]) -> None:
    born = store.add("Patient", "b1", ("birthdate", d("1990-05-05")), ("name", s("X")))
    everyone = set(people.values()) | {born}
    assert search(store, "Patient", ("birthdate:missing", "false")) == {born}
    assert search(store, "Patient", ("birthdate:missing", "true")) == everyone - {born}
    assert search(store, "Patient", ("name:missing", "true")) == {people["nameless"]}


@pytest.fixture
def chain(store: Store) -> dict[str, int]:
    store.add("Patient", "pa", ("name", s("An")))
    store.add("Patient", "pb", ("name", s("Binh")))
    store.add("Location", "la", ("name", s("An Giang")))
    store.delete(store.add("Patient", "gone", ("name", s("An"))))
    practitioner = store.add("Practitioner", "dr", ("name", s("An Tran")))
    store.add("Practitioner", "dr2", ("name", s("Binh")))
    store.add("Organization", "org", ("name", s("An Hospital")))
    return {
        "obs_a": store.add("Observation", "o1", ("subject", ref("Patient/pa"))),
        "obs_b": store.add("Observation", "o2", ("subject", ref("Patient/pb"))),
        "obs_loc": store.add("Observation", "o3", ("subject", ref("Location/la"))),
        "obs_gone": store.add("Observation", "o4", ("subject", ref("Patient/gone"))),
        "pat_dr": store.add("Patient", "x", ("general-practitioner", ref("Practitioner/dr"))),
        "pat_org": store.add("Patient", "y", ("general-practitioner", ref("Organization/org"))),
        "pat_dr2": store.add("Patient", "z", ("general-practitioner", ref("Practitioner/dr2"))),
        "practitioner": practitioner,
    }


@pytest.mark.parametrize(
    ("resource_type", "name", "value", "expected"),
    [
        ("Observation", "subject:Patient.name", "an", {"obs_a"}),
        ("Observation", "subject:Location.name", "an", {"obs_loc"}),
        ("Observation", "subject:Patient.name", "an,binh", {"obs_a", "obs_b"}),
        ("Observation", "subject:Patient._id", "pb", {"obs_b"}),
        ("Patient", "general-practitioner.name", "an", {"pat_dr", "pat_org"}),
        ("Patient", "general-practitioner:Practitioner.name", "an", {"pat_dr"}),
        ("Patient", "general-practitioner:Practitioner.name:exact", "Binh", {"pat_dr2"}),
    ],
)
def test_chained_search(
    store: Store, chain: dict[str, int], resource_type: str, name: str, value: str, expected: set
) -> None:
    assert search(store, resource_type, (name, value)) == {chain[k] for k in expected}


def test_chain_applies_the_access_policy_to_the_referenced_resources(
    store: Store, chain: dict[str, int]
) -> None:
    def no_practitioners(resource, types=None):  # type: ignore[no-untyped-def]
        return resource.c.res_type != "Practitioner"

    query = ("general-practitioner.name", "an")
    assert search(store, "Patient", query, visible=no_practitioners) == {chain["pat_org"]}


def test_id_and_last_updated_use_the_resource_table(store: Store) -> None:
    first = store.add("Patient", "a")
    second = store.add("Patient", "b")
    store.add("Observation", "a")
    assert search(store, "Patient", ("_id", "a,b,c")) == {first, second}
    stamp = store.session.scalar(select(RESOURCE.c.last_updated).where(RESOURCE.c.rid == second))
    assert search(store, "Patient", ("_lastUpdated", f"ge{format_instant(stamp)}")) == {second}
    assert search(store, "Patient", ("_lastUpdated", f"lt{format_instant(stamp)}")) == {first}


def test_system_search_spans_types_and_type_narrows(store: Store) -> None:
    patient = store.add("Patient", "a", ("_tag", tok("urn:t", "x")))
    observation = store.add("Observation", "b", ("_tag", tok("urn:t", "x")))
    store.add("Organization", "c", ("_tag", tok("urn:t", "y")))
    assert found(store, parse(None, ("_tag", "urn:t|x"))) == {patient, observation}
    narrowed = parse(None, ("_type", "Observation"), ("_tag", "urn:t|x"))
    assert found(store, narrowed) == {observation}
