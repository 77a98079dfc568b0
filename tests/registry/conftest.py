"""Registry fixtures: the seed provinces and the full synthetic registry, built once."""

from __future__ import annotations

import pytest

from ehr.config import Settings
from ehr.registry.facilities import Facility, generate_registry
from ehr.registry.provinces import Province, read_provinces


@pytest.fixture(scope="session")
def provinces() -> list[Province]:
    return read_provinces(Settings().seed_dir)


@pytest.fixture(scope="session")
def registry(provinces: list[Province]) -> list[Facility]:
    return generate_registry(provinces)
