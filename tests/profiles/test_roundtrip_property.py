"""Property: any resource the validator accepts round-trips through the API unchanged
(apart from ``meta``), on SQLite and PostgreSQL.

The resources are drawn from strategies that meet the fixture profiles; the policy is
``reject`` so that a resource the participant did not accept could not be stored at all.
Patient linking is left out: it adds a ``link`` to the golden person by design.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from profile_examples import BHYT, CCCD, LOINC, UCUM, VITAL_SIGNS

from ehr.mpi.linking import PersonLinking
from ehr.profiles.validator import validate

API_SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LETTERS = "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọ"
names = st.text(alphabet=LETTERS + LETTERS.upper(), min_size=1, max_size=12)
digits = st.text(alphabet=string.digits, min_size=12, max_size=12)
dates = st.dates().map(lambda d: d.isoformat()).filter(lambda s: s >= "1001")


@pytest.fixture
def profile_policy() -> str:
    return "reject"


@pytest.fixture(autouse=True)
def _without_person_linking(app) -> None:  # type: ignore[no-untyped-def]
    services = app.state.services
    services.participants = tuple(
        p for p in services.participants if not isinstance(p, PersonLinking)
    )


@st.composite
def patients(draw: st.DrawFn) -> dict:
    cccd = {"system": CCCD, "value": draw(digits)}
    if draw(st.booleans()):
        cccd["use"] = "official"
    identifiers = [cccd]
    if draw(st.booleans()):
        identifiers.insert(draw(st.integers(0, 1)), {"system": BHYT, "value": draw(digits)})
    address = {"state": draw(st.sampled_from(["01", "79"])), "line": [draw(names)]}
    if draw(st.booleans()):
        address["country"] = "VN"
    resource: dict = {
        "resourceType": "Patient",
        "identifier": identifiers,
        "name": [
            {"family": draw(names), "given": draw(st.lists(names, max_size=2))}
            for _ in range(draw(st.integers(1, 2)))
        ],
        "birthDate": draw(dates),
        "address": [address],
    }
    if draw(st.booleans()):
        resource["gender"] = draw(st.sampled_from(["male", "female", "other", "unknown"]))
    if draw(st.booleans()):
        resource["maritalStatus"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                    "code": draw(st.sampled_from(["M", "S", "W"])),
                }
            ]
        }
    return resource


@st.composite
def observations(draw: st.DrawFn, subject: str) -> dict:
    code = draw(st.sampled_from(["8867-4", "8480-6", "29463-7"]))
    unit = draw(st.sampled_from(["/min", "mm[Hg]", "kg"]))
    return {
        "resourceType": "Observation",
        "status": draw(st.sampled_from(["final", "amended"])),
        "category": [{"coding": [dict(VITAL_SIGNS)], "text": draw(names)}],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": subject},
        "valueQuantity": {
            "value": draw(st.integers(0, 300)),
            "unit": unit,
            "system": UCUM,
            "code": unit,
        },
    }


@API_SETTINGS
@given(data=st.data())
def test_an_accepted_patient_and_observation_read_back_unchanged(client, fixture_profiles, data):
    patient = data.draw(patients())
    assert validate(patient, fixture_profiles).valid
    created = client.post("/fhir/Patient", json=patient)
    assert created.status_code == 201, created.text
    read = client.get(f"/fhir/Patient/{created.json()['id']}").json()
    read.pop("meta")
    assert read.pop("id") == created.json()["id"]
    assert read == patient

    observation = data.draw(observations(f"Patient/{created.json()['id']}"))
    assert validate(observation, fixture_profiles).valid
    stored = client.post("/fhir/Observation", json=observation)
    assert stored.status_code == 201, stored.text
    read = client.get(f"/fhir/Observation/{stored.json()['id']}").json()
    read.pop("meta")
    read.pop("id")
    assert read == observation
