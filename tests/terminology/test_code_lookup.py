"""``CodeSystem/$lookup`` through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ehr.config import Settings
from ehr.terminology.codes import SYSTEMS, build_index
from ehr.terminology.systems import CVX, ICD10, LOINC

LOOKUP = "/fhir/CodeSystem/$lookup"
CONCEPTS = sorted(build_index(Settings().seed_dir), key=lambda c: (c.system, c.code))


def _params(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Parameters"
    found: dict = {"designation": {}}
    for parameter in body["parameter"]:
        if parameter["name"] == "designation":
            parts = {p["name"]: p for p in parameter["part"]}
            found["designation"][parts["language"]["valueCode"]] = parts["value"]["valueString"]
        else:
            found[parameter["name"]] = parameter["valueString"]
    return found


def _issue(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


def test_get_finds_a_code_with_its_displays(client):
    found = _params(client.get(LOOKUP, params={"system": ICD10, "code": "A90"}))
    assert found["name"] == "ICD-10"
    assert found["display"] == "Dengue fever [classical dengue]"
    assert found["designation"] == {
        "vi": "Sốt Dengue [Dengue cổ điển]",
        "en": "Dengue fever [classical dengue]",
    }
    vietnamese = client.get(
        LOOKUP, params={"system": ICD10, "code": "A90", "displayLanguage": "vi-VN"}
    )
    assert _params(vietnamese)["display"] == "Sốt Dengue [Dengue cổ điển]"


def test_post_takes_system_and_code_or_a_coding(client):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "system", "valueUri": LOINC},
            {"name": "code", "valueCode": "8867-4"},
            {"name": "displayLanguage", "valueCode": "vi"},
        ],
    }
    assert _params(client.post(LOOKUP, json=body))["display"] == "Nhịp tim"
    coding = {
        "resourceType": "Parameters",
        "parameter": [{"name": "coding", "valueCoding": {"system": CVX, "code": "19"}}],
    }
    found = _params(client.post(LOOKUP, json=coding))
    assert (found["name"], found["display"]) == ("CVX", "BCG")


def test_an_unknown_code_or_system_is_404_not_found(client, store_counts):
    before = store_counts()
    issue = _issue(client.get(LOOKUP, params={"system": ICD10, "code": "Z99.99"}), 404)
    assert issue["code"] == "not-found" and issue["severity"] == "error"
    issue = _issue(client.get(LOOKUP, params={"system": "http://example.org/x", "code": "1"}), 404)
    assert issue["code"] == "not-found"
    assert store_counts() == before


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"system": ICD10},
        {"code": "I10"},
        {"system": ICD10, "code": ""},
        {"system": ICD10, "code": "I10", "colour": "blue"},
        [("system", ICD10), ("code", "I10"), ("code", "E11")],
    ],
    ids=["nothing", "no-code", "no-system", "empty-code", "unknown-parameter", "repeated"],
)
def test_a_missing_or_malformed_parameter_is_400(client, params):
    issue = _issue(client.get(LOOKUP, params=params), 400)
    assert issue["severity"] == "error"


@pytest.mark.parametrize(
    "body",
    [
        {"resourceType": "Patient"},
        {"resourceType": "Parameters", "parameter": "x"},
        {"resourceType": "Parameters", "parameter": [{"name": "code", "valueString": "I10"}]},
        {"resourceType": "Parameters", "parameter": [{"name": "coding", "valueCoding": "I10"}]},
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "coding", "valueCoding": {"system": ICD10, "code": "I10"}},
                {"name": "code", "valueCode": "I10"},
            ],
        },
        {"resourceType": "Parameters", "parameter": [{"name": 3}]},
    ],
    ids=["not-parameters", "not-a-list", "wrong-type", "coding-not-object", "both", "bad-name"],
)
def test_a_malformed_parameters_body_is_400(client, body):
    _issue(client.post(LOOKUP, json=body), 400)


@pytest.mark.parametrize("role", ["facility", "ministry", "patient", "admin"])
def test_every_authenticated_role_may_look_up_whatever_its_scopes(client, token_for, role):
    who = {"facility": {"facility": "01001"}, "patient": {"cccd": "001168204518"}}
    headers = token_for(role, scopes="", **who.get(role, {}))
    response = client.get(LOOKUP, params={"system": ICD10, "code": "I10"}, headers=headers)
    assert _params(response)["display"] == "Essential (primary) hypertension"


def test_without_a_token_it_is_401(anonymous_client):
    response = anonymous_client.get(LOOKUP, params={"system": ICD10, "code": "I10"})
    assert response.status_code == 401


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    concept=st.sampled_from(CONCEPTS),
    language=st.sampled_from([None, "vi", "en"]),
    post=st.booleans(),
)
def test_every_seeded_code_round_trips_through_lookup(client, concept, language, post):
    if post:
        parameters = [
            {"name": "coding", "valueCoding": {"system": concept.system, "code": concept.code}}
        ]
        if language:
            parameters.append({"name": "displayLanguage", "valueCode": language})
        response = client.post(LOOKUP, json={"resourceType": "Parameters", "parameter": parameters})
    else:
        params = {"system": concept.system, "code": concept.code}
        if language:
            params["displayLanguage"] = language
        response = client.get(LOOKUP, params=params)
    found = _params(response)
    assert found["name"] == SYSTEMS[concept.system].name
    assert found["display"] == concept.display_in(language)
    assert found["designation"] == dict(concept.designations)
