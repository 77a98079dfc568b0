"""Small builders and assertions shared by the API tests."""

from __future__ import annotations

from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"
NATIONAL_PROFILE_TYPES = (
    "Patient",
    "Organization",
    "Encounter",
    "Condition",
    "Observation",
    "MedicationRequest",
    "Immunization",
    "AllergyIntolerance",
    "Procedure",
)
"""The types issue 5 gives a national profile (what the generator and the shipped
``fhir_profiles/`` are both checked against)."""


def patient(family: str = "Nguyễn", given: tuple[str, ...] = ("Văn", "An"), **extra: Any) -> dict:
    """A minimal valid Patient."""
    resource = {
        "resourceType": "Patient",
        "name": [{"family": family, "given": list(given)}],
        "gender": "male",
        "birthDate": "1990-05-17",
    }
    resource.update(extra)
    return resource


def outcome_issue(response: httpx.Response) -> dict:
    """The first OperationOutcome issue of an error response (asserting it is one)."""
    assert response.headers["content-type"].startswith(FHIR_JSON), response.headers
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert body["issue"], body
    return body["issue"][0]


def encounter(subject: str) -> dict:
    """A minimal valid ambulatory Encounter of ``subject`` (a reference string)."""
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": subject},
    }


def heart_rate(subject: str) -> dict:
    """A minimal valid heart-rate Observation of ``subject`` (a reference string)."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": subject},
        "valueQuantity": {"value": 72, "unit": "/min"},
    }


def count_of(client: Any, resource_type: str) -> int:
    """How many current resources of ``resource_type`` a search finds (as the client sees)."""
    response = client.get(f"/fhir/{resource_type}", params={"_summary": "count"})
    assert response.status_code == 200, response.text
    return response.json()["total"]


def link_url(bundle: dict, relation: str) -> str | None:
    """The URL of the Bundle link with ``relation`` (self, next, previous), if any."""
    return next((link["url"] for link in bundle["link"] if link["relation"] == relation), None)


def stored_rows(session: Any, rid: int) -> dict[str, Any]:
    """Every stored row of resource ``rid`` (resource, history, compartment, each index
    table), without the columns that differ from one write to the next."""
    from sqlalchemy import select

    from ehr.db.schema import SEARCH_TABLES, Compartment, Resource, ResourceVersion

    variable = {"rid", "res_id", "last_updated", "row_id", "vid", "content"}

    def clean(table: Any, where: Any) -> list[dict]:
        result = session.execute(select(table).where(where)).mappings()
        rows = [{k: v for k, v in row.items() if k not in variable} for row in result]
        return sorted(rows, key=repr)

    tables = {
        "resource": Resource.__table__,  # type: ignore[attr-defined]
        "version": ResourceVersion.__table__,  # type: ignore[attr-defined]
        "compartment": Compartment.__table__,  # type: ignore[attr-defined]
    }
    tables.update({kind: model.__table__ for kind, model in SEARCH_TABLES.items()})
    return {kind: clean(table, table.c.rid == rid) for kind, table in tables.items()}
