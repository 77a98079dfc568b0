"""Scoring: symmetric, identical records link, and the patterns that must never auto-link."""

from __future__ import annotations

import json
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from ehr.mpi.features import BirthDate, MatchRecord
from ehr.mpi.rules import default_rules
from ehr.mpi.scoring import score

RULES = default_rules()
FAMILIES = ["nguyen", "tran", "le", "pham", "hoang", "huynh", "vo", "dang", "bui", "do"]
SYLLABLES = ["van", "thi", "minh", "ngoc", "an", "anh", "hung", "huong", "lan", "tuan", "quan"]

full_births = st.tuples(st.integers(1930, 2024), st.integers(1, 12), st.integers(1, 28)).map(
    lambda parts: BirthDate(*parts)
)
births = full_births | st.integers(1930, 2024).map(BirthDate)
records = st.builds(
    MatchRecord,
    family=st.none() | st.sampled_from(FAMILIES),
    given=st.lists(st.sampled_from(SYLLABLES), max_size=3).map(tuple),
    birth=st.none() | births,
    sex=st.none() | st.sampled_from(["male", "female"]),
    province=st.none() | st.sampled_from(["01", "79", "48"]),
    commune=st.none() | st.sampled_from(["tan phu", "hoa binh", "12"]),
    phones=st.frozensets(st.sampled_from(["0912345678", "0912345679", "0987000111"]), max_size=2),
    national_id=st.none() | st.sampled_from(["001090000001", "079190000002"]),
)
complete = st.builds(
    MatchRecord,
    family=st.sampled_from(FAMILIES),
    given=st.lists(st.sampled_from(SYLLABLES), min_size=1, max_size=3).map(tuple),
    birth=full_births,
    sex=st.sampled_from(["male", "female"]),
    province=st.none() | st.sampled_from(["01", "79", "48"]),
    phones=st.frozensets(st.sampled_from(["0912345678", "0987000111"]), max_size=2),
)


@given(records, records)
def test_score_is_symmetric(a: MatchRecord, b: MatchRecord) -> None:
    ab, ba = score(a, b, RULES), score(b, a, RULES)
    assert (ab.weight, ab.score, ab.decision, ab.grade) == (
        ba.weight,
        ba.score,
        ba.decision,
        ba.grade,
    )
    assert ab.fields == ba.fields


@given(complete)
def test_identical_records_auto_link(record: MatchRecord) -> None:
    result = score(record, record, RULES)
    assert (result.decision, result.grade) == ("auto-link", "certain")


@given(records, records, st.integers(2, 40))
def test_different_birth_date_and_family_name_never_auto_link(
    a: MatchRecord, b: MatchRecord, years: int
) -> None:
    born = a.birth or BirthDate(1980, 3, 14)
    if born.month is None:
        born = BirthDate(born.year, 3, 14)
    a = replace(a, family="nguyen", birth=born)
    other = BirthDate(born.year + years, born.month % 12 + 1, born.day % 28 + 1)
    b = replace(b, family="pham", birth=other)
    assert score(a, b, RULES).decision != "auto-link"


@given(records, records)
def test_score_grade_and_decision_agree(a: MatchRecord, b: MatchRecord) -> None:
    result = score(a, b, RULES)
    assert 0.0 <= result.score <= 1.0
    assert (result.grade == "certain") == (result.decision == "auto-link")
    if result.decision == "new-person":
        assert result.grade in ("possible", "certainly-not")


@given(records, records, st.sampled_from(["0900000001", "0900000002"]))
def test_a_shared_phone_never_lowers_the_weight(
    a: MatchRecord, b: MatchRecord, number: str
) -> None:
    with_phone = score(
        replace(a, phones=a.phones | {number}), replace(b, phones=b.phones | {number}), RULES
    )
    if a.phones and b.phones:
        assert with_phone.weight >= score(a, b, RULES).weight


def _person(**changes: object) -> MatchRecord:
    base = MatchRecord(
        family="nguyen",
        given=("minh", "anh"),
        birth=BirthDate(2015, 4, 2),
        sex="female",
        province="79",
        commune="tan phu",
        phones=frozenset({"0912345678"}),
    )
    return replace(base, **changes)


def test_twins_go_to_review_however_strong_the_rest() -> None:
    result = score(_person(), _person(given=("minh", "chau")), RULES)
    assert result.weight >= RULES.auto_link
    assert (result.decision, result.grade) == ("review", "probable")
    assert result.limits and "twins" in result.limits[0]


def test_a_capped_score_stays_below_the_auto_link_score() -> None:
    twins = score(_person(), _person(given=("minh", "chau")), RULES)
    same = score(_person(), _person(), RULES)
    assert twins.score < same.score


def test_different_national_ids_are_certainly_not_one_person() -> None:
    result = score(_person(national_id="001"), _person(national_id="002"), RULES)
    assert (result.decision, result.grade) == ("new-person", "certainly-not")


def test_a_missing_field_weighs_nothing() -> None:
    result = score(_person(phones=frozenset()), _person(), RULES)
    phone = next(field for field in result.fields if field.field == "phone")
    assert (phone.level, phone.weight) == ("missing", 0.0)


def test_a_moved_person_with_name_and_birth_date_still_links() -> None:
    moved = _person(province="01", commune="hoa binh", phones=frozenset())
    assert score(_person(), moved, RULES).decision == "auto-link"


def test_the_explanation_holds_levels_and_weights_but_no_personal_data() -> None:
    stored = score(_person(national_id="001090000001"), _person(), RULES).to_json()
    text = json.dumps(stored)
    for value in ("nguyen", "minh", "0912345678", "tan phu", "001090000001"):
        assert value not in text
    assert {field["field"] for field in stored["fields"]} == {field.name for field in RULES.fields}
    assert stored["decision"] == "auto-link"
