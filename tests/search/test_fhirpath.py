"""The FHIRPath subset compiler: what each construct selects, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ehr.search.fhirpath import Node, compile_expression, elements_read, holds_the_same, restrict

PROFILES = Path(__file__).resolve().parents[2] / "fhir_profiles"


def run(expression: str, resource: dict[str, Any], resource_type: str = "Patient") -> list[Node]:
    evaluate = compile_expression(expression, resource_type)
    assert evaluate is not None, expression
    return evaluate(resource)


def values(expression: str, resource: dict[str, Any], resource_type: str = "Patient") -> list:
    return [node.value for node in run(expression, resource, resource_type)]


def _definitions() -> list[dict[str, Any]]:
    bundle = json.loads((PROFILES / "search-parameters.json").read_text(encoding="utf-8"))
    return [entry["resource"] for entry in bundle["entry"]]


def test_every_indexable_r4_definition_compiles_for_each_of_its_base_types() -> None:
    failures = []
    for definition in _definitions():
        if definition["type"] in ("composite", "special") or not definition.get("expression"):
            continue
        for base in definition["base"]:
            resource_type = "Patient" if base in ("Resource", "DomainResource") else base
            if compile_expression(definition["expression"], resource_type) is None:
                failures.append((definition["id"], base))
    assert failures == []


def test_a_path_flattens_arrays_at_every_step() -> None:
    patient = {"name": [{"given": ["Peter", "James"]}, {"given": ["Jim"]}]}
    assert values("Patient.name.given", patient) == ["Peter", "James", "Jim"]


def test_a_missing_element_selects_nothing() -> None:
    assert values("Patient.name.given", {"name": [{"family": "X"}]}) == []
    assert values("Patient.name.given", {"name": "not an object"}) == []


def test_a_choice_element_finds_its_typed_key_and_knows_the_type() -> None:
    observation = {"valueQuantity": {"value": 1}}
    assert run("Observation.value", observation, "Observation") == [Node({"value": 1}, "Quantity")]
    assert run("Observation.value", {"valueDateTime": "2020"}, "Observation") == [
        Node("2020", "dateTime")
    ]


def test_a_plain_element_never_takes_a_suffixed_sibling() -> None:
    assert values("Goal.status", {"statusDate": "2020-01-01"}, "Goal") == []


def test_as_keeps_only_the_named_type() -> None:
    observation = {"valueString": "high"}
    assert values("(Observation.value as Quantity)", observation, "Observation") == []
    assert values("(Observation.value as string)", observation, "Observation") == ["high"]
    assert values("Observation.value.as(string)", observation, "Observation") == ["high"]


def test_as_accepts_a_specialisation_of_the_type() -> None:
    condition = {"onsetAge": {"value": 52, "unit": "a"}}
    assert run("Condition.onset.as(Quantity)", condition, "Condition")[0].type == "Age"


def test_of_type_filters_like_as() -> None:
    response = {
        "item": [{"answer": [{"valueReference": {"reference": "Patient/1"}}, {"valueString": "x"}]}]
    }
    assert values(
        "QuestionnaireResponse.item.answer.value.ofType(Reference)",
        response,
        "QuestionnaireResponse",
    ) == [{"reference": "Patient/1"}]


@pytest.mark.parametrize(
    ("reference", "kept"),
    [
        ("Patient/1", True),
        ("Patient/1/_history/2", True),
        ("https://other.example/fhir/Patient/1", True),
        ("Group/1", False),
        ("RelatedPatient/1", False),
        ("#contained", False),
        ("urn:uuid:3c4a1e0e-5b4e-4a2e-9d4e-5b7f0e2c1a11", False),
    ],
)
def test_where_resolve_is_keeps_references_to_that_type(reference: str, kept: bool) -> None:
    observation = {"subject": {"reference": reference}}
    found = run("Observation.subject.where(resolve() is Patient)", observation, "Observation")
    assert found == ([Node({"reference": reference}, "Reference")] if kept else [])


def test_where_field_equals_literal_filters_elements() -> None:
    patient = {"telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "a@b"}]}
    assert values("Patient.telecom.where(system='email')", patient) == [
        {"system": "email", "value": "a@b"}
    ]


def test_extension_selects_extensions_by_url() -> None:
    wanted = {"url": "http://x/a", "valueString": "A"}
    patient = {"extension": [wanted, {"url": "http://x/b", "valueString": "B"}]}
    assert run("Patient.extension('http://x/a')", patient) == [Node(wanted, "Extension")]


def test_where_has_extension_keeps_elements_carrying_it() -> None:
    flagged = {"extension": [{"url": "http://x/flag", "valueBoolean": True}], "linkId": "1"}
    response = {"item": [flagged, {"linkId": "2"}]}
    found = values(
        "QuestionnaireResponse.item.where(hasExtension('http://x/flag'))",
        response,
        "QuestionnaireResponse",
    )
    assert found == [flagged]


def test_an_index_takes_one_item_of_the_collection() -> None:
    bundle = {"entry": [{"resource": {"id": "a"}}, {"resource": {"id": "b"}}]}
    assert values("Bundle.entry[0].resource", bundle, "Bundle") == [{"id": "a"}]
    assert values("Bundle.entry[5].resource", bundle, "Bundle") == []


@pytest.mark.parametrize(
    ("patient", "expected"),
    [
        ({}, False),
        ({"deceasedBoolean": False}, False),
        ({"deceasedBoolean": True}, True),
        ({"deceasedDateTime": "2020-01-01"}, True),
    ],
)
def test_deceased_is_true_when_present_and_not_false(patient: dict, expected: bool) -> None:
    expression = "Patient.deceased.exists() and Patient.deceased != false"
    assert run(expression, patient) == [Node(expected, "boolean")]


def test_only_the_parts_rooted_at_the_resource_type_apply() -> None:
    expression = "Patient.birthDate | Person.birthDate | RelatedPerson.birthDate"
    assert values(expression, {"birthDate": "2000"}, "Person") == ["2000"]
    assert restrict(expression, "Person") == "Person.birthDate"
    assert compile_expression(expression, "Observation") is None


def test_resource_level_parts_apply_to_every_type() -> None:
    assert values("Resource.meta.tag", {"meta": {"tag": [{"code": "t"}]}}, "Encounter") == [
        {"code": "t"}
    ]


def test_a_relative_path_starts_at_the_resource() -> None:
    plan = {"name": "Gold", "alias": ["G", "Au"]}
    assert values("name | alias", plan, "InsurancePlan") == ["Gold", "G", "Au"]


@pytest.mark.parametrize(
    "expression",
    [
        "Patient.name.first()",
        "Patient.name.given + 'x'",
        "Patient.name[",
        "%resource.id",
        "Patient.where(count > 1)",
        "Patient.name.exists() and Patient.gender != false",
        "Patient.name.where(resolve().active)",
        "",
    ],
)
def test_syntax_outside_the_subset_is_unsupported(expression: str) -> None:
    assert compile_expression(expression, "Patient") is None


_NAMES = st.sampled_from(["name", "given", "value", "valueQuantity", "extension", "url", "x"])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_NAMES, inner, max_size=4),
    max_leaves=12,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_NAMES, _JSON, max_size=5))
def test_compiled_expressions_never_raise_on_arbitrary_json(resource: dict) -> None:
    for expression in (
        "Patient.name.given",
        "Observation.value.as(Quantity)",
        "Patient.extension('u').value",
        "Patient.name.where(x='1') | Patient.value.where(resolve() is Patient)",
    ):
        evaluate = compile_expression(expression, expression.split(".")[0])
        assert evaluate is not None
        assert isinstance(evaluate(resource), list)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("Patient.name", {"name"}),
        ("Patient.name.given", {"name"}),
        ("Patient.name[0].family", {"name"}),
        ("Resource.meta.tag", {"meta"}),
        ("Patient.telecom.where(system='phone')", {"telecom"}),
        ("(Patient.deceased as dateTime)", {"deceased"}),
        ("Patient.deceased.exists() and Patient.deceased != false", {"deceased"}),
        ("Patient.name | Practitioner.name", {"name"}),  # only the Patient part applies
        ("Patient.address | Patient.telecom", {"address", "telecom"}),
        ("name | alias", {"name", "alias"}),
        ("Patient.extension('http://example.org/x')", None),  # starts with a function
        ("Observation.code", None),  # no part applies to Patient
        ("Patient.name.resolve()", None),  # outside the subset
    ],
)
def test_elements_read_names_the_top_level_elements_an_expression_starts_from(
    expression: str, expected: set[str] | None
) -> None:
    found = elements_read(expression, "Patient")
    assert found == (frozenset(expected) if expected is not None else None)


def test_holds_the_same_trusts_the_very_same_objects_only() -> None:
    name = [{"family": "Nguyễn"}]
    first = {"name": name, "gender": "male"}
    assert holds_the_same({"name": name}, first, frozenset({"name"}))
    assert not holds_the_same({"name": [{"family": "Nguyễn"}]}, first, frozenset({"name"}))
    assert holds_the_same({}, first, frozenset({"birthDate"}))  # absent from both
    # a choice element absent under its plain name may sit under a suffixed one
    assert not holds_the_same({"deceasedBoolean": True}, first, frozenset({"deceased"}))
