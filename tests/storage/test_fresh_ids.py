"""A resource under an id the server just minted is inserted without first reading that id
(``write_resource(fresh_id=True)``): every create, and a new person's golden record.

On PostgreSQL the read was a round trip per created resource; these tests pin that it is
gone, that the other writes still read (and lock) what they replace, and that a minted id
that did repeat is refused whole, never half-written.
"""

from __future__ import annotations

import pytest
from fhir_helpers import patient

import ehr.storage.write as write_module
from ehr.mpi.cccd import make_cccd

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"


@pytest.fixture
def current_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The (type, id) of every current version the write path reads."""
    seen: list[tuple[str, str]] = []
    original = write_module.read_current

    def recording(session, res_type, res_id, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((res_type, res_id))
        return original(session, res_type, res_id, **kwargs)

    monkeypatch.setattr(write_module, "read_current", recording)
    return seen


def _person_of(resource: dict) -> str:
    (refer,) = [link for link in resource["link"] if link["type"] == "refer"]
    return refer["other"]["reference"].removeprefix("Patient/")


def test_a_create_and_a_new_persons_golden_record_read_no_current_version(
    client, token_for, current_reads
):
    number = make_cccd("079", "female", 1985, 7)
    body = patient(
        gender="female", birthDate="1985-03-02", identifier=[{"system": CCCD, "value": number}]
    )
    created = client.post(
        "/fhir/Patient", json=body, headers=token_for("facility", facility="79001")
    )
    assert created.status_code == 201, created.text
    person = _person_of(created.json())
    assert ("Patient", created.json()["id"]) not in current_reads
    assert ("Patient", person) not in current_reads

    # An update still reads (and locks) the version it replaces: the spy sees writes.
    updated = client.put(
        f"/fhir/Patient/{created.json()['id']}",
        json={**created.json(), "telecom": [{"system": "phone", "value": "0912345678"}]},
        headers=token_for("facility", facility="79001"),
    )
    assert updated.status_code == 200, updated.text
    assert ("Patient", created.json()["id"]) in current_reads
    assert ("Patient", person) in current_reads  # its golden record, rebuilt


def test_a_transactions_created_entries_read_no_current_version(client, current_reads):
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:6f1c0a52-0c4e-4d1a-9d53-0d7f1d0e0001",
                "resource": patient(),
                "request": {"method": "POST", "url": "Patient"},
            }
        ],
    }
    response = client.post("/fhir", json=bundle)
    assert response.status_code == 200, response.text
    location = response.json()["entry"][0]["response"]["location"]
    created_id = location.split("/Patient/")[1].split("/")[0]
    assert created_id
    assert ("Patient", created_id) not in current_reads


def test_a_minted_id_that_repeats_is_refused_whole(client, monkeypatch, store_counts):
    """The resource table's unique key catches what the skipped read would have: 409, and
    the resource already there is left as it was."""
    first = client.post("/fhir/Patient", json=patient()).json()
    before = store_counts()
    monkeypatch.setattr("ehr.interactions.create.new_id", lambda: first["id"])
    again = client.post("/fhir/Patient", json=patient(gender="female"))
    assert again.status_code == 409, again.text
    assert again.json()["resourceType"] == "OperationOutcome"
    assert store_counts() == before
    stored = client.get(f"/fhir/Patient/{first['id']}").json()
    assert stored["meta"]["versionId"] == "1"
    assert stored.get("gender") == first.get("gender")
