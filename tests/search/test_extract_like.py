"""``extract_all(resource, registry, like=...)``: index values taken from a resource that
shares element values give exactly what extracting everything gives.

A new person's golden record takes whole elements from its one source (``ehr.mpi.golden``),
so the write path reuses the source's index values for the parameters that read only
those elements (``ehr.search.fhirpath.elements_read``) instead of extracting them again.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ehr.mpi.golden import golden_patient
from ehr.search import extract as extract_module
from ehr.search.extract import Indexed, extract_all
from ehr.search.registry import SearchRegistry, load_registry

ROOT = Path(__file__).resolve().parents[2]
REGISTRY: SearchRegistry = load_registry(ROOT / "fhir_profiles")
CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"


def _examples() -> dict[str, list[dict[str, Any]]]:
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted((ROOT / "tests" / "fixtures" / "r4-examples").glob("*.json")):
        resource = json.loads(path.read_text("utf-8"))
        by_type[resource["resourceType"]].append(resource)
    return dict(by_type)


EXAMPLES = _examples()
PATIENTS = EXAMPLES["Patient"]


def _indexed(resource: dict[str, Any]) -> Indexed:
    return Indexed(resource, extract_all(resource, REGISTRY))


@st.composite
def _sharing(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two resources of one type: an indexed one, and another built from a second example
    with some of the first's elements put in (the very same objects) and some removed."""
    resource_type = draw(st.sampled_from(sorted(EXAMPLES)))
    first = draw(st.sampled_from(EXAMPLES[resource_type]))
    other = copy.deepcopy(draw(st.sampled_from(EXAMPLES[resource_type])))
    shared = draw(st.sets(st.sampled_from(sorted(first))))
    for key in shared:
        other[key] = first[key]
    for key in draw(st.sets(st.sampled_from(sorted(other)))):
        if key != "resourceType":
            other.pop(key)
    return first, other


@settings(max_examples=300, deadline=None)
@given(_sharing())
def test_values_taken_from_a_like_resource_are_what_extracting_gives(pair) -> None:  # type: ignore[no-untyped-def]
    first, other = pair
    assert extract_all(other, REGISTRY, like=_indexed(first)) == extract_all(other, REGISTRY)


def test_a_like_resource_of_another_type_is_ignored() -> None:
    patient, observation = PATIENTS[0], EXAMPLES["Observation"][0]
    like = _indexed(patient)
    assert extract_all(observation, REGISTRY, like=like) == extract_all(observation, REGISTRY)


def test_an_element_equal_but_not_the_same_object_is_extracted_again(monkeypatch) -> None:
    """Equal copies prove nothing about what the like resource held when it was indexed:
    only the very same objects are trusted."""
    source = PATIENTS[0]
    copied = copy.deepcopy(source)
    calls = _count_extractions(monkeypatch)
    extract_all(copied, REGISTRY)
    direct = len(calls)
    calls.clear()
    extract_all(copied, REGISTRY, like=_indexed(source))
    assert len(calls) >= direct  # the like resource's own extraction, plus all of copied's


@pytest.mark.parametrize("source", PATIENTS, ids=lambda p: p.get("id", "?"))
def test_a_golden_record_reuses_its_sources_values_and_indexes_as_extracted(
    source: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {**source, "link": [{"other": {"reference": "Patient/p"}, "type": "refer"}]}
    indexed = _indexed(body)
    golden = golden_patient("person-1", [body], CCCD)
    expected = extract_all(golden, REGISTRY)
    calls = _count_extractions(monkeypatch)
    assert extract_all(golden, REGISTRY, like=indexed) == expected
    reusable = {"name", "gender", "birthDate", "address", "telecom"} & set(body)
    if reusable:  # what the golden record copies is not extracted again
        assert len(calls) < len(_params_indexed("Patient"))


def _params_indexed(resource_type: str) -> list[str]:
    return [
        code
        for code in REGISTRY.params_for(resource_type)
        if code not in extract_module.SERVED_FROM_RESOURCE_TABLE
    ]


def _count_extractions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = extract_module.extract

    def counting(resource, param):  # type: ignore[no-untyped-def]
        calls.append(param.code)
        return original(resource, param)

    monkeypatch.setattr(extract_module, "extract", counting)
    return calls
