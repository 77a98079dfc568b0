"""Capabilities join every write through participants, inside the write's own transaction."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from fhir_helpers import patient

from ehr.errors import Unprocessable


@dataclass
class Recorder:
    """A participant that tags what it sees and can be told to fail."""

    seen: list[tuple[str, str, str]] = field(default_factory=list)
    fail_after: str | None = None

    def before_store(self, ctx, change) -> None:  # type: ignore[no-untyped-def]
        if change.body is not None:
            meta = change.body.setdefault("meta", {})
            meta["tag"] = [*meta.get("tag", []), {"system": "urn:test", "code": "seen"}]

    def after_store(self, ctx, change, stored) -> None:  # type: ignore[no-untyped-def]
        self.seen.append((change.method, stored.res_type, stored.res_id))
        if self.fail_after == change.res_type:
            raise Unprocessable(f"participant refused {change.res_type}")


@pytest.fixture
def recorder(app) -> Recorder:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    app.state.services.participants = (recorder,)
    return recorder


def test_participants_see_every_create_update_patch_and_delete(client, recorder):
    created = client.post("/fhir/Patient", json=patient()).json()
    url = f"/fhir/Patient/{created['id']}"
    client.put(url, json=created)
    client.patch(
        url,
        content=b'[{"op": "replace", "path": "/gender", "value": "female"}]',
        headers={"Content-Type": "application/json-patch+json"},
    )
    client.delete(url)
    assert [method for method, _, _ in recorder.seen] == ["POST", "PUT", "PATCH", "DELETE"]


def test_what_a_participant_adds_before_storing_is_stored(client, recorder):
    created = client.post("/fhir/Patient", json=patient()).json()
    stored = client.get(f"/fhir/Patient/{created['id']}").json()
    assert {"system": "urn:test", "code": "seen"} in stored["meta"]["tag"]


def test_participants_run_for_every_entry_of_a_transaction(client, recorder):
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
            {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        ],
    }
    assert client.post("/fhir", json=bundle).status_code == 200
    assert len(recorder.seen) == 2


def test_a_participant_failure_rolls_back_the_write_it_joined(client, recorder, store_counts):
    recorder.fail_after = "Patient"
    response = client.post("/fhir/Patient", json=patient())
    assert response.status_code == 422
    assert store_counts().resources == 0 and store_counts().versions == 0


def test_a_participant_failure_in_one_entry_rolls_back_the_whole_transaction(
    client, recorder, store_counts
):
    recorder.fail_after = "Encounter"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:11111111-2222-4333-8444-555555555555",
                "resource": patient(),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "subject": {"reference": "urn:uuid:11111111-2222-4333-8444-555555555555"},
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
        ],
    }
    assert client.post("/fhir", json=bundle).status_code == 422
    assert store_counts().resources == 0


def test_the_exchanges_own_rewrite_keeps_the_facility_that_owns_the_record(app, client, token_for):
    from ehr.access.policy import AccessPolicy
    from ehr.context import RequestContext
    from ehr.db.unit_of_work import unit_of_work
    from ehr.storage.write import write_resource

    facility = token_for("facility", facility="79001")
    created = client.post("/fhir/Patient", json=patient(), headers=facility).json()
    services = app.state.services
    system = AccessPolicy(None, services.compartment.person_types, services.settings.cccd_system)
    with unit_of_work(services.engine) as session:
        ctx = RequestContext(services, session, "http://testserver/fhir", system)
        write_resource(
            ctx,
            method="PUT",
            res_type="Patient",
            res_id=created["id"],
            body={**created, "gender": "female"},
        )
        ctx.finish()
    again = client.get(f"/fhir/Patient/{created['id']}", headers=facility)
    assert again.status_code == 200
    assert again.json()["gender"] == "female"
    assert again.json()["meta"]["source"] == "urn:ehr:facility:79001"
    changed = client.put(f"/fhir/Patient/{created['id']}", json=again.json(), headers=facility)
    assert changed.status_code == 200
