"""Profile tests run on the fixture profiles of ``tests/profiles/fixtures``, one per rule.

``fixture_profiles_dir`` is a profile directory holding those fixtures and the search,
compartment and matching definitions of the real one, so the whole app runs on it;
``profile_policy`` (default ``accept-and-flag``) is what ``EHR_PROFILE_POLICY`` would say,
and a test module overrides it to try another.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ehr.config import REPO_ROOT, Settings
from ehr.profiles.definitions import ProfileSet, load_profiles

FIXTURES = Path(__file__).resolve().parent / "fixtures"
_SHARED = ("search-parameters.json", "resource-types.json", "mpi-rules.json", "compartments")


@pytest.fixture(scope="session")
def fixture_profiles_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("profiles")
    for name in _SHARED:
        (directory / name).symlink_to(REPO_ROOT / "fhir_profiles" / name)
    for path in sorted(FIXTURES.glob("*.json")):
        (directory / path.name).symlink_to(path)
    return directory


@pytest.fixture(scope="session")
def fixture_profiles(fixture_profiles_dir: Path) -> ProfileSet:
    return load_profiles(fixture_profiles_dir)


@pytest.fixture
def profile_policy() -> str:
    return "accept-and-flag"


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, fixture_profiles_dir: Path, profile_policy: str
) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        profiles_dir=fixture_profiles_dir,
        profile_policy=profile_policy,
    )
