"""Batch and transaction bundles: atomicity, ordering, reference resolution, per-entry results."""

from __future__ import annotations

import pytest
from fhir_helpers import count_of, encounter, outcome_issue, patient

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"


def _entry(resource: dict, method: str = "POST", url: str | None = None, **extra) -> dict:  # type: ignore[no-untyped-def]
    entry = {
        "resource": resource,
        "request": {"method": method, "url": url or resource["resourceType"]},
    }
    entry.update(extra)
    return entry


def _bundle(entries: list[dict], kind: str = "transaction") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def test_transaction_resolves_urn_uuid_references_and_answers_in_request_order(client):
    bundle = _bundle(
        [
            _entry(encounter("urn:uuid:6d3c1d7e-0000-4000-8000-000000000001")),
            _entry(patient(), fullUrl="urn:uuid:6d3c1d7e-0000-4000-8000-000000000001"),
        ]
    )
    response = client.post("/fhir", json=bundle)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    encounter_entry, patient_entry = result["entry"]
    assert encounter_entry["response"]["status"].startswith("201")
    patient_id = patient_entry["resource"]["id"]
    assert encounter_entry["resource"]["subject"]["reference"] == f"Patient/{patient_id}"
    assert patient_entry["response"]["location"].endswith("/_history/1")


def test_a_failing_entry_rolls_back_the_whole_transaction(client, store_counts):
    bundle = _bundle(
        [
            _entry(patient(), fullUrl="urn:uuid:6d3c1d7e-0000-4000-8000-000000000002"),
            _entry(encounter("urn:uuid:6d3c1d7e-0000-4000-8000-000000000002")),
            _entry({"resourceType": "Patient", "gender": "robot"}),
        ]
    )
    response = client.post("/fhir", json=bundle)
    assert response.status_code == 422
    assert "Bundle.entry[2]" in outcome_issue(response)["diagnostics"]
    assert store_counts().resources == 0


def test_transaction_processes_deletes_before_creates_before_updates_before_reads(client):
    existing = client.post("/fhir/Patient", json=patient(family="Lê")).json()
    bundle = _bundle(
        [
            {"request": {"method": "GET", "url": "Patient?family=Phạm"}},
            _entry({**patient(family="Phạm"), "id": "pham-1"}, "PUT", "Patient/pham-1"),
            {"request": {"method": "DELETE", "url": f"Patient/{existing['id']}"}},
            _entry(patient(family="Phạm")),
        ]
    )
    result = client.post("/fhir", json=bundle).json()
    statuses = [entry["response"]["status"][:3] for entry in result["entry"]]
    assert statuses == ["200", "201", "204", "201"]
    searchset = result["entry"][0]["resource"]
    assert searchset["total"] == 2
    assert client.get(f"/fhir/Patient/{existing['id']}").status_code == 410


def test_if_none_exist_in_a_transaction_reuses_the_existing_resource(client):
    identifier = [{"system": CCCD, "value": "001090000077"}]
    client.post("/fhir/Patient", json=patient(identifier=identifier))
    bundle = _bundle(
        [
            _entry(
                patient(identifier=identifier),
                fullUrl="urn:uuid:6d3c1d7e-0000-4000-8000-000000000003",
                request={
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": f"identifier={CCCD}|001090000077",
                },
            ),
            _entry(encounter("urn:uuid:6d3c1d7e-0000-4000-8000-000000000003")),
        ]
    )
    result = client.post("/fhir", json=bundle).json()
    assert result["entry"][0]["response"]["status"].startswith("200")
    assert (count_of(client, "Patient"), count_of(client, "Encounter")) == (1, 1)


def test_conditional_references_are_resolved_to_the_single_match(client):
    identifier = [{"system": CCCD, "value": "001090000078"}]
    existing = client.post("/fhir/Patient", json=patient(identifier=identifier)).json()
    bundle = _bundle([_entry(encounter(f"Patient?identifier={CCCD}|001090000078"))])
    result = client.post("/fhir", json=bundle).json()
    assert result["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{existing['id']}"


@pytest.mark.parametrize(
    ("bundle", "status"),
    [
        (
            _bundle(
                [
                    _entry(patient(), fullUrl="urn:uuid:6d3c1d7e-0000-4000-8000-000000000009"),
                    _entry(patient(), fullUrl="urn:uuid:6d3c1d7e-0000-4000-8000-000000000009"),
                ]
            ),
            400,
        ),
        (_bundle([_entry(encounter("urn:uuid:6d3c1d7e-0000-4000-8000-00000000dead"))]), 422),
        (_bundle([_entry(encounter("Patient?identifier=nobody|0"))]), 400),
        (_bundle([_entry(encounter("Patient/ghost"))]), 422),
        (_bundle([{"request": {"method": "POST", "url": "Patient"}}]), 400),
        (_bundle([{"resource": patient()}]), 400),
        (_bundle([_entry(patient(), "FETCH")]), 400),
        ({"resourceType": "Bundle", "type": "collection", "entry": []}, 400),
        (patient(), 400),
    ],
    ids=[
        "duplicate-fullUrl",
        "unresolvable-urn",
        "conditional-ref-no-match",
        "missing-target",
        "no-resource",
        "no-request",
        "bad-method",
        "not-transaction",
        "not-a-bundle",
    ],
)
def test_bad_bundles_are_refused_and_write_nothing(client, store_counts, bundle, status):
    response = client.post("/fhir", json=bundle)
    assert response.status_code == status, response.text
    outcome_issue(response)
    assert store_counts().resources == 0


def test_batch_entries_succeed_or_fail_on_their_own(client):
    bundle = _bundle(
        [
            _entry(patient(family="Vũ")),
            _entry({"resourceType": "Patient", "gender": "robot"}),
            {"request": {"method": "GET", "url": "Patient/missing"}},
            _entry(patient(family="Đỗ")),
        ],
        kind="batch",
    )
    response = client.post("/fhir", json=bundle)
    assert response.status_code == 200
    statuses = [entry["response"]["status"][:3] for entry in response.json()["entry"]]
    assert statuses == ["201", "422", "404", "201"]
    assert response.json()["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert count_of(client, "Patient") == 2


def test_too_many_entries_is_413(client, store_counts):
    limit = client.app.state.services.settings.max_bundle_entries
    bundle = _bundle([_entry(patient())] * (limit + 1))
    response = client.post("/fhir", json=bundle)
    assert response.status_code == 413
    assert store_counts().resources == 0


def test_a_reference_to_what_the_transaction_deleted_is_422(client, store_counts):
    existing = client.post("/fhir/Patient", json=patient(family="Lý")).json()
    before = store_counts()
    bundle = _bundle(
        [
            _entry(encounter(f"Patient/{existing['id']}")),
            {"request": {"method": "DELETE", "url": f"Patient/{existing['id']}"}},
        ]
    )
    response = client.post("/fhir", json=bundle)
    assert response.status_code == 422
    assert outcome_issue(response)["expression"] == ["Encounter.subject"]
    assert store_counts() == before
    assert client.get(f"/fhir/Patient/{existing['id']}").status_code == 200


def test_a_batch_entry_cannot_refer_to_what_a_failed_entry_wrote(client):
    """A failed entry's savepoint takes its writes back; a later entry's reference to one
    of them is checked against the database, not against what the failed entry noted."""
    bundle = _bundle(
        [
            # Stored, then refused at the entry's end: its own reference does not resolve.
            _entry(
                patient(
                    id="rolled-back",
                    generalPractitioner=[{"reference": "Practitioner/nobody"}],
                ),
                method="PUT",
                url="Patient/rolled-back",
            ),
            _entry(encounter("Patient/rolled-back")),
        ],
        kind="batch",
    )
    response = client.post("/fhir", json=bundle)
    assert response.status_code == 200
    statuses = [entry["response"]["status"][:3] for entry in response.json()["entry"]]
    assert statuses == ["422", "422"]
    assert client.get("/fhir/Patient/rolled-back").status_code == 404
    assert count_of(client, "Encounter") == 0


def test_references_among_a_bundles_own_entries_need_no_lookup(client, monkeypatch):
    from ehr.storage import references

    looked_up: list[list[tuple[str, str]]] = []
    existing = references._existing

    def recording(session, targets):  # type: ignore[no-untyped-def]
        looked_up.append(list(targets))
        return existing(session, targets)

    monkeypatch.setattr(references, "_existing", recording)
    outside = client.post("/fhir/Patient", json=patient(family="Mai")).json()["id"]
    looked_up.clear()
    urn = "urn:uuid:6d3c1d7e-0000-4000-8000-000000000009"
    bundle = _bundle(
        [
            _entry(patient(), fullUrl=urn),
            _entry(encounter(urn)),
            _entry(encounter(f"Patient/{outside}")),
        ]
    )
    response = client.post("/fhir", json=bundle)
    assert response.status_code == 200, response.text
    assert looked_up == [[("Patient", outside)]]
