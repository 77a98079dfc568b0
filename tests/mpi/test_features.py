"""From a FHIR Patient to a MatchRecord: every writing convention folds to one form."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehr.fhir.identifiers import CCCD
from ehr.mpi.features import (
    BirthDate,
    MatchRecord,
    match_record,
    normalize_phone,
    record_from_json,
    record_to_json,
)
from ehr.registry import EXT_PROVINCE_CODE, PROVINCE_SYSTEM


def _patient(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **fields}


def _address(**fields: Any) -> dict[str, Any]:
    return _patient(address=[{"use": "home", **fields}])


def _coded(code: str) -> dict[str, Any]:
    coding = {"system": PROVINCE_SYSTEM, "code": code}
    return {"extension": [{"url": EXT_PROVINCE_CODE, "valueCoding": coding}]}


@pytest.mark.parametrize(
    "raw",
    [
        "0912345678",
        "0912 345 678",
        "0912.345.678",
        "0912-345-678",
        "+84 912 345 678",
        "(+84) 912-345-678",
        "84912345678",
        "0084912345678",
        "912345678",
    ],
)
def test_phones_fold_to_the_national_form(raw: str) -> None:
    assert normalize_phone(raw) == "0912345678"


def test_landlines_keep_their_eleven_digits() -> None:
    assert normalize_phone("+84 24 3869 3731") == "02438693731"


@pytest.mark.parametrize("raw", ["", "12345", "không có", "0012345678", "+1 415 555 0100 22"])
def test_what_is_not_a_vietnamese_number_is_dropped(raw: str) -> None:
    assert normalize_phone(raw) is None


@given(st.from_regex(r"0[35789][0-9]{8}", fullmatch=True), st.sampled_from([" ", ".", "-", ""]))
def test_separators_never_change_a_number(number: str, separator: str) -> None:
    written = separator.join([number[:4], number[4:7], number[7:]])
    assert normalize_phone(written) == number
    assert normalize_phone("+84" + separator + written[1:]) == number


def test_names_lose_case_and_diacritics_but_keep_marks_for_twins() -> None:
    record = match_record(_patient(name=[{"family": "Đặng", "given": ["Thị", "Hương"]}]))
    assert record.family == "dang"
    assert record.given == ("thi", "huong")
    assert record.given_marked == ("thị", "hương")
    assert record.name_key == "dang thi huong"


def test_a_name_typed_without_diacritics_has_no_marked_form() -> None:
    record = match_record(_patient(name=[{"family": "NGUYEN", "given": ["VAN AN"]}]))
    assert (record.family, record.given, record.given_marked) == ("nguyen", ("van", "an"), None)


@pytest.mark.parametrize(
    "name",
    [
        {"text": "Nguyễn Văn An"},
        {"family": "Nguyễn Văn An"},
        {"family": "Nguyễn", "given": ["Văn An"]},
        {"family": "Nguyễn", "given": ["Văn", "An"]},
    ],
)
def test_every_shape_of_a_name_gives_the_same_record(name: dict[str, Any]) -> None:
    record = match_record(_patient(name=[name]))
    assert (record.family, record.given) == ("nguyen", ("van", "an"))


def test_the_official_name_wins_and_an_old_one_is_ignored() -> None:
    names = [
        {"use": "old", "family": "Trần", "given": ["Thị Mai"]},
        {"use": "nickname", "text": "Bé Na"},
        {"use": "official", "family": "Lê", "given": ["Thị Mai"]},
    ]
    assert match_record(_patient(name=names)).family == "le"


@pytest.mark.parametrize(
    ("birth", "expected"),
    [
        ("1990-05-12", BirthDate(1990, 5, 12)),
        ("1990-05", BirthDate(1990, 5, None)),
        ("1990", BirthDate(1990)),
        ("12/05/1990", None),
        ("", None),
    ],
)
def test_birth_dates_keep_only_the_precision_given(birth: str, expected: BirthDate | None) -> None:
    assert match_record(_patient(birthDate=birth)).birth == expected


@pytest.mark.parametrize(
    ("gender", "sex"), [("male", "male"), ("female", "female"), ("other", None), ("unknown", None)]
)
def test_only_male_and_female_are_evidence(gender: str, sex: str | None) -> None:
    assert match_record(_patient(gender=gender)).sex == sex


@pytest.mark.parametrize(
    ("address", "code"),
    [
        (_coded("79"), "79"),
        (_coded("74"), "79"),  # an old (pre-2025) code: Bình Dương is now Hồ Chí Minh City
        ({"state": "Thành phố Hồ Chí Minh"}, "79"),
        ({"state": "Tỉnh Bình Dương"}, "79"),
        ({"state": "Ba Ria - Vung Tau"}, "79"),
        ({"state": "TP HCM"}, "79"),
        ({"state": "tp. Hà Nội"}, "01"),
        ({"state": "Ha Giang"}, "08"),
        ({"state": "Đắk Nông"}, "68"),
        ({"state": "Atlantis"}, None),
    ],
)
def test_the_province_is_the_2025_code_however_written(
    address: dict[str, Any], code: str | None
) -> None:
    assert match_record(_address(**address)).province == code


@pytest.mark.parametrize(
    ("city", "commune"),
    [
        ("Phường Tân Phú", "tan phu"),
        ("P. Tân Phú", "tan phu"),
        ("Xa Tan Phu", "tan phu"),
        ("tân phú", "tan phu"),
        ("Thị trấn Tân Phú", "tan phu"),
        ("Phường 12", "12"),
    ],
)
def test_the_commune_loses_its_ward_or_commune_prefix(city: str, commune: str) -> None:
    assert match_record(_address(city=city)).commune == commune


def test_the_district_stands_in_when_there_is_no_city() -> None:
    assert match_record(_address(district="Xã Hòa Bình")).commune == "hoa binh"


def test_the_national_id_comes_only_from_its_system() -> None:
    identifiers = [
        {"system": "urn:oid:1.2.3", "value": "X1"},
        {"system": CCCD, "value": "001090012345"},
    ]
    assert match_record(_patient(identifier=identifiers)).national_id == "001090012345"
    other = match_record(_patient(identifier=identifiers), national_id_system="urn:other")
    assert other.national_id is None


def test_an_empty_patient_is_an_empty_record() -> None:
    assert match_record(_patient()) == MatchRecord()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(["name", "birthDate", "gender", "address", "telecom", "identifier"])


@given(st.dictionaries(_keys, _json, max_size=6))
def test_no_patient_shape_makes_feature_extraction_fail(fields: dict[str, Any]) -> None:
    assert isinstance(match_record(_patient(**fields)), MatchRecord)


_names = st.text(alphabet="aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặ ", max_size=12)


@given(
    st.builds(
        _patient,
        name=st.lists(
            st.fixed_dictionaries({"family": _names, "given": st.lists(_names, max_size=3)}),
            max_size=2,
        ),
        gender=st.sampled_from(["male", "female", "other", "unknown"]),
        birthDate=st.sampled_from(["1990", "1990-05", "1990-05-12", "2001-12-31"]),
        telecom=st.lists(
            st.builds(
                lambda value: {"system": "phone", "value": value},
                st.from_regex(r"0[35789][0-9]{8}", fullmatch=True),
            ),
            max_size=2,
        ),
        address=st.lists(st.builds(lambda city: {"use": "home", "city": city}, _names), max_size=1),
        identifier=st.lists(
            st.builds(
                lambda v: {"system": CCCD, "value": v}, st.from_regex(r"[0-9]{12}", fullmatch=True)
            ),
            max_size=1,
        ),
    )
)
def test_stored_features_read_back_as_the_same_record(patient: dict[str, Any]) -> None:
    record = match_record(patient)
    assert record_from_json(record_to_json(record)) == record
