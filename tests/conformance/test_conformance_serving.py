"""``ehr seed`` loads every conformance file; the API serves and finds them; metadata lists them.

On SQLite and PostgreSQL. Seeding covers a quarter of one small province's facilities
(Lai Châu, 12): the conformance resources are the same whatever the registry part.
"""

from __future__ import annotations

from collections import Counter

import pytest

from ehr.conformance.files import CONFORMANCE_TYPES, conformance_resources
from ehr.fhir.identifiers import CCCD, CORE
from ehr.registry.seeding import seed_registry

PATIENT_PROFILE = f"{CORE}/StructureDefinition/vn-core-patient"


@pytest.fixture
def seeded(app, settings):  # type: ignore[no-untyped-def]
    report = seed_registry(app.state.services, province_codes=["12"], scale=0.1)
    return report, conformance_resources(settings.profiles_dir)


def _without_meta(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k != "meta"}


def _entries(response) -> list[dict]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return [entry["resource"] for entry in response.json().get("entry", [])]


def test_every_conformance_file_is_loaded_once_and_served_as_written(client, seeded):
    report, files = seeded
    kinds = Counter(r["resourceType"] for r in files)
    assert kinds["StructureDefinition"] >= 9 and kinds["NamingSystem"] >= 6
    assert kinds["OperationDefinition"] >= 1 and kinds["ConceptMap"] == 1
    assert {t: report.created[t] for t in kinds} == dict(kinds)
    for resource in files:
        response = client.get(f"/fhir/{resource['resourceType']}/{resource['id']}")
        assert response.status_code == 200, (resource["id"], response.text)
        assert _without_meta(response.json()) == resource


def test_seeding_again_writes_no_conformance_resource(app, seeded):
    _report, files = seeded
    again = seed_registry(app.state.services, province_codes=["12"], scale=0.1)
    assert again.written == 0
    assert sum(again.unchanged[t] for t in CONFORMANCE_TYPES) == len(files)


def test_conformance_resources_are_found_by_url_and_by_identifier_system(client, seeded):
    found = _entries(client.get("/fhir/StructureDefinition", params={"url": PATIENT_PROFILE}))
    assert [r["id"] for r in found] == ["vn-core-patient"]
    value_set = f"{CORE}/ValueSet/province"
    assert [r["id"] for r in _entries(client.get("/fhir/ValueSet", params={"url": value_set}))] == [
        "province"
    ]
    naming = _entries(client.get("/fhir/NamingSystem", params={"value": CCCD}))
    assert [r["id"] for r in naming] == ["cccd"]
    maps = _entries(
        client.get("/fhir/ConceptMap", params={"source-code": "02", "target-code": "08"})
    )
    assert [r["id"] for r in maps] == ["legacy-province-to-province"]
    profiles = _entries(client.get("/fhir/StructureDefinition", params={"type": "Encounter"}))
    assert [r["id"] for r in profiles] == ["vn-core-encounter"]


def test_facilities_and_the_ministry_may_read_the_profiles(client, seeded, token_for):
    facility = token_for("facility", facility="12001")
    response = client.get("/fhir/StructureDefinition/vn-core-patient", headers=facility)
    assert response.status_code == 200
    ministry = token_for("ministry", scopes="system/NamingSystem.rs")
    response = client.get("/fhir/NamingSystem", params={"value": CCCD}, headers=ministry)
    assert response.status_code == 200


def test_the_capability_statement_lists_the_national_profiles(anonymous_client):
    statement = anonymous_client.get("/fhir/metadata").json()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for res_type, name in [
        ("Patient", "patient"),
        ("Organization", "organization"),
        ("Encounter", "encounter"),
        ("Condition", "condition"),
        ("Observation", "observation"),
        ("MedicationRequest", "medication-request"),
        ("Immunization", "immunization"),
        ("AllergyIntolerance", "allergy-intolerance"),
        ("Procedure", "procedure"),
    ]:
        url = f"{CORE}/StructureDefinition/vn-core-{name}"
        assert resources[res_type]["supportedProfile"] == [url]
        assert resources[res_type]["profile"] == url
    assert "supportedProfile" not in resources["Location"]
    lookup = [o for o in resources["CodeSystem"]["operation"] if o["name"] == "lookup"]
    assert lookup == [
        {"name": "lookup", "definition": f"{CORE}/OperationDefinition/CodeSystem-lookup"}
    ]
