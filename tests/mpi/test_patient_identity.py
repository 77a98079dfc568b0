"""Sorting a Patient's identifiers: the CCCD rejects, conflicts flag, the rest is kept."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehr.errors import Unprocessable
from ehr.fhir.identifiers import BHXH, BHYT, CCCD, CMND
from ehr.mpi.cccd import make_cccd
from ehr.mpi.patient_identity import identity_of

TODAY = date(2025, 9, 1)
HIS = "urn:oid:1.2.704.79.1.1"
"""A facility's own medical record number system."""


def patient(*identifiers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": list(identifiers), **fields}


def cccd(value: Any) -> dict[str, Any]:
    return {"system": CCCD, "value": value}


def rejection(resource: dict[str, Any], **kwargs: Any) -> Unprocessable:
    with pytest.raises(Unprocessable) as caught:
        identity_of(resource, today=TODAY, **kwargs)
    assert caught.value.status == 422
    return caught.value


def test_a_patient_with_cccd_insurance_and_record_number():
    identity = identity_of(
        patient(
            {"system": HIS, "value": "BN-000123"},
            cccd("001090012345"),
            {"system": BHYT, "value": "HT3010120878811"},
            gender="male",
            birthDate="1990-03-02",
        ),
        today=TODAY,
    )
    assert identity.cccd is not None
    assert (identity.cccd.province_name, identity.cccd.sex, identity.cccd.birth_year) == (
        "Thành phố Hà Nội",
        "male",
        1990,
    )
    assert [(s.system, s.social_insurance_number) for s in identity.secondary] == [
        (BHYT, "0120878811")
    ]
    assert identity.facility_ids == ((HIS, "BN-000123"),)
    assert identity.review_flags == ()


def test_no_identifiers_is_no_cccd_and_nothing_else():
    identity = identity_of({"resourceType": "Patient"}, today=TODAY)
    assert (identity.cccd, identity.secondary, identity.facility_ids) == (None, (), ())


def test_malformed_cccd_rejects_the_patient_naming_the_element():
    error = rejection(patient({"system": HIS, "value": "1"}, cccd("07930100012")))
    (issue,) = error.issues
    assert (issue.code, issue.expression) == ("value", ("Patient.identifier[1].value",))
    assert "12 digits, not 11" in issue.diagnostics
    assert "07930100012" not in issue.diagnostics


def test_unknown_birth_province_prefix_rejects_the_patient():
    (issue,) = rejection(patient(cccd("099090012345"))).issues
    assert issue.expression == ("Patient.identifier[0].value",)
    assert "unknown birth-province prefix 099" in issue.diagnostics


def test_birth_year_after_today_rejects_the_patient():
    (issue,) = rejection(patient(cccd("079330000123"))).issues
    assert "2030 is in the future" in issue.diagnostics


def test_two_different_cccds_reject_the_patient():
    error = rejection(patient(cccd("001090012345"), cccd("079301000123")))
    (issue,) = error.issues
    assert issue.expression == ("Patient.identifier",)
    assert "identifier[0], identifier[1]" in issue.diagnostics


def test_the_same_cccd_twice_is_fine():
    identity = identity_of(patient(cccd("001090012345"), cccd(" 001090012345 ")), today=TODAY)
    assert identity.cccd is not None and identity.cccd.number == "001090012345"


def test_every_bad_cccd_is_reported_at_once():
    error = rejection(patient(cccd("abc"), cccd("003090012345")))
    assert [i.expression for i in error.issues] == [
        ("Patient.identifier[0].value",),
        ("Patient.identifier[1].value",),
    ]


def test_sex_and_birth_year_mismatch_is_accepted_and_flagged_not_fixed():
    identity = identity_of(
        patient(cccd("079301000123"), gender="male", birthDate="2000-01-01"), today=TODAY
    )
    assert identity.cccd is not None and identity.cccd.sex == "female"
    assert identity.review_flags == (
        "the CCCD encodes sex female but Patient.gender is male",
        "the CCCD encodes birth year 2001 but Patient.birthDate is in 2000",
    )


def test_malformed_secondary_identifiers_are_flagged_not_rejected():
    identity = identity_of(
        patient(
            {"system": BHYT, "value": "HS9010120878811"},
            {"system": BHXH, "value": "12345"},
            {"system": CMND, "value": "001090012345"},
            {"system": CMND, "value": "024123456"},
        ),
        today=TODAY,
    )
    assert [s.system for s in identity.secondary] == [CMND]
    assert len(identity.review_flags) == 3
    assert identity.review_flags[0].startswith(f"Patient.identifier[0].value ({BHYT})")
    assert "benefit level 1-5" in identity.review_flags[0]
    assert all("0120878811" not in flag for flag in identity.review_flags)


def test_the_cccd_system_is_configurable():
    national = "urn:example:national-id"
    identity = identity_of(
        patient({"system": national, "value": "001090012345"}, cccd("not checked")),
        cccd_system=national,
        today=TODAY,
    )
    assert identity.cccd is not None
    assert identity.facility_ids == ((CCCD, "not checked"),)


def test_identifiers_without_system_or_value_are_not_record_numbers():
    identity = identity_of(
        patient({"value": "123"}, {"system": HIS}, {"system": CCCD}, {"system": HIS, "value": "7"}),
        today=TODAY,
    )
    assert identity.cccd is None
    assert identity.facility_ids == ((HIS, "7"),)


def test_repeated_record_numbers_and_secondary_ids_are_kept_once():
    bhyt = {"system": BHYT, "value": "7901234567"}
    record = {"system": HIS, "value": "BN-1"}
    identity = identity_of(patient(bhyt, record, bhyt, record), today=TODAY)
    assert len(identity.secondary) == 1 and identity.facility_ids == ((HIS, "BN-1"),)


def test_broken_identifier_structure_is_unprocessable_not_a_crash():
    (issue,) = rejection({"resourceType": "Patient", "identifier": {"system": CCCD}}).issues
    assert (issue.code, issue.expression) == ("structure", ("Patient.identifier",))
    (issue,) = rejection(patient("001090012345")).issues
    assert issue.expression == ("Patient.identifier[0]",)
    (issue,) = rejection(patient(cccd(1090012345))).issues
    assert issue.expression == ("Patient.identifier[0].value",)


@given(
    st.sampled_from(["001", "079", "096"]),
    st.sampled_from(["male", "female"]),
    st.integers(1900, 2025),
    st.integers(0, 999_999),
)
def test_a_consistent_patient_is_never_flagged(prefix, sex, year, serial):
    number = make_cccd(prefix, sex, year, serial)
    identity = identity_of(
        patient(cccd(number), gender=sex, birthDate=f"{year}-06-15"), today=TODAY
    )
    assert identity.cccd is not None and identity.cccd.number == number
    assert identity.review_flags == ()


@given(st.lists(st.text(max_size=14), min_size=1, max_size=3))
def test_arbitrary_cccd_values_either_parse_or_give_422(values):
    try:
        identity = identity_of(patient(*[cccd(v) for v in values]), today=TODAY)
    except Unprocessable as error:
        assert error.issues and all(i.expression for i in error.issues)
    else:
        assert identity.cccd is not None
