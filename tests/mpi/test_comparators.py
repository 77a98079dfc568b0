"""Comparators: symmetric, best on identical values, blind to diacritics; Vietnamese cases."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehr.mpi.comparators import (
    COMPARATORS,
    birth_date,
    commune,
    family_name,
    given_name,
    phone,
)
from ehr.mpi.features import Address, BirthDate, GivenName, match_record
from ehr.mpi.rules import default_rules
from ehr.text import normalize

PARAMS = {field.comparator.function: field.params for field in default_rules().fields}
SYLLABLES = ["an", "anh", "van", "thi", "huong", "hung", "minh", "ngoc", "ly", "my", "tuan", "quan"]
MARKED = ["an", "anh", "văn", "thị", "hương", "hùng", "hưng", "minh", "ngọc"]

syllable = st.one_of(
    st.sampled_from(SYLLABLES), st.text("abcdeghiklmnopqrstuvxy", min_size=1, max_size=6)
)
tokens = st.lists(syllable, min_size=1, max_size=4).map(tuple)
given_names = st.builds(GivenName, tokens, st.none()) | st.lists(
    st.sampled_from(MARKED), min_size=1, max_size=3
).map(
    lambda words: GivenName(tuple(match_record({"name": [{"given": words}]}).given), tuple(words))
)
births = st.builds(
    BirthDate,
    st.integers(1900, 2030),
    st.none() | st.integers(1, 12),
    st.none() | st.integers(1, 28),
).map(lambda b: b if b.month is not None else BirthDate(b.year))
addresses = st.builds(
    Address, st.none() | st.sampled_from(["01", "79", "92"]), st.none() | syllable
)
phones = st.frozensets(st.from_regex(r"09[0-9]{8}", fullmatch=True), max_size=2)

VALUES: dict[str, st.SearchStrategy[Any]] = {
    "exact": st.none() | st.sampled_from(["male", "female", "79", "01"]),
    "family_name": st.none() | syllable,
    "given_name": st.none() | given_names,
    "birth_date": st.none() | births,
    "commune": st.none() | addresses,
    "phone": st.none() | phones,
}


def _params(kind: str) -> dict[str, float]:
    function = COMPARATORS[kind].function
    return dict(PARAMS.get(function, {}))


@pytest.mark.parametrize("kind", sorted(COMPARATORS))
@given(data=st.data())
def test_every_comparator_is_symmetric(kind: str, data: st.DataObject) -> None:
    a, b = data.draw(VALUES[kind]), data.draw(VALUES[kind])
    compare = COMPARATORS[kind].function
    assert compare(a, b, _params(kind)) == compare(b, a, _params(kind))


@pytest.mark.parametrize("kind", sorted(COMPARATORS))
@given(data=st.data())
def test_a_value_compared_with_itself_is_full_agreement(kind: str, data: st.DataObject) -> None:
    value = data.draw(VALUES[kind])
    level = COMPARATORS[kind].function(value, value, _params(kind))
    if level is None:  # a missing or empty value is no evidence either way
        return
    if isinstance(value, BirthDate) and value.day is None:
        assert level == "year-only"  # all a partial date can say, even about itself
    else:
        assert level == COMPARATORS[kind].levels[0]


@pytest.mark.parametrize("kind", sorted(COMPARATORS))
@given(data=st.data())
def test_comparators_only_return_their_declared_levels(kind: str, data: st.DataObject) -> None:
    a, b = data.draw(VALUES[kind]), data.draw(VALUES[kind])
    assert COMPARATORS[kind].function(a, b, _params(kind)) in (*COMPARATORS[kind].levels, None)


names = st.lists(
    st.sampled_from(["Nguyễn", "Đặng", "Thị", "Hương", "Văn", "Đức", "Ánh"]), min_size=2, max_size=4
)


@given(names, st.booleans())
def test_names_agree_with_or_without_diacritics(words: list[str], upper: bool) -> None:
    plain = [normalize(word).upper() if upper else normalize(word) for word in words]
    a = match_record({"name": [{"family": words[0], "given": words[1:]}]})
    b = match_record({"name": [{"family": plain[0], "given": plain[1:]}]})
    assert family_name(a.family, b.family, {"close": 0.9}) == "exact"
    assert given_name(a.given_name, b.given_name, {"typo": 0.92}) == "exact"


def _given(*words: str, marked: tuple[str, ...] | None = None) -> GivenName:
    return GivenName(words, marked)


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        (_given("van", "an"), _given("an", "van"), "reordered"),
        (_given("thi", "huong"), _given("thi", "huongg"), "typo"),
        (_given("thi", "lan"), _given("thi", "aln"), "typo"),  # "aln" is no syllable
        (_given("thi", "lan"), _given("th", "lan"), "typo"),  # a slip in the middle name
        (_given("quang", "tuan"), _given("quang", "quan"), "disagree"),  # twins Tuấn, Quân
        (_given("thi", "ly"), _given("thi", "my"), "disagree"),
        (_given("thi", "thu", "ha"), _given("thu", "ha"), "partial"),
        (_given("van", "an"), _given("an"), "partial"),
        (_given("minh", "hung"), _given("minh"), "disagree"),  # the called name differs
        (_given("minh", "anh"), _given("minh", "chau"), "disagree"),
    ],
)
def test_given_name_levels(a: GivenName, b: GivenName, level: str) -> None:
    assert given_name(a, b, {"typo": 0.92}) == level


def test_twins_hung_and_hung_differ_only_in_their_accents() -> None:
    hung = _given("van", "hung", marked=("văn", "hùng"))
    hưng = _given("van", "hung", marked=("văn", "hưng"))
    plain = _given("van", "hung")
    assert given_name(hung, hưng, {"typo": 0.92}) == "accent-differs"
    assert given_name(hung, plain, {"typo": 0.92}) == "exact"


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("nguyen", "nguyen", "exact"),
        ("nguyen", "nguyn", "close"),
        ("ho", "oh", "close"),
        ("pham", "phan", "disagree"),
        ("le", "ly", "disagree"),
    ],
)
def test_family_name_levels(a: str, b: str, level: str) -> None:
    assert family_name(a, b, {"close": 0.9}) == level


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        (BirthDate(1990, 5, 12), BirthDate(1990, 12, 5), "transposed"),
        (BirthDate(1990, 5, 12), BirthDate(1991, 5, 12), "one-part"),
        (BirthDate(1990, 5, 12), BirthDate(1990, 5, 13), "one-part"),
        (BirthDate(1990, 5, 12), BirthDate(1990), "year-only"),
        (BirthDate(1990, 5, 12), BirthDate(1991), "disagree"),
        (BirthDate(1990, 5, 12), BirthDate(1990, 7, 1), "disagree"),
    ],
)
def test_birth_date_levels(a: BirthDate, b: BirthDate, level: str) -> None:
    assert birth_date(a, b, {}) == level


def test_communes_of_different_provinces_are_not_compared() -> None:
    assert commune(Address("79", "tan phu"), Address("01", "tan phu"), {"close": 0.92}) is None
    assert commune(Address("79", "tan phu"), Address(None, "tan phu"), {"close": 0.92}) == "exact"
    assert (
        commune(Address("79", "tan phu"), Address("79", "tan phong"), {"close": 0.92}) == "disagree"
    )


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ({"0912345678", "0987654321"}, {"0987654321"}, "exact"),
        ({"0912345678"}, {"0912345679"}, "typo"),
        ({"0912345678"}, {"0912345687"}, "typo"),  # two neighbours swapped
        ({"0912345678"}, {"0912345876"}, "disagree"),
        ({"0912345678"}, set(), None),
    ],
)
def test_phone_levels(a: set[str], b: set[str], level: str | None) -> None:
    assert phone(frozenset(a), frozenset(b), {}) == level
