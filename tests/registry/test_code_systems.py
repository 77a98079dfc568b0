"""The registry CodeSystems in ``fhir_profiles/`` are current, valid, and cover every code used."""

from __future__ import annotations

import json

import pytest

from ehr.config import Settings
from ehr.fhir.validate import validate_structure
from ehr.registry import FACILITY_KIND_SYSTEM, FACILITY_LEVEL_SYSTEM, PROVINCE_SYSTEM
from ehr.registry.resources import code_systems, organization


@pytest.fixture(scope="module")
def systems(provinces) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {system["url"]: system for system in code_systems(provinces)}


def test_the_files_are_generated_from_the_sources(systems):
    """Stale? Run ``scripts/build_profiles.py``."""
    for system in systems.values():
        path = Settings().profiles_dir / f"CodeSystem-{system['id']}.json"
        assert json.loads(path.read_text(encoding="utf-8")) == system, path.name


def test_code_systems_are_valid_and_complete(systems, provinces):
    for system in systems.values():
        validate_structure(system)
        assert system["count"] == len(system["concept"])
    assert [c["code"] for c in systems[PROVINCE_SYSTEM]["concept"]] == [p.code for p in provinces]
    assert [c["code"] for c in systems[FACILITY_LEVEL_SYSTEM]["concept"]] == [
        "central",
        "provincial",
        "regional",
        "commune",
        "private",
    ]


def test_every_code_a_facility_uses_is_defined(systems, registry):
    defined = {
        (url, concept["code"]) for url, system in systems.items() for concept in system["concept"]
    }
    used = set()
    for facility in registry[::50]:
        org = organization(facility)
        used |= {(c["system"], c["code"]) for t in org["type"] for c in t["coding"]}
        used.add((PROVINCE_SYSTEM, org["address"][0]["extension"][0]["valueCoding"]["code"]))
    assert used <= defined
    assert {system for system, _ in used} == {
        FACILITY_LEVEL_SYSTEM,
        FACILITY_KIND_SYSTEM,
        PROVINCE_SYSTEM,
    }
