"""The terminology seed tables and ``display``/``lookup``: right codes, both languages."""

from __future__ import annotations

import re

import pytest

from ehr.config import Settings
from ehr.conformance.clinical_profiles import ICD10_PATTERN, LOINC_PATTERN
from ehr.registry import FACILITY_LEVEL_SYSTEM, LEGACY_PROVINCE_SYSTEM, PROVINCE_SYSTEM
from ehr.terminology import display, lookup
from ehr.terminology.codes import build_index
from ehr.terminology.seed_codes import read_icd10, read_loinc, read_vaccines
from ehr.terminology.systems import ACT_CODE, CVX, ICD10, LOINC

SEED = Settings().seed_dir


def _loinc_check_digit(number: str) -> int:
    """LOINC's mod-10 check digit (the Luhn scheme) of the part before the hyphen."""
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return (10 - total % 10) % 10


def test_every_loinc_code_has_a_right_check_digit_and_a_ucum_unit_where_quantitative():
    rows = read_loinc(SEED)
    assert 40 <= len(rows) <= 60
    for row in rows:
        number, check = row.code.split("-")
        assert re.fullmatch(LOINC_PATTERN, row.code)
        assert _loinc_check_digit(number) == int(check), row.code
        assert row.category in ("vital-signs", "laboratory")
    units = {row.code: row.unit for row in rows}
    assert units["29463-7"] == "kg" and units["8302-2"] == "cm" and units["8310-5"] == "Cel"
    assert units["8480-6"] == units["8462-4"] == "mm[Hg]" and units["4548-4"] == "%"
    assert units["85354-9"] == ""  # a panel has no value of its own


def test_icd10_codes_are_well_formed_unique_and_cover_the_common_diseases():
    rows = read_icd10(SEED)
    assert 80 <= len(rows) <= 150
    codes = [row.code for row in rows]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(ICD10_PATTERN, code) for code in codes)
    assert {"I10", "E11", "A90", "A91", "A15", "J18", "J44", "B18.1", "I63", "I64"} <= set(codes)
    assert all(row.display_en and row.display_vi for row in rows)


def test_the_national_immunisation_vaccines_are_there_by_cvx_code():
    vaccines = {row.code: row for row in read_vaccines(SEED)}
    assert vaccines["19"].display_en == "BCG"
    assert vaccines["08"].schedule.startswith("birth dose")
    for code in ("198", "178", "10", "05", "04", "39", "01", "35"):
        assert vaccines[code].programme == "routine", code
    assert {row.programme for row in vaccines.values()} == {"routine", "targeted"}


@pytest.mark.parametrize(
    ("system", "code", "vi", "en"),
    [
        (ICD10, "I10", "Tăng huyết áp vô căn (nguyên phát)", "Essential (primary) hypertension"),
        (ICD10, "A91", "Sốt xuất huyết Dengue", "Dengue haemorrhagic fever"),
        (LOINC, "29463-7", "Cân nặng", "Body weight"),
        (
            CVX,
            "198",
            "Vắc xin phối hợp 5 trong 1 bạch hầu - ho gà - uốn ván - viêm gan B - Hib "
            "(DPT-VGB-Hib)",
            "DTP-hepB-Hib Pentavalent Non-US",
        ),
        (ACT_CODE, "AMB", "Khám ngoại trú", "ambulatory"),
        (FACILITY_LEVEL_SYSTEM, "commune", "Tuyến xã", "Commune"),
    ],
)
def test_display_in_vietnamese_by_default_and_in_english_on_request(system, code, vi, en):
    assert display(system, code) == vi
    assert display(system, code, "vi") == vi
    assert display(system, code, "en") == en


def test_a_name_without_an_english_form_is_shown_as_it_is():
    assert display(PROVINCE_SYSTEM, "79", "en") == "Thành phố Hồ Chí Minh"
    assert display(LEGACY_PROVINCE_SYSTEM, "74", "en") == "Tỉnh Bình Dương"
    assert display(PROVINCE_SYSTEM, "79", "fr") == "Thành phố Hồ Chí Minh"


def test_unknown_codes_and_systems_have_no_display():
    assert display(ICD10, "Z99.99") is None
    assert display("http://example.org/other", "I10") is None
    assert lookup(ICD10, "i10") is None  # codes are case-sensitive


def test_the_index_holds_every_seeded_and_registry_code_once():
    index = build_index(SEED)
    counts: dict[str, int] = {}
    for concept in index:
        counts[concept.system] = counts.get(concept.system, 0) + 1
    assert counts[PROVINCE_SYSTEM] == 34 and counts[LEGACY_PROVINCE_SYSTEM] == 63
    assert counts[ICD10] == len(read_icd10(SEED)) and counts[CVX] == len(read_vaccines(SEED))
