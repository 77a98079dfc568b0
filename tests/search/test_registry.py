"""The search parameter registry: which definitions apply to which type, and what is left out."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ehr.search.fhirpath import compile_expression
from ehr.search.registry import SearchRegistry, load_registry, report

PROFILES = Path(__file__).resolve().parents[2] / "fhir_profiles"
INDEX_TYPES = {"token", "string", "date", "number", "quantity", "reference", "uri"}


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    return load_registry(PROFILES)


def test_loading_every_definition_takes_well_under_a_second() -> None:
    load_registry.cache_clear()
    started = time.perf_counter()
    load_registry(PROFILES)
    assert time.perf_counter() - started < 1.0


def test_served_types_are_concrete_r4_types_the_models_know(registry: SearchRegistry) -> None:
    served = registry.resource_types()
    assert {"Patient", "Observation", "Encounter", "Bundle", "Practitioner"} <= set(served)
    assert "Resource" not in served and "DomainResource" not in served
    assert "MedicinalProduct" not in served  # R4 only: the R4B models dropped it
    assert list(served) == sorted(served)


def test_a_type_has_its_own_and_the_resource_level_parameters(registry: SearchRegistry) -> None:
    params = registry.params_for("Patient")
    assert {"name", "family", "given", "birthdate", "identifier", "gender", "deceased"} <= set(
        params
    )
    assert {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"} <= set(params)
    assert params["birthdate"].type == "date"
    assert params["_id"].expression == "Resource.id"


def test_full_text_and_named_queries_are_left_out(registry: SearchRegistry) -> None:
    for code in ("_text", "_content", "_query", "_list", "_has", "_type", "_filter"):
        assert registry.get("Patient", code) is None


def test_composite_and_special_parameters_are_left_out(registry: SearchRegistry) -> None:
    assert registry.get("Observation", "code-value-quantity") is None
    assert registry.get("Location", "near") is None
    types = {p.type for t in ("Observation", "Location") for p in registry.params_for(t).values()}
    assert types <= INDEX_TYPES


def test_a_shared_definition_keeps_only_the_part_for_the_type(registry: SearchRegistry) -> None:
    birthdate = registry.get("Patient", "birthdate")
    assert birthdate is not None
    assert birthdate.expression == "Patient.birthDate"
    assert birthdate.url == "http://hl7.org/fhir/SearchParameter/individual-birthdate"
    assert birthdate.description == "The patient's date of birth"


def test_reference_parameters_carry_their_target_types(registry: SearchRegistry) -> None:
    subject = registry.get("Encounter", "subject")
    assert subject is not None and subject.type == "reference"
    assert set(subject.targets) == {"Patient", "Group"}


def test_an_unknown_type_or_code_has_no_parameters(registry: SearchRegistry) -> None:
    assert registry.params_for("NoSuchType") == {}
    assert registry.get("Patient", "no-such-param") is None


def test_every_registered_parameter_is_an_index_type_that_compiles(
    registry: SearchRegistry,
) -> None:
    for resource_type in registry.resource_types():
        for code, param in registry.params_for(resource_type).items():
            assert param.code == code and param.resource_type == resource_type
            assert param.type in INDEX_TYPES
            assert compile_expression(param.expression, resource_type) is not None


def test_the_extractor_of_a_parameter_is_compiled_once(registry: SearchRegistry) -> None:
    param = registry.get("Patient", "name")
    assert param is not None
    assert registry.extractor(param) is registry.extractor(param)


def test_the_report_names_each_unsupported_definition_and_why() -> None:
    text = report(PROFILES)
    assert "Observation-code-value-quantity [Observation] composite: composite parameter" in text
    assert "DomainResource-text [DomainResource] string: excluded code" in text
    assert "expression outside the FHIRPath subset" not in text
    assert text.splitlines()[-1].endswith("unsupported (definition x base type)")
