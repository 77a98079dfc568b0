"""The lean append of the exchange's own records stores exactly what the full write path stores."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ehr.access.policy import AccessPolicy
from ehr.audit.events import audit_event
from ehr.auth.principal import Principal
from ehr.context import RequestContext
from ehr.db.schema import SEARCH_TABLES, Compartment, Resource, ResourceVersion
from ehr.db.unit_of_work import unit_of_work
from ehr.storage.repository import insert_new
from ehr.storage.write import append_trusted, new_id, write_resource

FACILITY = Principal(subject="client-79001", role="facility", facility="79001", client_id="his")


def _event(break_glass: str | None) -> dict[str, Any]:
    return audit_event(
        principal=FACILITY,
        interaction="search-type",
        recorded="2026-11-23T10:00:00.123456+00:00",
        patients={"p1", "p2"},
        target="Patient/p1/_history/3",
        query="identifier=urn%3Ax%7C1",
        break_glass=break_glass,
    )


def _rows(session, rid: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Every stored row of resource ``rid``, without the columns that differ per write."""
    variable = {"rid", "res_id", "last_updated", "row_id", "vid", "content"}

    def clean(table, where) -> list[dict]:  # type: ignore[no-untyped-def]
        result = session.execute(select(table).where(where)).mappings()
        rows = [{k: v for k, v in row.items() if k not in variable} for row in result]
        return sorted(rows, key=repr)

    resource = Resource.__table__  # type: ignore[attr-defined]
    version = ResourceVersion.__table__  # type: ignore[attr-defined]
    compartment = Compartment.__table__  # type: ignore[attr-defined]
    rows = {
        "resource": clean(resource, resource.c.rid == rid),
        "version": clean(version, version.c.rid == rid),
        "compartment": clean(compartment, compartment.c.rid == rid),
    }
    for param_type, model in SEARCH_TABLES.items():
        table = model.__table__
        rows[param_type] = clean(table, table.c.rid == rid)
    return rows


def _content_without_stamps(stored) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    import orjson

    body = orjson.loads(stored.content)
    body.pop("id")
    body["meta"].pop("lastUpdated")
    return body


@pytest.mark.parametrize("break_glass", [None, "unconscious patient"])
def test_append_trusted_stores_the_same_rows_as_write_resource(app, break_glass):
    services = app.state.services
    policy = AccessPolicy(FACILITY, services.compartment.person_types, "urn:cccd")
    with unit_of_work(services.engine) as session:
        ctx = RequestContext(services, session, "http://x/fhir", policy)
        lean = append_trusted(ctx, "AuditEvent", _event(break_glass))
        full = write_resource(
            ctx,
            method="POST",
            res_type="AuditEvent",
            res_id=new_id(),
            body=_event(break_glass),
            check_references=False,
        ).stored
        assert full is not None
        assert (lean.version, lean.method, lean.facility) == (1, "POST", "79001")
        assert not lean.deleted
        assert _content_without_stamps(lean) == _content_without_stamps(full)
        lean_rows, full_rows = _rows(session, lean.rid), _rows(session, full.rid)
        assert lean_rows == full_rows
        assert lean_rows["token"] and lean_rows["reference"] and lean_rows["compartment"]
        assert lean_rows["version"] and lean_rows["resource"]


def test_what_append_trusted_stores_rolls_back_with_its_unit_of_work(app, store_counts):
    services = app.state.services
    policy = AccessPolicy(None, services.compartment.person_types, "urn:cccd")
    before = store_counts()
    with pytest.raises(RuntimeError), unit_of_work(services.engine) as session:
        append_trusted(
            RequestContext(services, session, "http://x/fhir", policy), "AuditEvent", _event(None)
        )
        raise RuntimeError("the access failed after its audit record was written")
    assert store_counts() == before


def test_a_database_error_in_the_lean_insert_is_a_sqlalchemy_error(app):
    """So that the unit of work retries it, and the HTTP layer maps it, like any other."""
    services = app.state.services
    with pytest.raises(IntegrityError), unit_of_work(services.engine) as session:
        for _ in range(2):
            insert_new(
                session,
                res_type="AuditEvent",
                res_id="the-same-id",
                last_updated=1,
                content=b"{}",
                facility=None,
                entries=[],
                patients=set(),
            )


def test_a_create_stores_the_same_index_and_compartment_rows_as_an_update(app):
    """Creates go through ``insert_new``, updates through ``save_version`` and the
    ``replace_*`` functions: the same body must leave the same rows either way."""
    services = app.state.services
    policy = AccessPolicy(None, services.compartment.person_types, "urn:cccd")
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-11-20T08:10:00+07:00",
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org"},
    }
    with unit_of_work(services.engine) as session:
        ctx = RequestContext(services, session, "http://x/fhir", policy)

        def write(method: str):  # type: ignore[no-untyped-def]
            return write_resource(
                ctx,
                method=method,
                res_type="Observation",
                res_id="obs-1",
                body=dict(observation),
                check_references=False,
            ).stored

        created = _rows(session, write("POST").rid)
        updated = _rows(session, write("PUT").rid)
    for kind in ("compartment", *SEARCH_TABLES):
        assert created[kind] == updated[kind], kind
    assert created["compartment"] and created["quantity"] and created["token"]
    assert [row["method"] for row in updated["version"]] == ["POST", "PUT"]
