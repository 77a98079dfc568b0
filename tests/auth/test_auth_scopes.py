"""SMART scopes (``ehr.auth.scopes``): parsing, checking and narrowing, with properties."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehr.auth.scopes import (
    LETTERS,
    Scope,
    ScopeError,
    allows,
    exceeding,
    format_scopes,
    narrow,
    parse_scope,
    parse_scopes,
)

TYPES = ["Patient", "Encounter", "Observation", "Organization", "*"]


def permission_strings() -> st.SearchStrategy[str]:
    return st.sets(st.sampled_from(LETTERS), min_size=1).map(
        lambda letters: "".join(c for c in LETTERS if c in letters)
    )


scopes = st.builds(
    Scope,
    st.sampled_from(["patient", "user", "system"]),
    st.sampled_from(TYPES),
    permission_strings(),
)
scope_lists = st.lists(scopes, max_size=6)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("system/Encounter.cud", Scope("system", "Encounter", "cud")),
        ("patient/*.rs", Scope("patient", "*", "rs")),
        ("user/Observation.cruds", Scope("user", "Observation", "cruds")),
        ("system/*.read", Scope("system", "*", "rs")),
        ("system/Patient.write", Scope("system", "Patient", "cud")),
        ("patient/Observation.*", Scope("patient", "Observation", "cruds")),
    ],
)
def test_v2_scopes_parse_and_v1_scopes_map_to_v2(text: str, expected: Scope) -> None:
    assert parse_scope(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "system/Encounter",
        "system/Encounter.",
        "system/Encounter.sr",  # letters out of order
        "system/Encounter.rr",
        "system/Encounter.x",
        "admin/Encounter.rs",
        "system/encounter.rs",
        "system/Enc-ounter.rs",
        "system/*.rs?category=laboratory",  # constraints are not enforced, so refused
        "openid",
        "launch/patient",
        "system/*.rs extra",
        " system/*.rs",
        "system/*.Read",
    ],
)
def test_malformed_scopes_are_refused(text: str) -> None:
    with pytest.raises(ScopeError):
        parse_scope(text)


def test_a_scope_string_with_one_bad_scope_is_refused_whole() -> None:
    with pytest.raises(ScopeError):
        parse_scopes("system/*.rs openid")


def test_scope_strings_split_on_whitespace_and_drop_duplicates() -> None:
    assert parse_scopes("  system/*.rs   system/*.read system/Patient.c ") == (
        Scope("system", "*", "rs"),
        Scope("system", "Patient", "c"),
    )
    assert parse_scopes("") == ()


def test_allows_by_type_and_letter() -> None:
    granted = ("system/Encounter.cud", "patient/Observation.rs")
    assert allows(granted, "Encounter", "c")
    assert not allows(granted, "Encounter", "r")
    assert allows(granted, "Observation", "s")
    assert not allows(granted, "Observation", "c")
    assert not allows(("system/Encounter.rs",), "*", "s")  # system search needs a * scope
    assert allows(("system/*.s",), "*", "s")
    assert not allows(("not a scope",), "Patient", "r")
    with pytest.raises(ValueError):
        allows(granted, "Encounter", "rs")


def test_narrow_cuts_to_the_policy() -> None:
    assert narrow(["system/Encounter.cruds"], ["system/*.rs"]) == (
        Scope("system", "Encounter", "rs"),
    )
    assert narrow(["system/*.rs"], ["system/Encounter.cruds", "system/Patient.r"]) == (
        Scope("system", "Encounter", "rs"),
        Scope("system", "Patient", "r"),
    )
    assert narrow(["system/Encounter.cruds"], ["system/*.rs", "system/Encounter.c"]) == (
        Scope("system", "Encounter", "crs"),
    )
    assert narrow(["patient/*.rs"], ["system/*.cruds"]) == ()


def test_exceeding_names_what_the_policy_does_not_fully_grant() -> None:
    policy = ["system/Encounter.cruds", "system/*.rs"]
    assert exceeding(["system/Encounter.cud", "system/Patient.rs"], policy) == ()
    assert exceeding(["system/*.cruds"], policy) == (Scope("system", "*", "cruds"),)
    assert exceeding(["system/Patient.c"], policy) == (Scope("system", "Patient", "c"),)
    assert exceeding(["patient/*.r"], policy) == (Scope("patient", "*", "r"),)


def _allows_in(context: str, granted: tuple[Scope, ...] | list[Scope], t: str, letter: str) -> bool:
    return allows([s for s in granted if s.context == context], t, letter)


@given(scopes)
def test_format_and_parse_round_trip(scope: Scope) -> None:
    assert parse_scope(str(scope)) == scope
    assert str(parse_scope(str(scope))) == str(scope)


@given(scope_lists)
def test_scope_strings_round_trip(many: list[Scope]) -> None:
    text = format_scopes(many)
    assert parse_scopes(text) == tuple(dict.fromkeys(many))
    assert format_scopes(parse_scopes(text)) == format_scopes(dict.fromkeys(many))


@given(scope_lists, scope_lists)
def test_narrow_never_grants_more_than_the_policy_or_the_request(
    requested: list[Scope], policy: list[Scope]
) -> None:
    granted = narrow(requested, policy)
    for context in ("patient", "user", "system"):
        for resource_type in TYPES:
            for letter in LETTERS:
                if _allows_in(context, granted, resource_type, letter):
                    assert _allows_in(context, policy, resource_type, letter)
                    assert _allows_in(context, requested, resource_type, letter)


@given(scope_lists, scope_lists)
def test_a_request_within_the_policy_is_granted_whole(
    requested: list[Scope], policy: list[Scope]
) -> None:
    if exceeding(requested, policy):
        return
    granted = narrow(requested, policy)
    for context in ("patient", "user", "system"):
        for resource_type in TYPES:
            for letter in LETTERS:
                if _allows_in(context, requested, resource_type, letter):
                    assert _allows_in(context, granted, resource_type, letter)


@given(scope_lists)
def test_narrowing_by_itself_grants_the_request(requested: list[Scope]) -> None:
    assert exceeding(requested, requested) == ()


@given(st.text(max_size=60))
def test_parsing_any_text_raises_only_scope_error(text: str) -> None:
    with contextlib.suppress(ScopeError):
        parse_scopes(text)
