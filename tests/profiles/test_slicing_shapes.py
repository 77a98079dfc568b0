"""Slicing shapes the national profiles use beyond the fixtures: extensions sliced by
``url`` with a typed, bound ``value[x]``, and a CodeableConcept sliced by ``coding.system``."""

from __future__ import annotations

import pytest

from ehr.profiles.definitions import ProfileSet, compile_profile
from ehr.profiles.terminology import build_terminology
from ehr.profiles.validator import validate

CORE = "http://fhir.hl7.org.vn/core"
PROVINCE_EXT = f"{CORE}/StructureDefinition/province-code"
PROVINCES = f"{CORE}/CodeSystem/province"
LEVELS = f"{CORE}/CodeSystem/facility-level"


def _element(element_id: str, **rules) -> dict:  # type: ignore[no-untyped-def]
    path = ".".join(part.split(":")[0] for part in element_id.split("."))
    return {"id": element_id, "path": path, **rules}


def _profile(name: str, res_type: str, elements: list[dict]) -> dict:
    return {
        "resourceType": "StructureDefinition",
        "id": name,
        "url": f"{CORE}/StructureDefinition/{name}",
        "kind": "resource",
        "type": res_type,
        "baseDefinition": f"http://hl7.org/fhir/StructureDefinition/{res_type}",
        "differential": {"element": [_element(res_type), *elements]},
    }


@pytest.fixture(scope="module")
def profiles() -> ProfileSet:
    province = "Patient.address.extension:province"
    by_url = {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"}
    by_coding = {"discriminator": [{"type": "value", "path": "coding.system"}], "rules": "open"}
    definitions = [
        _profile(
            "shape-patient",
            "Patient",
            [
                _element("Patient.address.extension", slicing=by_url),
                _element(province, min=1, max="1", type=[{"code": "Extension"}]),
                _element(f"{province}.url", min=1, fixedUri=PROVINCE_EXT),
                _element(
                    f"{province}.value[x]",
                    min=1,
                    type=[{"code": "Coding"}],
                    binding={"strength": "required", "valueSet": f"{CORE}/ValueSet/province"},
                ),
            ],
        ),
        _profile(
            "shape-organization",
            "Organization",
            [
                _element("Organization.type", slicing=by_coding, min=1),
                _element("Organization.type:level", min=1, max="1"),
                _element("Organization.type:level.coding", min=1),
                _element("Organization.type:level.coding.system", min=1, fixedUri=LEVELS),
                _element(
                    "Organization.type:level",
                    binding={"strength": "required", "valueSet": f"{CORE}/ValueSet/level"},
                ),
            ],
        ),
    ]
    problems: list[str] = []
    compiled = {d["url"]: compile_profile(d, problems) for d in definitions}
    terminology = build_terminology(
        [
            {"url": f"{CORE}/ValueSet/province", "compose": {"include": [{"system": PROVINCES}]}},
            {"url": f"{CORE}/ValueSet/level", "compose": {"include": [{"system": LEVELS}]}},
        ],
        [
            {"url": PROVINCES, "content": "complete", "concept": [{"code": "01"}]},
            {"url": LEVELS, "content": "complete", "concept": [{"code": "1"}, {"code": "4"}]},
        ],
    )
    assert problems == []
    return ProfileSet(profiles=compiled, terminology=terminology)


def _found(resource: dict, profiles: ProfileSet) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(i.severity, i.code, i.expression) for i in validate(resource, profiles).issues]


def _patient(*extensions: dict) -> dict:
    return {
        "resourceType": "Patient",
        "address": [{"city": "Hà Nội", "extension": list(extensions)}],
    }


def _province(code: str) -> dict:
    return {"url": PROVINCE_EXT, "valueCoding": {"system": PROVINCES, "code": code}}


def test_an_extension_slice_by_url(profiles):
    other = {"url": "http://example.org/x", "valueString": "y"}
    assert _found(_patient(other, _province("01")), profiles) == []
    assert _found(_patient(other), profiles) == [
        ("error", "required", ("Patient.address[0].extension",))
    ]
    assert _found(_patient(_province("99")), profiles) == [
        ("error", "code-invalid", ("Patient.address[0].extension[0].valueCoding",))
    ]
    as_code = {"url": PROVINCE_EXT, "valueCode": "01"}
    assert _found(_patient(as_code), profiles) == [
        ("error", "structure", ("Patient.address[0].extension[0].valueCode",))
    ]


def _organization(*types: dict) -> dict:
    return {"resourceType": "Organization", "type": list(types)}


def test_a_codeable_concept_slice_by_coding_system(profiles):
    level = {"coding": [{"system": LEVELS, "code": "4"}]}
    assert _found(_organization({"text": "commune"}, level), profiles) == []
    # A fixed value on a repeating element holds for every repetition (as the HL7 validator
    # reads it): a member of the slice may not carry a coding of another system beside it.
    mixed = {"coding": [{"system": "urn:local", "code": "x"}, {"system": LEVELS, "code": "4"}]}
    assert _found(_organization(mixed), profiles) == [
        ("error", "value", ("Organization.type[0].coding[0].system",))
    ]
    assert _found(_organization({"coding": [{"system": "urn:local", "code": "4"}]}), profiles) == [
        ("error", "required", ("Organization.type",))
    ]
    wrong = {"coding": [{"system": LEVELS, "code": "9"}]}
    assert _found(_organization(wrong), profiles) == [
        ("error", "code-invalid", ("Organization.type[0]",))
    ]
    assert _found(_organization(level, level), profiles) == [
        ("error", "structure", ("Organization.type",))
    ]
