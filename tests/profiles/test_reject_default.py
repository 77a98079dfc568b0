"""``reject`` as the default action: it covers every profile and errors of no profile."""

from __future__ import annotations

import orjson
import pytest
from profile_examples import valid_observation, valid_patient
from sqlmodel import Session

from ehr.access.policy import AccessPolicy
from ehr.context import RequestContext
from ehr.db.unit_of_work import run_in_unit_of_work
from ehr.profiles.participant import NOT_EXCHANGEABLE
from ehr.storage.write import write_resource


@pytest.fixture
def profile_policy() -> str:
    return "reject"


def test_an_error_of_no_profile_is_refused_under_a_rejecting_default(client, store_counts):
    encounter_profile = "http://fhir.hl7.org.vn/core/StructureDefinition/test-encounter"
    before = store_counts()
    response = client.post(
        "/fhir/Patient", json=valid_patient(meta={"profile": [encounter_profile]})
    )
    assert response.status_code == 422
    assert [(i["code"], i["expression"]) for i in response.json()["issue"]] == [
        ("invalid", ["Patient.meta.profile[0]"])
    ]
    assert store_counts() == before


def test_every_profile_rejects(client, store_counts):
    patient = client.post("/fhir/Patient", json=valid_patient()).json()
    before = store_counts()
    invalid = valid_observation(subject=f"Patient/{patient['id']}", status="preliminary")
    assert client.post("/fhir/Observation", json=invalid).status_code == 422
    assert store_counts() == before


def test_what_the_exchange_writes_itself_is_flagged_not_refused(app):
    services = app.state.services
    organization = {"resourceType": "Organization", "name": "Trạm y tế xã"}  # no facility code

    def work(session: Session):  # type: ignore[no-untyped-def]
        policy = AccessPolicy(None, services.compartment.person_types, "urn:x")
        ctx = RequestContext(services, session, "http://testserver/fhir", policy)
        result = write_resource(
            ctx, method="PUT", res_type="Organization", res_id="o1", body=organization
        )
        ctx.finish()
        return result.stored

    stored = run_in_unit_of_work(services.engine, work)
    assert stored is not None and stored.version == 1
    assert NOT_EXCHANGEABLE in orjson.loads(stored.content)["meta"]["tag"]
