"""Secondary identifiers: the BHYT card code, the social insurance number, the old CMND."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehr.fhir.identifiers import BHXH, BHYT, CMND
from ehr.mpi.secondary_ids import (
    Bhyt,
    Cmnd,
    InvalidIdentifier,
    make_bhyt,
    parse_bhxh,
    parse_bhyt,
    parse_cmnd,
    parse_secondary,
)


def test_system_uris_of_the_national_profiles():
    assert BHYT == "http://fhir.hl7.org.vn/core/sid/bhyt"
    assert BHXH == "http://fhir.hl7.org.vn/core/sid/bhxh"
    assert CMND == "http://fhir.hl7.org.vn/core/sid/cmnd"


def test_legacy_card_code_pupil_in_ha_noi_at_80_percent():
    card = parse_bhyt("HS4010120878811")
    assert card == Bhyt(BHYT, "legacy_card", "HS4010120878811", "HS", 4, "01", "0120878811")


def test_legacy_card_code_letters_are_upper_cased_and_whitespace_stripped():
    card = parse_bhyt("  dn4790123456789 ")
    assert (card.value, card.group, card.province) == ("DN4790123456789", "DN", "79")


def test_card_since_2021_is_the_10_digit_social_insurance_number():
    card = parse_bhyt("7901234567")
    assert card.form == "social_insurance_number"
    assert card.social_insurance_number == "7901234567"
    assert (card.group, card.benefit_level, card.province) == (None, None, None)


@pytest.mark.parametrize("text, reason", [
    ("HS401012087881", "15 characters (card code) or 10 digits"),
    ("H14010120878811", "starts with 2 letters"),
    ("HS6010120878811", "benefit level 1-5"),
    ("HS0010120878811", "benefit level 1-5"),
    ("HS4000120878811", "province code 01-99"),
    ("HS4A10120878811", "province code 01-99"),
    ("HS401012087881X", "6-15 of a BHYT card code are 10 digits"),
    ("HS 401012087881", "benefit level 1-5"),  # no spaces inside
    ("79012345X7", "digits only"),
    ("ß4010120878811", "not 14 characters"),  # "ß".upper() == "SS" would make it valid
    (None, "is a string"),
])  # fmt: skip
def test_invalid_bhyt_numbers_say_why(text, reason):
    with pytest.raises(InvalidIdentifier) as caught:
        parse_bhyt(text)
    assert reason in caught.value.reason


def test_the_bhxh_system_takes_only_the_10_digits():
    assert parse_bhxh("7901234567") == Bhyt(
        BHXH, "social_insurance_number", "7901234567", None, None, None, "7901234567"
    )
    with pytest.raises(InvalidIdentifier, match="has 10 digits, not 15"):
        parse_bhxh("HS4010120878811")


def test_cmnd_is_9_digits():
    assert parse_cmnd(" 024123456 ") == Cmnd(CMND, "024123456")
    with pytest.raises(InvalidIdentifier, match="9 digits, not 8"):
        parse_cmnd("02412345")
    with pytest.raises(InvalidIdentifier, match="digits only"):
        parse_cmnd("02412345A")


def test_a_12_digit_cmnd_belongs_under_the_cccd_system():
    with pytest.raises(InvalidIdentifier, match="send it as the CCCD"):
        parse_cmnd("001090012345")


def test_parse_secondary_dispatches_on_the_system():
    assert isinstance(parse_secondary(BHYT, "HS4010120878811"), Bhyt)
    assert isinstance(parse_secondary(CMND, "024123456"), Cmnd)
    assert parse_secondary("urn:oid:1.2.3", "anything") is None


def test_personal_digits_stay_out_of_repr():
    assert "0120878811" not in repr(parse_bhyt("HS4010120878811"))
    assert "024123456" not in repr(parse_cmnd("024123456"))


# --- properties -------------------------------------------------------------------------

groups = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2)
levels = st.integers(min_value=1, max_value=5)
provinces = st.integers(min_value=1, max_value=99).map(lambda n: f"{n:02d}")
bhxh_numbers = st.text(alphabet="0123456789", min_size=10, max_size=10)


@given(groups, levels, provinces, bhxh_numbers)
def test_legacy_card_code_round_trips(group, level, province, number):
    card = parse_bhyt(make_bhyt(group, level, province, number))
    assert (card.form, card.group, card.benefit_level, card.province) == (
        "legacy_card",
        group,
        level,
        province,
    )
    assert card.social_insurance_number == number
    assert parse_bhyt(card.value.lower()) == card


@given(bhxh_numbers)
def test_social_insurance_number_is_the_same_person_in_both_systems(number):
    assert parse_bhyt(number).social_insurance_number == parse_bhxh(number).value == number


@given(st.text(), st.sampled_from([parse_bhyt, parse_bhxh, parse_cmnd]))
def test_parsers_raise_nothing_but_invalid_identifier_on_arbitrary_text(text, parser):
    try:
        parsed = parser(text)
    except InvalidIdentifier as exc:
        assert exc.reason
    else:
        assert len(text.strip()) in (9, 10, 15)
        assert all(char.isascii() for char in getattr(parsed, "value", "") or parsed.number)
