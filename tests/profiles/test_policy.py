"""EHR_PROFILE_POLICY: a default action and overrides per profile."""

from __future__ import annotations

import pytest

from ehr.profiles.participant import profile_validation
from ehr.profiles.policy import ACCEPT_AND_FLAG, REJECT, ProfilePolicy

PATIENT = "http://fhir.hl7.org.vn/core/StructureDefinition/test-patient"
OBSERVATION = "http://fhir.hl7.org.vn/core/StructureDefinition/test-observation"


def test_the_default_is_accept_and_flag(fixture_profiles):
    policy = ProfilePolicy.parse("")
    assert policy.action(PATIENT, fixture_profiles) == ACCEPT_AND_FLAG
    assert not policy.rejects([PATIENT], fixture_profiles)


def test_overrides_name_profiles_by_id_or_canonical_url(fixture_profiles):
    policy = ProfilePolicy.parse(f"accept-and-flag; reject:test-patient,{OBSERVATION}")
    assert policy.action(PATIENT, fixture_profiles) == REJECT
    assert policy.action(OBSERVATION, fixture_profiles) == REJECT
    other = "http://fhir.hl7.org.vn/core/StructureDefinition/test-encounter"
    assert policy.action(other, fixture_profiles) == ACCEPT_AND_FLAG


def test_a_write_is_rejected_when_any_failed_profile_rejects(fixture_profiles):
    policy = ProfilePolicy.parse("reject; accept-and-flag:test-patient")
    assert not policy.rejects([PATIENT], fixture_profiles)
    assert policy.rejects([PATIENT, OBSERVATION], fixture_profiles)
    assert not policy.rejects([], fixture_profiles)


@pytest.mark.parametrize(
    "text",
    ["refuse", "reject; accept-and-flag", "reject:a; accept-and-flag:a", "reject:a,,b"],
)
def test_a_malformed_policy_is_refused(text):
    with pytest.raises(ValueError, match="EHR_PROFILE_POLICY"):
        ProfilePolicy.parse(text)


def test_a_policy_naming_an_unknown_profile_stops_the_start(fixture_profiles_dir):
    with pytest.raises(ValueError, match="vn-core-patinet"):
        profile_validation(fixture_profiles_dir, "reject:vn-core-patinet")
