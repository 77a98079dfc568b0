"""The NamingSystems name the systems the code uses, with formats the parsers agree with."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehr.config import Settings
from ehr.conformance.naming_systems import naming_systems
from ehr.fhir.identifiers import BHXH, BHYT, CCCD, CMND, FACILITY_CODE, MA_CSKCB
from ehr.mpi.cccd import make_cccd
from ehr.mpi.secondary_ids import make_bhyt, parse_bhyt, parse_cmnd
from ehr.registry.facilities import generate_registry
from ehr.registry.provinces import read_provinces

REGEX = "http://hl7.org/fhir/StructureDefinition/regex"
BY_SYSTEM = {ns["uniqueId"][0]["value"]: ns for ns in naming_systems()}


def _pattern(system: str) -> re.Pattern[str]:
    (extension,) = BY_SYSTEM[system]["extension"]
    assert extension["url"] == REGEX
    return re.compile(extension["valueString"])


def test_there_is_a_naming_system_for_every_identifier_system_the_exchange_reads():
    assert {CCCD, BHYT, BHXH, CMND, FACILITY_CODE, MA_CSKCB} <= set(BY_SYSTEM)
    record = next(ns for ns in naming_systems() if ns["id"] == "facility-record")
    assert record["uniqueId"][0]["type"] == "other"
    assert "{facility-code}" in record["uniqueId"][0]["value"]


def test_the_cccd_naming_system_carries_the_12_digit_regex():
    cccd = BY_SYSTEM[CCCD]
    assert cccd["extension"] == [{"url": REGEX, "valueString": "^[0-9]{12}$"}]
    assert cccd["kind"] == "identifier" and cccd["uniqueId"][0]["preferred"] is True
    assert cccd["type"]["coding"][0]["code"] == "NI"


@given(
    prefix=st.sampled_from(["001", "002", "079", "096"]),
    sex=st.sampled_from(["male", "female"]),
    year=st.integers(1900, 2099),
    serial=st.integers(0, 999_999),
)
def test_every_well_formed_cccd_matches_the_regex(prefix, sex, year, serial):
    assert _pattern(CCCD).fullmatch(make_cccd(prefix, sex, year, serial))


@pytest.mark.parametrize(
    "value", ["00109001234", "0010900123456", "00109001234x", "", " 001090012345"]
)
def test_malformed_cccds_do_not_match(value):
    assert _pattern(CCCD).fullmatch(value) is None


@given(
    group=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
    level=st.integers(1, 5),
    province=st.integers(1, 99).map(lambda n: f"{n:02d}"),
    number=st.text(alphabet="0123456789", min_size=10, max_size=10),
)
def test_both_bhyt_forms_match_the_regex(group, level, province, number):
    card = make_bhyt(group, level, province, number)
    assert _pattern(BHYT).fullmatch(card)
    assert _pattern(BHYT).fullmatch(parse_bhyt(card).social_insurance_number)
    assert _pattern(BHXH).fullmatch(number)


@given(text=st.text(alphabet="0123456789AZ", max_size=16))
def test_the_bhyt_regex_never_accepts_what_the_parser_refuses(text):
    if _pattern(BHYT).fullmatch(text) and text[3:5] != "00":
        parse_bhyt(text)


def test_cmnd_and_facility_code_formats():
    assert parse_cmnd("123456789") and _pattern(CMND).fullmatch("123456789")
    assert _pattern(CMND).fullmatch("001090012345") is None
    provinces = read_provinces(Settings().seed_dir)
    for facility in generate_registry(provinces, province_codes=["12"]):
        assert _pattern(FACILITY_CODE).fullmatch(facility.code)
        assert _pattern(MA_CSKCB).fullmatch(facility.ma_cskcb)
