"""Index extraction: what each parameter type indexes from each FHIR data type (R4 search)."""

from __future__ import annotations

import json
import math
import string
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ehr.db.schema import SearchReference, SearchString, SearchToken, SearchUri
from ehr.search import extract as extract_module
from ehr.search.dates import date_range
from ehr.search.extract import extract, extract_all
from ehr.search.registry import SearchParamDef, SearchRegistry, load_registry
from ehr.search.values import (
    DateValue,
    NumberValue,
    QuantityValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
)
from ehr.text import normalize

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "tests" / "fixtures" / "r4-examples").glob("*.json"))
REGISTRY: SearchRegistry = load_registry(ROOT / "fhir_profiles")
INDEX_TYPES = {"token", "string", "date", "number", "quantity", "reference", "uri"}


def param(resource_type: str, code: str) -> SearchParamDef:
    found = REGISTRY.get(resource_type, code)
    assert found is not None, f"{resource_type}.{code}"
    return found


def values_of(resource: dict[str, Any], code: str) -> list:
    return extract(resource, param(resource["resourceType"], code))


def example(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "tests" / "fixtures" / "r4-examples" / name).read_text("utf-8"))


# --- the official examples ------------------------------------------------------------------


def test_the_examples_cover_the_exchanged_types() -> None:
    types = {path.name.split("-")[0] for path in EXAMPLES}
    assert {"Patient", "Observation", "Encounter", "Condition", "MedicationRequest"} <= types


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_every_parameter_evaluates_on_every_official_example(path: Path) -> None:
    resource = json.loads(path.read_text(encoding="utf-8"))
    params = REGISTRY.params_for(resource["resourceType"])
    assert params
    for code, definition in params.items():
        for value in extract(resource, definition):
            assert type(value).__name__.lower().startswith(definition.type), code


def test_patient_example_indexes_family_identifier_and_birthdate() -> None:
    patient = example("Patient-example.json")
    assert StringValue("chalmers", "Chalmers") in values_of(patient, "family")
    assert StringValue("chalmers", "Chalmers") in values_of(patient, "name")
    assert TokenValue("urn:oid:1.2.36.146.595.217.0.1", "12345") in values_of(patient, "identifier")
    assert values_of(patient, "birthdate") == [DateValue(*date_range("1974-12-25"))]
    assert values_of(patient, "gender") == [TokenValue(None, "male")]
    assert values_of(patient, "organization") == [ReferenceValue("Organization", "1", None)]
    assert StringValue("pleasantville", "PleasantVille") in values_of(patient, "address-city")


def test_observation_example_indexes_its_value_quantity() -> None:
    observation = example("Observation-example.json")
    assert values_of(observation, "value-quantity") == [
        QuantityValue(185.0, 184.5, 185.5, "http://unitsofmeasure.org", "[lb_av]", "lbs")
    ]
    assert values_of(observation, "date") == [DateValue(*date_range("2016-03-28"))]


def test_encounter_example_indexes_its_subject_reference() -> None:
    encounter = example("Encounter-example.json")
    assert values_of(encounter, "subject") == [ReferenceValue("Patient", "example", None)]
    assert values_of(encounter, "patient") == [ReferenceValue("Patient", "example", None)]


def test_condition_example_indexes_code_with_display_and_concept_text() -> None:
    condition = example("Condition-example.json")
    assert values_of(condition, "code") == [
        TokenValue("http://snomed.info/sct", "39065001", "burn of ear"),
        TokenValue(None, None, "burnt ear"),
    ]


def test_extract_all_gives_type_code_and_value_and_skips_resource_columns() -> None:
    rows = extract_all(example("Patient-example.json"), REGISTRY)
    assert ("string", "family", StringValue("chalmers", "Chalmers")) in rows
    assert not {code for _, code, _ in rows} & {"_id", "_lastUpdated"}
    assert extract_all({"no": "resourceType"}, REGISTRY) == []


# --- rules per data type --------------------------------------------------------------------


def test_a_coding_and_a_boolean_index_as_tokens() -> None:
    patient = {"resourceType": "Patient", "active": False, "deceasedBoolean": True}
    assert values_of(patient, "active") == [TokenValue(None, "false")]
    assert values_of(patient, "deceased") == [TokenValue(None, "true")]
    assert values_of({"resourceType": "Patient"}, "deceased") == [TokenValue(None, "false")]


def test_an_identifier_indexes_system_value_and_type_text() -> None:
    identifier = {"system": "urn:vn:cccd", "value": "0123", "type": {"text": "Căn cước"}}
    patient = {"resourceType": "Patient", "identifier": [identifier]}
    assert values_of(patient, "identifier") == [TokenValue("urn:vn:cccd", "0123", "can cuoc")]


def test_a_contact_point_indexes_its_value_without_system() -> None:
    patient = {"resourceType": "Patient", "telecom": [{"system": "email", "value": "a@b.vn"}]}
    assert values_of(patient, "email") == [TokenValue(None, "a@b.vn")]
    assert values_of(patient, "phone") == []


def test_an_address_indexes_each_part() -> None:
    address = {"line": ["12 Lê Lợi", "Phòng 3"], "city": "Huế", "country": "VN"}
    patient = {"resourceType": "Patient", "address": [address]}
    assert [v.value for v in values_of(patient, "address")] == ["12 le loi", "phong 3", "hue", "vn"]


def test_a_name_with_text_only_is_found_by_its_text() -> None:
    patient = {"resourceType": "Patient", "name": [{"text": "Đặng Thị Mai"}]}
    assert values_of(patient, "name") == [StringValue("dang thi mai", "Đặng Thị Mai")]


def test_repeated_values_are_indexed_once() -> None:
    patient = {"resourceType": "Patient", "name": [{"given": ["An", "an"]}, {"given": ["AN"]}]}
    assert values_of(patient, "given") == [
        StringValue("an", "An"),
        StringValue("an", "an"),
        StringValue("an", "AN"),
    ]
    patient = {"resourceType": "Patient", "name": [{"given": ["An"]}, {"given": ["An"]}]}
    assert values_of(patient, "given") == [StringValue("an", "An")]


def test_a_period_with_an_open_end_is_unbounded_on_that_side() -> None:
    encounter = {"resourceType": "Encounter", "period": {"start": "2024-05-01"}}
    low, _ = date_range("2024-05-01")
    assert values_of(encounter, "date") == [DateValue(low, None)]


def test_a_timing_indexes_the_outer_limits_of_its_events() -> None:
    timing = {"event": ["2024-01-05", "2024-01-01", "2024-01-03"]}
    request = {"resourceType": "MedicationRequest", "dosageInstruction": [{"timing": timing}]}
    definition = SearchParamDef(
        "timing", "date", "MedicationRequest", "MedicationRequest.dosageInstruction.timing", "u"
    )
    low, high = date_range("2024-01-01")[0], date_range("2024-01-05")[1]
    assert extract(request, definition) == [DateValue(low, high)]


def test_an_invalid_date_is_skipped_not_raised() -> None:
    patient = {"resourceType": "Patient", "birthDate": "25/12/1974"}
    assert values_of(patient, "birthdate") == []
    immunization = {"resourceType": "Immunization", "occurrenceString": "January 2012"}
    assert values_of(immunization, "date") == []


def test_a_decimal_keeps_the_precision_it_is_written_with() -> None:
    assessment = {"resourceType": "RiskAssessment", "prediction": [{"probabilityDecimal": 0.02}]}
    [value] = values_of(assessment, "probability")
    assert isinstance(value, NumberValue)
    assert (value.value, value.low, value.high) == pytest.approx((0.02, 0.015, 0.025))


def test_a_quantity_comparator_opens_the_range_on_its_side() -> None:
    observation = {"resourceType": "Observation", "valueQuantity": {"value": 5, "comparator": "<"}}
    [value] = values_of(observation, "value-quantity")
    assert value.low == -math.inf and value.high == 5.5


def test_money_indexes_as_a_quantity_in_its_iso_4217_currency() -> None:
    invoice = {"resourceType": "Invoice", "totalNet": {"value": 150000, "currency": "VND"}}
    [value] = values_of(invoice, "totalnet")
    assert (value.value, value.system, value.code) == (150000, "urn:iso:std:iso:4217", "VND")


def test_a_range_indexes_as_a_quantity_between_its_ends() -> None:
    condition = {"resourceType": "Condition", "onsetRange": {"low": {"value": 10, "unit": "a"}}}
    [value] = values_of(condition, "onset-age")
    assert (value.value, value.low, value.high, value.unit) == (10, 9.5, math.inf, "a")


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Patient/1", ReferenceValue("Patient", "1", None)),
        ("Patient/1/_history/3", ReferenceValue("Patient", "1", None)),
        (
            "https://other.example/fhir/Patient/1",
            ReferenceValue("Patient", "1", "https://other.example/fhir/Patient/1"),
        ),
        ("urn:uuid:0c1c6b2e-1b1e-4a51-9c1e-000000000001", None),
    ],
)
def test_a_reference_indexes_type_id_and_url(reference: str, expected: Any) -> None:
    encounter = {"resourceType": "Encounter", "subject": {"reference": reference}}
    assert values_of(encounter, "subject") == [expected or ReferenceValue(None, None, reference)]


def test_a_contained_or_display_only_reference_is_not_indexed() -> None:
    for subject in ({"reference": "#p1"}, {"display": "Nguyễn Văn A"}, {"reference": ""}):
        assert values_of({"resourceType": "Encounter", "subject": subject}, "subject") == []


def test_a_canonical_reference_indexes_its_url_without_version() -> None:
    artifact = {"type": "depends-on", "resource": "http://example.org/Library/base|1.2"}
    library = {"resourceType": "Library", "relatedArtifact": [artifact]}
    assert values_of(library, "depends-on") == [
        ReferenceValue(None, None, "http://example.org/Library/base")
    ]


def test_a_uri_indexes_as_written() -> None:
    questionnaire = {"resourceType": "Questionnaire", "url": "http://example.org/Q/1"}
    assert values_of(questionnaire, "url") == [UriValue("http://example.org/Q/1")]


def test_an_extension_parameter_searches_the_extension_value() -> None:
    definition = param("Patient", "mothersMaidenName")
    url = definition.expression.split("'")[1]
    patient = {"resourceType": "Patient", "extension": [{"url": url, "valueString": "Trần"}]}
    assert extract(patient, definition) == [StringValue("tran", "Trần")]


def test_text_longer_than_its_column_is_cut_and_long_codes_dropped() -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "x" * 3000}],
        "identifier": [{"system": "urn:s", "value": "9" * 600}],
    }
    [family] = values_of(patient, "family")
    assert len(family.value) == len(family.exact) == extract_module.MAX_TEXT
    assert values_of(patient, "identifier") == []


def test_length_limits_match_the_index_columns() -> None:
    assert SearchString.__table__.c.value.type.length == extract_module.MAX_TEXT
    assert SearchString.__table__.c.exact.type.length == extract_module.MAX_TEXT
    assert SearchToken.__table__.c.text.type.length == extract_module.MAX_TEXT
    assert SearchToken.__table__.c.code.type.length == extract_module.MAX_CODE
    assert SearchToken.__table__.c.system.type.length == extract_module.MAX_CODE
    assert SearchUri.__table__.c.value.type.length == extract_module.MAX_URL
    assert SearchReference.__table__.c.url.type.length == extract_module.MAX_URL


# --- properties -----------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30)
_NAME_TEXT = _TEXT.filter(lambda text: normalize(text) != "")
_ID = st.text(string.ascii_letters + string.digits + "-.", min_size=1, max_size=64)
_TYPE = st.from_regex(r"[A-Z][a-z]{1,12}([A-Z][a-z]{1,8})?", fullmatch=True)


@given(family=_NAME_TEXT, given_names=st.lists(_TEXT, max_size=3))
def test_any_family_name_is_found_normalised(family: str, given_names: list[str]) -> None:
    patient = {"resourceType": "Patient", "name": [{"family": family, "given": given_names}]}
    expected = StringValue(normalize(family), family)
    assert expected in values_of(patient, "family")
    assert expected in values_of(patient, "name")


_DATES = st.builds(
    lambda y, m, d, h, mi, s, tz: (
        f"{y:04d}",
        f"{y:04d}-{m:02d}",
        f"{y:04d}-{m:02d}-{d:02d}",
        f"{y:04d}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{tz}",
    ),
    st.integers(1, 9998),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.sampled_from(["Z", "+00:00"]),
)


@given(_DATES)
def test_any_date_indexes_a_range_containing_its_finer_dates(texts: tuple[str, ...]) -> None:
    ranges = []
    for text in texts:
        [value] = values_of({"resourceType": "Patient", "birthDate": text}, "birthdate")
        assert value.low is not None and value.high is not None and value.low <= value.high
        ranges.append((value.low, value.high))
    for (outer_low, outer_high), (inner_low, inner_high) in pairwise(ranges):
        assert outer_low <= inner_low <= inner_high <= outer_high


@given(resource_type=_TYPE, resource_id=_ID, base=st.sampled_from(["", "https://x.vn/fhir/"]))
def test_any_type_slash_id_reference_gives_type_and_id(
    resource_type: str, resource_id: str, base: str
) -> None:
    reference = f"{base}{resource_type}/{resource_id}"
    encounter = {"resourceType": "Encounter", "subject": {"reference": reference}}
    assert values_of(encounter, "subject") == [
        ReferenceValue(resource_type, resource_id, reference if base else None)
    ]


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-1e9, max_value=1e9))
def test_any_number_lies_inside_its_implicit_range(number: Any) -> None:
    assessment = {"resourceType": "RiskAssessment", "prediction": [{"probabilityDecimal": number}]}
    [value] = values_of(assessment, "probability")
    assert value.low < value.value < value.high


@given(system=_TEXT, code=_TEXT.filter(bool))
def test_any_coding_indexes_its_system_and_code(system: str, code: str) -> None:
    concept = {"coding": [{"system": system, "code": code}]}
    condition = {"resourceType": "Condition", "code": concept}
    assert values_of(condition, "code") == [TokenValue(system or None, code)]


_KEYS = st.sampled_from(
    ["name", "given", "family", "value", "valueQuantity", "valueString", "code", "coding",
     "system", "reference", "extension", "url", "start", "end", "low", "high", "subject",
     "identifier", "birthDate", "effectiveDateTime", "telecom", "text", "event", "currency"]
)  # fmt: skip
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=15,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["Patient", "Observation", "Encounter", "Condition"]),
    st.dictionaries(_KEYS, _JSON),
)
def test_odd_but_valid_json_never_raises(resource_type: str, body: dict[str, Any]) -> None:
    rows = extract_all({**body, "resourceType": resource_type}, REGISTRY)
    assert {kind for kind, _, _ in rows} <= INDEX_TYPES
