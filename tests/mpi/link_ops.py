"""Helpers for the person-index operation tests: calling them and reading the partition."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ehr.db.schema import PersonLink
from ehr.mpi.review_tasks import REVIEW_SYSTEM


def ref(person_or_patient: str) -> dict[str, Any]:
    return {"valueReference": {"reference": f"Patient/{person_or_patient}"}}


def parameters(**values: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": name, **value} for name, value in values.items()],
    }


def operation(client, path: str, headers=None, **values: dict[str, Any]):  # type: ignore[no-untyped-def]
    return client.post(f"/fhir/{path}", json=parameters(**values), headers=headers or {})


def ok(response) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return response.json()


def change_of(result: dict[str, Any]) -> int:
    return next(p["valueInteger"] for p in result["parameter"] if p["name"] == "change")


def tasks_of(result: dict[str, Any]) -> list[str]:
    return [p["valueReference"]["reference"] for p in result["parameter"] if p["name"] == "task"]


def partition(app) -> set[frozenset[str]]:  # type: ignore[no-untyped-def]
    """The facility Patients grouped by their person, as the index holds them."""
    groups: dict[str, set[str]] = {}
    with app.state.services.engine.connect() as connection:
        for row in connection.execute(select(PersonLink.patient_id, PersonLink.person_id)):
            groups.setdefault(row.person_id, set()).add(row.patient_id)
    return {frozenset(group) for group in groups.values()}


def link_rows(app) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    """patient -> (person, link type)."""
    with app.state.services.engine.connect() as connection:
        rows = connection.execute(
            select(PersonLink.patient_id, PersonLink.person_id, PersonLink.link_type)
        )
        return {row.patient_id: (row.person_id, row.link_type) for row in rows}


def open_tasks(client, kind: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    found = client.get(
        "/fhir/Task", params={"status": "requested", "code": f"{REVIEW_SYSTEM}|{kind}"}
    )
    assert found.status_code == 200, found.text
    return [entry["resource"] for entry in found.json().get("entry", [])]
