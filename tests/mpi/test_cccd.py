"""The CCCD number: structure, birth-province prefixes, and conflicts with the Patient."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehr.config import Settings
from ehr.mpi.cccd import (
    Cccd,
    InvalidCccd,
    InvalidIdentifier,
    birth_codes,
    conflicts,
    make_cccd,
    parse_cccd,
)
from ehr.registry.provinces import read_cccd_birth_codes

PREFIXES = sorted(read_cccd_birth_codes(Settings().seed_dir))
FAR_FUTURE = date(2399, 12, 31)
TODAY = date(2025, 9, 1)


def test_ha_noi_man_born_1990():
    cccd = parse_cccd("001090012345", TODAY)
    assert cccd.prefix == "001"
    assert cccd.province_old_code == "01"
    assert cccd.province_name == "Thành phố Hà Nội"
    assert cccd.new_province_code == "01"
    assert cccd.sex == "male"
    assert cccd.birth_year == 1990
    assert cccd.serial == "012345"
    assert cccd.number == "001090012345"


def test_ho_chi_minh_city_woman_born_2001():
    cccd = parse_cccd("079301000123", TODAY)
    assert (cccd.prefix, cccd.province_name, cccd.new_province_code) == (
        "079",
        "Thành phố Hồ Chí Minh",
        "79",
    )
    assert (cccd.sex, cccd.birth_year, cccd.serial) == ("female", 2001, "000123")


def test_merged_province_keeps_its_old_birth_code_and_points_to_the_2025_province():
    """Born in Hà Giang (002): the prefix stays 002, the birth place is now Tuyên Quang."""
    cccd = parse_cccd("002185000001", TODAY)
    assert cccd.province_old_code == "02"
    assert cccd.province_name == "Tỉnh Hà Giang"
    assert (cccd.new_province_code, cccd.new_province_name) == ("08", "Tỉnh Tuyên Quang")
    assert (cccd.sex, cccd.birth_year) == ("female", 1985)


def test_only_the_63_old_province_prefixes_exist():
    assert len(birth_codes()) == 63
    assert "001" in birth_codes() and "096" in birth_codes()


@pytest.mark.parametrize("digit, sex, century", [
    ("0", "male", 1900), ("1", "female", 1900), ("2", "male", 2000), ("3", "female", 2000),
    ("4", "male", 2100), ("5", "female", 2100), ("6", "male", 2200), ("7", "female", 2200),
    ("8", "male", 2300), ("9", "female", 2300),
])  # fmt: skip
def test_digit_four_encodes_century_and_sex(digit, sex, century):
    cccd = parse_cccd(f"001{digit}07123456", FAR_FUTURE)
    assert (cccd.sex, cccd.birth_year) == (sex, century + 7)


def test_surrounding_whitespace_is_forgiven():
    assert parse_cccd("  001090012345\n", TODAY).number == "001090012345"


@pytest.mark.parametrize("text, reason", [
    ("00109001234", "12 digits, not 11"),
    ("0010900123456", "12 digits, not 13"),
    ("", "12 digits, not 0"),
    ("001 90012345", "character 4 is not"),
    ("00109001234a", "character 12 is not"),
    ("٠٠١٠٩٠٠١٢٣٤٥", "character 1 is not"),  # Arabic-Indic digits: isdigit() but not ASCII
    ("003090012345", "unknown birth-province prefix 003"),
    ("097090012345", "unknown birth-province prefix 097"),
    ("000090012345", "unknown birth-province prefix 000"),
    ("001223012345", "birth year 2023 is in the future"),
])  # fmt: skip
def test_invalid_numbers_are_rejected_with_a_precise_reason(text, reason):
    with pytest.raises(InvalidCccd) as caught:
        parse_cccd(text, date(2022, 12, 31))
    assert reason in caught.value.reason
    assert isinstance(caught.value, InvalidIdentifier) and isinstance(caught.value, ValueError)


def test_a_birth_in_the_current_year_is_not_in_the_future():
    assert parse_cccd("079325000001", date(2025, 1, 1)).birth_year == 2025


def test_non_strings_are_invalid_not_a_crash():
    for value in (None, 1090012345, ["001090012345"]):
        with pytest.raises(InvalidCccd):
            parse_cccd(value, TODAY)


def test_error_reasons_and_repr_never_contain_the_number():
    """Reasons reach OperationOutcomes and logs; a Cccd may be logged by mistake."""
    with pytest.raises(InvalidCccd) as caught:
        parse_cccd("001230012345", date(2022, 1, 1))
    assert "0012345" not in str(caught.value)
    cccd = parse_cccd("079301000123", TODAY)
    assert "000123" not in repr(cccd)
    assert cccd.masked == "079*******23"


def test_make_cccd_builds_the_documented_examples():
    assert make_cccd("001", "male", 1990, 12345) == "001090012345"
    assert make_cccd("079", "female", 2001, "000123") == "079301000123"


@pytest.mark.parametrize("args", [
    ("003", "male", 1990, 1),
    ("001", "other", 1990, 1),
    ("001", "male", 1899, 1),
    ("001", "male", 2400, 1),
    ("001", "male", 1990, 1_000_000),
    ("001", "male", 1990, -1),
    ("001", "male", 1990, "12a456"),
])  # fmt: skip
def test_make_cccd_refuses_parts_that_cannot_be_encoded(args):
    with pytest.raises(InvalidCccd):
        make_cccd(*args)


def test_no_conflict_when_the_patient_agrees():
    cccd = parse_cccd("001090012345", TODAY)
    assert conflicts(cccd, "male", "1990-05-17") == []
    assert conflicts(cccd, "male", date(1990, 5, 17)) == []


def test_sex_mismatch_is_a_conflict_for_review():
    cccd = parse_cccd("001090012345", TODAY)
    assert conflicts(cccd, "female", "1990") == [
        "the CCCD encodes sex male but Patient.gender is female"
    ]


def test_birth_year_mismatch_is_a_conflict_for_review():
    cccd = parse_cccd("079301000123", TODAY)
    assert conflicts(cccd, "female", "2000-12") == [
        "the CCCD encodes birth year 2001 but Patient.birthDate is in 2000"
    ]
    assert len(conflicts(cccd, "male", "1999-01-01")) == 2


def test_other_unknown_or_missing_gender_and_date_never_conflict():
    cccd = parse_cccd("079301000123", TODAY)
    for gender in ("other", "unknown", None, 7):
        assert conflicts(cccd, gender, None) == []
    assert conflicts(cccd, None, "not a date") == []


# --- properties -------------------------------------------------------------------------

sexes = st.sampled_from(["male", "female"])
years = st.integers(min_value=1900, max_value=2099)
serials = st.integers(min_value=0, max_value=999_999)


@given(st.sampled_from(PREFIXES), sexes, years, serials)
def test_make_then_parse_round_trips_for_every_prefix_sex_and_year(prefix, sex, year, serial):
    number = make_cccd(prefix, sex, year, serial)
    cccd = parse_cccd(number, FAR_FUTURE)
    assert isinstance(cccd, Cccd)
    assert (cccd.number, cccd.prefix, cccd.sex, cccd.birth_year, int(cccd.serial)) == (
        number,
        prefix,
        sex,
        year,
        serial,
    )
    assert cccd.province_old_code == prefix[1:]


@given(st.one_of(st.text(), st.text(alphabet="0123456789 \t", min_size=10, max_size=14)))
def test_parse_raises_nothing_but_invalid_cccd_on_arbitrary_text(text):
    try:
        parse_cccd(text, TODAY)
    except InvalidCccd as exc:
        assert exc.reason
    else:
        assert len(text.strip()) == 12


@given(st.sampled_from(PREFIXES), sexes, years, serials, st.dates())
def test_no_conflicts_when_the_patient_has_the_encoded_sex_and_year(prefix, sex, year, serial, day):
    cccd = parse_cccd(make_cccd(prefix, sex, year, serial), FAR_FUTURE)
    birth_date = date(year, day.month, min(day.day, 28))
    assert conflicts(cccd, sex, birth_date.isoformat()) == []
    assert conflicts(cccd, sex, birth_date) == []
