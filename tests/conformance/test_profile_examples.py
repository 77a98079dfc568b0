"""The shipped examples: valid R4, one per profile, and pointing only at things that exist."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from ehr.config import Settings
from ehr.conformance.build import EXAMPLES_DIR, conformance, generate
from ehr.conformance.examples import examples
from ehr.fhir.identifiers import CCCD
from ehr.fhir.validate import validate_structure
from ehr.mpi.cccd import conflicts, parse_cccd
from ehr.registry.facilities import generate_registry
from ehr.registry.provinces import read_provinces
from ehr.registry.resources import organization
from ehr.terminology.codes import SYSTEMS, default_index

SEED = Settings().seed_dir
EXAMPLES = examples(SEED)


def _walk(value: Any, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every JSON object inside ``value``."""
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            _walk(item, found)
    elif isinstance(value, list):
        for item in value:
            _walk(item, found)
    return found


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e["resourceType"])
def test_each_example_is_valid_r4(example):
    validate_structure(example)


def test_there_is_one_example_per_profile_and_they_are_generated_files():
    profiled = sorted(
        r["type"]
        for r in conformance(SEED)
        if r["resourceType"] == "StructureDefinition" and r["kind"] == "resource"
    )
    assert sorted(e["resourceType"] for e in EXAMPLES) == profiled
    files = generate(SEED)
    assert all(files[f"{EXAMPLES_DIR}/{e['resourceType']}-{e['id']}.json"] == e for e in EXAMPLES)


def test_references_point_at_other_examples_or_at_registry_facilities():
    registry = generate_registry(read_provinces(SEED), province_codes=["01"])
    known = {f"{e['resourceType']}/{e['id']}" for e in EXAMPLES}
    known |= {f"Organization/{f.organization_id}" for f in registry}
    references = [o["reference"] for o in _walk(EXAMPLES, []) if "reference" in o]
    assert references and set(references) <= known


def test_the_example_organization_is_the_registry_facility_itself():
    (example,) = [e for e in EXAMPLES if e["resourceType"] == "Organization"]
    registry = generate_registry(read_provinces(SEED), province_codes=["01"])
    facility = next(f for f in registry if f.organization_id == example["id"])
    assert example == organization(facility)


def test_codes_of_the_systems_we_ship_are_codes_we_ship():
    index = default_index(SEED)
    codings = [o for o in _walk(EXAMPLES, []) if "system" in o and "code" in o]
    ours = [c for c in codings if c["system"] in SYSTEMS]
    assert {c["system"] for c in ours} >= {
        "http://hl7.org/fhir/sid/icd-10",
        "http://loinc.org",
        "http://hl7.org/fhir/sid/cvx",
    }
    for coding in ours:
        concept = index.lookup(coding["system"], coding["code"])
        assert concept is not None, coding
        assert coding.get("display", concept.display) == concept.display


def test_the_example_patients_cccd_is_real_and_agrees_with_her():
    (patient,) = [e for e in EXAMPLES if e["resourceType"] == "Patient"]
    (value,) = [i["value"] for i in patient["identifier"] if i["system"] == CCCD]
    cccd = parse_cccd(value, date(2025, 9, 15), seed_dir=SEED)
    assert conflicts(cccd, patient["gender"], patient["birthDate"]) == []
