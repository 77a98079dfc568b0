"""A real FHIR client (fhirpy) drives a real uvicorn server."""

from __future__ import annotations

import pytest
from fhir_helpers import patient
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome as ClientOutcome

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"


@pytest.fixture
def fhir(live_server) -> SyncFHIRClient:
    return SyncFHIRClient(
        live_server.base_url,
        authorization=live_server.headers["Authorization"],
        extra_headers={"Accept": "application/fhir+json"},
    )


def test_fhirpy_creates_reads_and_updates_with_version(fhir):
    created = fhir.resource("Patient", **patient(family="Nguyễn"))
    created.save()
    assert created.id and created.meta["versionId"] == "1"
    fetched = fhir.reference("Patient", created.id).to_resource()
    assert fetched["name"][0]["family"] == "Nguyễn"
    fetched["gender"] = "female"
    fetched.save()
    assert fetched.meta["versionId"] == "2"
    again = fhir.reference("Patient", created.id).to_resource()
    assert again["gender"] == "female"


def test_fhirpy_searches_and_pages_through_every_result(fhir):
    for index in range(12):
        fhir.resource("Patient", **patient(family=f"Trần{index:02d}")).save()
    results = fhir.resources("Patient").search(family="tran").limit(5).fetch_all()
    families = sorted(r["name"][0]["family"] for r in results)
    assert families == [f"Trần{index:02d}" for index in range(12)]
    assert fhir.resources("Patient").search(family="tran").count() == 12


def test_fhirpy_posts_a_transaction(fhir, live_server):
    import httpx

    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0b6e2f4c-1111-4222-8333-444455556666",
                "resource": patient(identifier=[{"system": CCCD, "value": "079090001234"}]),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "subject": {"reference": "urn:uuid:0b6e2f4c-1111-4222-8333-444455556666"},
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
        ],
    }
    result = fhir.execute("", method="post", data=bundle)
    assert result["type"] == "transaction-response"
    encounters = (
        fhir.resources("Encounter")
        .search(**{"subject:Patient.identifier": f"{CCCD}|079090001234"})
        .fetch_all()
    )
    assert len(encounters) == 1
    assert httpx.get(f"{live_server.base_url}/metadata").status_code == 200
    assert httpx.get(f"{live_server.base_url}/Encounter").status_code == 401


def test_fhirpy_sees_an_operation_outcome_for_a_bad_resource(fhir):
    bad = fhir.resource("Patient", gender="robot")
    with pytest.raises(ClientOutcome):
        bad.save()
