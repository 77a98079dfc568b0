"""The validator on the real national profiles of ``fhir_profiles/``: they compile without
problems, and every example shipped with them is valid (model and profiles)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fhir_helpers import NATIONAL_PROFILE_TYPES

from ehr.config import REPO_ROOT
from ehr.fhir.validate import validate_structure
from ehr.profiles.definitions import load_profiles
from ehr.profiles.validator import validate

PROFILES_DIR = REPO_ROOT / "fhir_profiles"
EXAMPLES = sorted((PROFILES_DIR / "examples").glob("*.json"))


def _resources(path: Path) -> list[dict]:
    """The example in ``path``, or each entry of an example Bundle."""
    resource = orjson.loads(path.read_bytes())
    if resource.get("resourceType") == "Bundle":
        return [e["resource"] for e in resource.get("entry", []) if "resource" in e]
    return [resource]


def test_the_national_profiles_compile_without_problems():
    assert load_profiles(PROFILES_DIR).problems == []


@pytest.mark.parametrize("res_type", NATIONAL_PROFILE_TYPES)
def test_every_national_type_has_a_profile_and_a_valid_example(res_type):
    profiles = load_profiles(PROFILES_DIR)
    assert profiles.national(res_type), f"no national profile of {res_type}"
    examples = [r for path in EXAMPLES for r in _resources(path) if r["resourceType"] == res_type]
    assert examples, f"no example {res_type} in fhir_profiles/examples"


def test_every_shipped_example_is_valid():
    profiles = load_profiles(PROFILES_DIR)
    invalid = {}
    for path in EXAMPLES:
        for resource in _resources(path):
            validate_structure(resource)
            report = validate(resource, profiles)
            if not report.valid:
                invalid[f"{path.name} {resource['resourceType']}"] = report.issues
    assert EXAMPLES, "fhir_profiles/examples holds no example"
    assert invalid == {}
