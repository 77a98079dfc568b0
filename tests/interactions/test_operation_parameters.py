"""``ehr.interactions.operation_parameters``: the one reader of operation parameters."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehr.errors import BadRequest
from ehr.interactions.operation_parameters import Param, read_parameters, read_query

EVERY_TYPE = (
    Param("person", "reference"),
    Param("resource", "resource", target=None),
    Param("patient", "resource", target="Patient"),
    Param("reason", "string"),
    Param("mode", "code", accepts=("string",), codes=("create", "update")),
    Param("system", "uri"),
    Param("profile", "uri", accepts=("canonical",)),
    Param("certain", "boolean"),
    Param("count", "integer", maximum=100),
    Param("coding", "Coding"),
)


def _body(*parameters: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(parameters)}


def _refused(body: Any, declared: tuple[Param, ...] = EVERY_TYPE) -> BadRequest:
    with pytest.raises(BadRequest) as raised:
        read_parameters(body, "$op", declared)
    assert raised.value.status == 400
    return raised.value


def test_each_type_reads_its_value():
    values = read_parameters(
        _body(
            {"name": "person", "valueReference": {"reference": "Patient/p-1"}},
            {"name": "resource", "resource": {"resourceType": "Observation"}},
            {"name": "patient", "resource": {"resourceType": "Patient", "id": "x"}},
            {"name": "reason", "valueString": "  same person  "},
            {"name": "mode", "valueString": "update"},
            {"name": "system", "valueUri": "http://loinc.org"},
            {"name": "profile", "valueCanonical": "http://example.org/sd"},
            {"name": "certain", "valueBoolean": False},
            {"name": "count", "valueInteger": 100},
            {"name": "coding", "valueCoding": {"system": "http://loinc.org", "code": "8867-4"}},
        ),
        "$op",
        EVERY_TYPE,
    )
    assert values == {
        "person": "p-1",
        "resource": {"resourceType": "Observation"},
        "patient": {"resourceType": "Patient", "id": "x"},
        "reason": "same person",
        "mode": "update",
        "system": "http://loinc.org",
        "profile": "http://example.org/sd",
        "certain": False,
        "count": 100,
        "coding": {"system": "http://loinc.org", "code": "8867-4"},
    }


def test_absent_optional_parameters_are_missing_and_no_body_is_no_parameters():
    assert read_parameters(_body(), "$op", EVERY_TYPE) == {}
    assert read_parameters(None, "$op", EVERY_TYPE) == {}
    _refused(None, (Param("change", "integer", required=True),))


@pytest.mark.parametrize(
    ("parameter", "expression"),
    [
        ({"name": "person", "valueReference": {"reference": "Task/1"}}, ".valueReference"),
        ({"name": "person", "valueString": "Patient/1"}, ".valueReference"),
        ({"name": "patient", "resource": {"resourceType": "Task"}}, ".resource.resourceType"),
        ({"name": "resource", "resource": ["Patient"]}, ".resource"),
        ({"name": "reason", "valueString": "   "}, ".valueString"),
        ({"name": "reason", "valueString": "x" * 501}, ".valueString"),
        ({"name": "mode", "valueCode": "destroy"}, ".valueCode"),
        ({"name": "system", "valueCode": "http://loinc.org"}, ".valueUri"),
        ({"name": "certain", "valueBoolean": "true"}, ".valueBoolean"),
        ({"name": "count", "valueInteger": 0}, ".valueInteger"),
        ({"name": "count", "valueInteger": 101}, ".valueInteger"),
        ({"name": "count", "valueInteger": True}, ".valueInteger"),
        ({"name": "coding", "valueCoding": "8867-4"}, ".valueCoding"),
        ({"name": "coding", "valueCoding": {"code": "8867-4"}}, ".valueCoding.system"),
        ({"name": "colour", "valueString": "red"}, ""),
        ({"name": 3}, ""),
        ("count", ""),
    ],
)
def test_a_wrong_value_is_a_400_naming_where_it_is(parameter, expression):
    first = Param("first", "string")
    error = _refused(_body({"name": "first", "valueString": "ok"}, parameter), (first, *EVERY_TYPE))
    assert error.issues[0].expression == (f"Parameters.parameter[1]{expression}",)


def test_a_repeated_parameter_or_a_missing_required_one_is_a_400():
    error = _refused(
        _body({"name": "count", "valueInteger": 1}, {"name": "count", "valueInteger": 2})
    )
    assert error.issues[0].expression == ("Parameters.parameter[1]",)
    error = _refused(_body(), (Param("person", "reference", required=True),))
    assert "'person'" in error.diagnostics


@pytest.mark.parametrize(
    "body", [{"resourceType": "Patient"}, [1], "x", _body() | {"parameter": {"name": "x"}}]
)
def test_a_body_that_is_not_parameters_is_a_400(body):
    _refused(body)


def test_a_reference_to_an_id_no_resource_can_have_is_a_400():
    _refused(_body({"name": "person", "valueReference": {"reference": "Patient/bad id!"}}))


def test_the_query_carries_primitive_parameters_typed():
    values = read_query(
        [("_format", "json"), ("count", "7"), ("certain", "true"), ("mode", "create")],
        "$op",
        EVERY_TYPE,
    )
    assert values == {"count": 7, "certain": True, "mode": "create"}


@pytest.mark.parametrize(
    "params",
    [
        [("count", "seven")],
        [("count", "0")],
        [("certain", "yes")],
        [("mode", "destroy")],
        [("colour", "red")],
        [("coding", "http://loinc.org|8867-4")],  # not a primitive: never in a URL
        [("reason", "a"), ("reason", "b")],
        [("reason", "")],
    ],
)
def test_a_wrong_query_parameter_is_a_400_naming_it(params):
    with pytest.raises(BadRequest) as raised:
        read_query(params, "$op", EVERY_TYPE)
    assert raised.value.issues[0].expression == (params[-1][0],)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
parameters = st.fixed_dictionaries(
    {"name": st.sampled_from([p.name for p in EVERY_TYPE]) | json_values},
    optional={
        key: json_values
        for key in (
            "resource",
            "valueReference",
            "valueString",
            "valueCode",
            "valueUri",
            "valueCanonical",
            "valueBoolean",
            "valueInteger",
            "valueCoding",
        )
    },
)


@given(
    body=st.one_of(
        json_values,
        st.builds(_body),
        st.lists(parameters | json_values, max_size=4).map(lambda ps: _body(*ps)),
    ),
    query=st.lists(st.tuples(st.sampled_from(["count", "certain", "mode", "x"]), st.text())),
)
def test_any_json_body_or_query_is_read_or_refused_with_a_400(body, query):
    for read in (
        lambda: read_parameters(body, "$op", EVERY_TYPE),
        lambda: read_query(query, "$op", EVERY_TYPE),
    ):
        try:
            values = read()
        except BadRequest as error:
            assert error.status == 400 and error.issues
        else:
            assert set(values) <= {p.name for p in EVERY_TYPE}
