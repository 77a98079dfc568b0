"""Parsing a FHIR search query string (``ehr.search.query``): rules and robustness."""

from __future__ import annotations

import base64
import contextlib
import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from search_query_helpers import REGISTRY, parse

from ehr.errors import InvalidSearch
from ehr.search.cursor import encode_cursor
from ehr.search.dates import date_range
from ehr.search.query import parse_search
from ehr.search.query_model import (
    DateQ,
    Include,
    MissingQ,
    NumberQ,
    ReferenceQ,
    StringQ,
    TextQ,
    TokenQ,
    UriQ,
)


def values(resource_type: str, name: str, value: str) -> tuple:
    (criterion,) = parse(resource_type, (name, value)).criteria
    return criterion.values


def test_repeated_parameters_and_while_commas_or() -> None:
    query = parse("Patient", ("name", "an,binh"), ("name", "chi"))
    assert [c.values for c in query.criteria] == [
        (StringQ("an"), StringQ("binh")),
        (StringQ("chi"),),
    ]


def test_escaped_comma_is_part_of_the_value() -> None:
    assert values("Patient", "name:exact", r"Nguyen\, Van,Le") == (
        StringQ("Nguyen, Van"),
        StringQ("Le"),
    )


def test_string_values_are_normalised_like_the_index_but_exact_is_not() -> None:
    assert values("Patient", "name", "Đặng  Thị") == (StringQ("dang thi"),)
    assert values("Patient", "name:exact", "Đặng") == (StringQ("Đặng"),)
    assert values("Patient", "name:contains", "ĐẶNG") == (StringQ("dang"),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("male", TokenQ(None, "male", False)),
        ("http://loinc.org|1234-5", TokenQ("http://loinc.org", "1234-5", True)),
        ("|1234-5", TokenQ(None, "1234-5", True)),
        ("http://loinc.org|", TokenQ("http://loinc.org", None, True)),
        (r"urn:x|a\|b", TokenQ("urn:x", "a|b", True)),
        (r"a\,b", TokenQ(None, "a,b", False)),
    ],
)
def test_token_forms(text: str, expected: TokenQ) -> None:
    assert values("Patient", "identifier", text) == (expected,)


def test_token_needs_a_system_or_a_code() -> None:
    with pytest.raises(InvalidSearch):
        parse("Patient", ("identifier", "|"))


def test_token_text_modifier_normalises() -> None:
    assert values("Observation", "code:text", "Huyết Áp") == (TextQ("huyet ap"),)


@pytest.mark.parametrize("prefix", ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"])
def test_every_date_prefix_parses_to_the_range_of_its_value(prefix: str) -> None:
    low, high = date_range("2020-02")
    assert values("Patient", "birthdate", f"{prefix}2020-02") == (DateQ(prefix, low, high),)


def test_a_date_without_prefix_means_eq() -> None:
    assert values("Patient", "birthdate", "2020")[0].prefix == "eq"


@pytest.mark.parametrize(
    "text", ["xx2020", "GE2020", "ge", "2020-13", "2020-02-30", "20", "2020-01-01T10", "gtnow"]
)
def test_bad_dates_and_prefixes_are_invalid_searches(text: str) -> None:
    with pytest.raises(InvalidSearch) as caught:
        parse("Patient", ("birthdate", text))
    assert "birthdate" in caught.value.diagnostics


def test_unknown_prefix_message_names_the_prefix() -> None:
    with pytest.raises(InvalidSearch, match="unknown prefix 'xx'"):
        parse("Patient", ("birthdate", "xx2020"))


def test_number_keeps_its_implicit_range() -> None:
    assert values("RiskAssessment", "probability", "gt0.80") == (NumberQ("gt", 0.8, 0.795, 0.805),)


@pytest.mark.parametrize(
    "text", ["abc", "1e999999", "1_000", "NaN", "Infinity", "gt", "1.2.3", "٣"]
)
def test_bad_numbers_are_invalid_searches(text: str) -> None:
    with pytest.raises(InvalidSearch):
        parse("RiskAssessment", ("probability", text))


@pytest.mark.parametrize(
    ("text", "system", "code"),
    [
        ("5.4", None, None),
        ("5.4|http://unitsofmeasure.org|mg", "http://unitsofmeasure.org", "mg"),
        ("5.4||mg", None, "mg"),
        ("le5.4|http://unitsofmeasure.org|", "http://unitsofmeasure.org", None),
    ],
)
def test_quantity_forms(text: str, system: str | None, code: str | None) -> None:
    (value,) = values("Observation", "value-quantity", text)
    assert (value.value, value.system, value.code) == (5.4, system, code)


def test_quantity_with_two_parts_is_invalid() -> None:
    with pytest.raises(InvalidSearch):
        parse("Observation", ("value-quantity", "5.4|mg"))


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("subject", "Patient/p1", ReferenceQ("Patient", "p1")),
        ("subject", "p1", ReferenceQ(None, "p1")),
        ("patient", "p1", ReferenceQ("Patient", "p1")),
        ("subject:Patient", "p1", ReferenceQ("Patient", "p1")),
        ("subject", "Patient/p1/_history/3", ReferenceQ("Patient", "p1")),
        ("subject", "http://other.org/fhir/Patient/9", ReferenceQ(None, None, "http://other.org/fhir/Patient/9")),
        ("subject", "https://ehr.gov.vn/fhir/Patient/p1", ReferenceQ("Patient", "p1")),
    ],
)  # fmt: skip
def test_reference_forms(name: str, text: str, expected: ReferenceQ) -> None:
    query = parse("Observation", (name, text), base_url="https://ehr.gov.vn/fhir/")
    assert query.criteria[0].values == (expected,)


@pytest.mark.parametrize(
    ("name", "text"),
    [("subject:Practitioner", "p1"), ("subject:Patient", "Group/g1"), ("subject", "a/b/c")],
)
def test_bad_references_are_invalid(name: str, text: str) -> None:
    with pytest.raises(InvalidSearch):
        parse("Observation", (name, text))


def test_uri_below_keeps_the_value() -> None:
    (criterion,) = parse("ValueSet", ("url:below", "http://hl7.org/fhir/")).criteria
    assert (criterion.modifier, criterion.values) == ("below", (UriQ("http://hl7.org/fhir/"),))


@pytest.mark.parametrize("flag", ["true", "false"])
def test_missing_works_on_every_type(flag: str) -> None:
    names = ["name", "gender", "birthdate", "general-practitioner", "_tag", "_profile"]
    for name in names:
        (criterion,) = parse("Patient", (f"{name}:missing", flag)).criteria
        assert criterion.values == (MissingQ(flag == "true"),)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("name:missing", "yes", "true or false"),
        ("name:foo", "x", "unknown modifier"),
        ("gender:in", "http://vs", "not supported"),
        ("gender:exact", "male", "not supported"),
        ("birthdate:exact", "2020", "not supported"),
        ("name:not", "x", "not supported"),
        ("_id:exact", "x", "takes no modifier"),
        ("_lastUpdated:missing", "true", "takes no modifier"),
    ],
)
def test_bad_modifiers_are_invalid_even_when_lenient(name: str, value: str, message: str) -> None:
    with pytest.raises(InvalidSearch, match=message):
        parse("Patient", (name, value), strict=False)


def test_chain_with_type_narrows_the_target() -> None:
    (criterion,) = parse("Observation", ("subject:Patient.name", "an")).criteria
    assert criterion.target_types == ("Patient",)
    assert criterion.chain is not None
    assert criterion.chain.param.resource_types == ("Patient",)
    assert criterion.chain.values == (StringQ("an"),)


def test_chain_without_type_uses_every_target_that_has_the_parameter() -> None:
    (criterion,) = parse("Patient", ("general-practitioner.name", "an")).criteria
    assert criterion.target_types == ("Organization", "Practitioner")


def test_chain_over_targets_where_the_parameter_differs_must_be_narrowed() -> None:
    with pytest.raises(InvalidSearch, match="narrow"):
        parse("Observation", ("subject.name", "an"))


def test_chained_modifier_applies_to_the_chained_parameter() -> None:
    (criterion,) = parse("Patient", ("general-practitioner:Practitioner.name:exact", "An")).criteria
    assert criterion.chain is not None
    assert (criterion.chain.modifier, criterion.chain.values) == ("exact", (StringQ("An"),))


@pytest.mark.parametrize(
    ("name", "message"),
    [("name.family", "reference"), ("focus.name", "name it"), ("subject:gt.name", "modifier")],
)
def test_bad_chains_are_invalid(name: str, message: str) -> None:
    with pytest.raises(InvalidSearch, match=message):
        parse("Observation" if "name." not in name else "Patient", (name, "x"))


def test_two_level_chain_is_unsupported_strict_and_ignored_lenient() -> None:
    pair = ("subject:Patient.organization.name", "x")
    with pytest.raises(InvalidSearch, match=r"subject:Patient\.organization\.name"):
        parse("Observation", pair)
    assert parse("Observation", pair, strict=False).ignored == (pair,)


@pytest.mark.parametrize(
    "name", ["nonsense", "_has:Observation:patient:code", "code-value-quantity", "_text"]
)
def test_unknown_parameter_strict_names_it_and_lenient_ignores_it(name: str) -> None:
    with pytest.raises(InvalidSearch) as caught:
        parse("Observation", (name, "x"), ("code", "1"))
    assert name in caught.value.diagnostics
    query = parse("Observation", (name, "x"), ("code", "1"), strict=False)
    assert query.ignored == ((name, "x"),)
    assert query.link_params() == [("code", "1")]
    assert len(query.criteria) == 1


def test_empty_values_are_ignored() -> None:
    query = parse("Patient", ("name", ""), ("gender", "male"))
    assert len(query.criteria) == 1
    assert query.ignored == (("name", ""),)


def test_id_and_last_updated_are_built_in() -> None:
    query = parse("Patient", ("_id", "a,b"), ("_lastUpdated", "ge2024-01-01"))
    assert query.criteria[0].values == (TokenQ(None, "a", False), TokenQ(None, "b", False))
    assert query.criteria[1].values[0].prefix == "ge"


def test_count_defaults_clamps_and_rejects_garbage() -> None:
    assert parse("Patient", default_count=7).count == 7
    clamped = parse("Patient", ("_count", "5000"), max_count=100)
    assert clamped.count == 100
    assert clamped.link_params() == [("_count", "100")]
    for bad in ["-1", "ten", "1.5", "9999999999"]:
        with pytest.raises(InvalidSearch):
            parse("Patient", ("_count", bad))


def test_sort_takes_several_keys_with_descending() -> None:
    query = parse("Patient", ("_sort", "-birthdate,name,_id,-_lastUpdated"))
    assert [(k.param.code, k.descending) for k in query.sort] == [
        ("birthdate", True),
        ("name", False),
        ("_id", False),
        ("_lastUpdated", True),
    ]
    assert query.sort_signature() == "-birthdate,name,_id,-_lastUpdated"


@pytest.mark.parametrize("key", ["general-practitioner", "nonsense", "subject.name", "name:exact"])
def test_sort_on_unsortable_parameters_strict_fails_lenient_drops_the_key(key: str) -> None:
    with pytest.raises(InvalidSearch):
        parse("Patient", ("_sort", f"name,{key}"))
    query = parse("Patient", ("_sort", f"name,-{key}"), strict=False)
    assert [k.param.code for k in query.sort] == ["name"]
    assert query.link_params() == [("_sort", "name")]


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("_total", "accurate", "all"),
        ("_summary", "count", "yes"),
        ("_pretty", "true", "1"),
    ],
)
def test_result_parameter_choices(name: str, good: str, bad: str) -> None:
    parse("Patient", (name, good))
    with pytest.raises(InvalidSearch):
        parse("Patient", (name, bad), strict=False)


def test_result_parameters_are_kept_for_links() -> None:
    query = parse(
        "Patient",
        ("_summary", "data"),
        ("_elements", "name,birthDate"),
        ("_format", "json"),
        ("_pretty", "true"),
        ("_total", "accurate"),
    )
    assert (query.summary, query.elements, query.format, query.pretty, query.total) == (
        "data",
        ("name", "birthDate"),
        "json",
        True,
        "accurate",
    )
    assert dict(query.link_params("abc"))["_cursor"] == "abc"
    with pytest.raises(InvalidSearch):
        parse("Patient", ("_elements", "name,<script>"))


def test_include_forms() -> None:
    query = parse(
        "Observation",
        ("_include", "Observation:subject"),
        ("_include", "Observation:performer:Practitioner"),
        ("_include", "Observation:*"),
        ("_include", "*"),
        ("_revinclude", "RiskAssessment:subject"),
        ("_include", "Observation:subject"),
    )
    assert query.includes == (
        Include("Observation", "subject"),
        Include("Observation", "performer", "Practitioner"),
        Include("Observation", None),
        Include(None, None),
    )
    assert query.revincludes == (Include("RiskAssessment", "subject"),)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("_include", "Patient:organization"),
        ("_include", "Observation:code"),
        ("_include", "Observation:performer:Patient"),
        ("_include", "subject"),
        ("_revinclude", "*"),
        ("_revinclude", "Nope:subject"),
    ],
)
def test_bad_includes_are_invalid(name: str, value: str) -> None:
    with pytest.raises(InvalidSearch):
        parse("Observation", (name, value))


def test_iterate_is_unsupported_strict_and_ignored_lenient() -> None:
    pair = ("_include:iterate", "Observation:subject")
    with pytest.raises(InvalidSearch, match="_include:iterate"):
        parse("Observation", pair)
    assert parse("Observation", pair, strict=False).ignored == (pair,)


def test_system_search_knows_common_parameters_and_type() -> None:
    query = parse(None, ("_type", "Patient,Observation"), ("_tag", "urn:t|a"), ("_id", "x"))
    assert query.types == ("Patient", "Observation")
    assert query.criteria[0].param.resource_types == ("Patient", "Observation")
    untyped = parse(None, ("_profile", "http://p"))
    assert untyped.types == ()
    with pytest.raises(InvalidSearch):
        parse(None, ("name", "x"))
    with pytest.raises(InvalidSearch):
        parse(None, ("_type", "Patient,NotAType"))
    with pytest.raises(InvalidSearch):
        parse("Patient", ("_type", "Patient"))


def test_cursor_round_trips_and_is_tied_to_the_sort() -> None:
    token = encode_cursor("-birthdate,name", True, (123, "an"), 7)
    query = parse("Patient", ("_sort", "-birthdate,name"), ("_cursor", token))
    assert query.cursor is not None
    assert (query.cursor.backward, query.cursor.keys, query.cursor.rid) == (True, (123, "an"), 7)
    assert "_cursor" not in dict(query.link_params())
    with pytest.raises(InvalidSearch, match="different _sort"):
        parse("Patient", ("_sort", "name"), ("_cursor", token))


@pytest.mark.parametrize(
    ("sort", "token"),
    [
        ("name", "not-base64!"),
        ("name", "x"),
        ("name", "e30"),
        ("name", encode_cursor("name", False, ("an", "extra"), 1)),
        ("name", encode_cursor("name", False, (5,), 1)),
        ("name", encode_cursor("name", False, ("an",), 2**70)),
        ("name", encode_cursor("name", False, ("an",), True)),  # type: ignore[arg-type]
        ("-birthdate", encode_cursor("-birthdate", False, ("2020",), 1)),
        ("-birthdate", encode_cursor("-birthdate", False, (1.5,), 1)),
    ],
)
def test_malformed_cursors_are_invalid_searches(sort: str, token: str) -> None:
    with pytest.raises(InvalidSearch):
        parse("Patient", ("_sort", sort), ("_cursor", token))


def test_text_no_database_can_bind_is_refused() -> None:
    for bad in ["a\x00b", "\ud800", "x" * 5000]:
        with pytest.raises(InvalidSearch):
            parse("Patient", ("name", bad))


_NAMES = st.sampled_from(
    [
        "name", "name:exact", "name:contains", "gender", "gender:not", "gender:text",
        "birthdate", "birthdate:missing", "general-practitioner",
        "general-practitioner:Practitioner", "general-practitioner.name",
        "general-practitioner:Practitioner.name:exact", "_id",
        "_lastUpdated", "_count", "_sort", "_total", "_summary", "_elements", "_include",
        "_revinclude", "_include:iterate", "_cursor", "_type", "_format", "_pretty",
        "value-quantity", "probability", "link", "link.name", "_has:x", "subject:Patient.name",
    ]
)  # fmt: skip
_ALPHABET = string.ascii_letters + string.digits + ",|\\$:._-/ %*+" + "đĐ\u00e9\u4e2d"
_VALUES = st.one_of(
    st.text(alphabet=_ALPHABET, max_size=40),
    st.text(max_size=20),
    st.sampled_from(["ge2020", "eq2020-01-01T10:00:00+07:00", "lt5.4||mg", "Patient/1", "*"]),
)


@settings(max_examples=600, deadline=None)
@given(
    resource_type=st.sampled_from(["Patient", "Observation", None, "RiskAssessment"]),
    pairs=st.lists(st.tuples(st.one_of(_NAMES, st.text(max_size=12)), _VALUES), max_size=6),
    strict=st.booleans(),
)
def test_parsing_arbitrary_text_raises_nothing_but_invalid_search(
    resource_type: str | None, pairs: list[tuple[str, str]], strict: bool
) -> None:
    with contextlib.suppress(InvalidSearch):
        parse_search(resource_type, pairs, REGISTRY, strict=strict, base_url="http://x/fhir")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=12,
)


def _token_of(payload: object) -> str:
    raw = json.dumps(payload, allow_nan=True).encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@settings(max_examples=400, deadline=None)
@given(
    payload=st.one_of(
        _JSON,
        st.tuples(
            st.just(1), st.sampled_from(["n", "p"]), st.just("name,-birthdate"), _JSON, _JSON
        ),
        st.tuples(
            st.just(1),
            st.sampled_from(["n", "p"]),
            st.just("name,-birthdate"),
            st.lists(st.one_of(st.none(), st.text(), st.integers(), st.floats()), max_size=3),
            st.integers(),
        ),
    ).map(lambda p: list(p) if isinstance(p, tuple) else p)
)
def test_forged_cursors_raise_nothing_but_invalid_search(payload: object) -> None:
    token = _token_of(payload)
    with contextlib.suppress(InvalidSearch):
        parse("Patient", ("_sort", "name,-birthdate"), ("_cursor", token))
    if isinstance(payload, list) and len(payload) == 5:
        payload[2] = "probability,-_lastUpdated"
        with contextlib.suppress(InvalidSearch):
            parse(
                "RiskAssessment",
                ("_sort", "probability,-_lastUpdated"),
                ("_cursor", _token_of(payload)),
            )


def test_cursor_keys_no_database_can_bind_are_refused() -> None:
    cases = [("RiskAssessment", "probability", 10**400), ("Patient", "name", "a\u0000")]
    cases.append(("Patient", "name", "\ud800"))
    for resource_type, sort, key in cases:
        token = _token_of([1, "n", sort, [key], 1])
        with pytest.raises(InvalidSearch):
            parse(resource_type, ("_sort", sort), ("_cursor", token))
