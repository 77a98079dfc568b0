"""``insert_new`` (creates, indexed AuditEvents) stores exactly the rows the update path does,
and its driver errors are SQLAlchemy's."""

from __future__ import annotations

import orjson
import pytest
from fhir_helpers import stored_rows
from sqlalchemy.exc import IntegrityError

from ehr.access.policy import AccessPolicy
from ehr.auth.principal import Principal
from ehr.context import RequestContext
from ehr.db.schema import SEARCH_TABLES
from ehr.db.unit_of_work import unit_of_work
from ehr.storage.repository import insert_new
from ehr.storage.write import write_resource

FACILITY = Principal(subject="client-79001", role="facility", facility="79001", client_id="his")


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

        def write(method: str, res_id: str, body: dict):  # type: ignore[no-untyped-def]
            return write_resource(
                ctx,
                method=method,
                res_type="Observation",
                res_id=res_id,
                body=dict(body),
                check_references=False,
            ).stored

        created = stored_rows(session, write("POST", "obs-1", observation).rid)
        # An update must say something new to be stored: obs-2 starts as another reading.
        write("POST", "obs-2", {**observation, "valueQuantity": {"value": 60, "unit": "/min"}})
        updated = stored_rows(session, write("PUT", "obs-2", observation).rid)
    for kind in ("compartment", *SEARCH_TABLES):
        assert created[kind] == updated[kind], kind
    assert created["compartment"] and created["quantity"] and created["token"]
    assert [row["method"] for row in updated["version"]] == ["POST", "PUT"]


def test_many_resources_at_once_get_the_same_rows_as_one_at_a_time(app):
    from ehr.search.extract import extract_all
    from ehr.storage.repository import NewResource, insert_new_many

    services = app.state.services

    def resource(res_id: str, subject: str) -> NewResource:
        body = {
            "resourceType": "Observation",
            "id": res_id,
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{subject}"},
            "valueQuantity": {"value": 72, "unit": "/min"},
        }
        entries = extract_all(body, services.registry)
        patients = services.compartment.patients_of("Observation", res_id, entries)
        content = orjson.dumps(body)
        return NewResource("Observation", res_id, 5, content, "79001", entries, patients)

    with unit_of_work(services.engine) as session:
        together = insert_new_many(session, [resource(f"m{i}", f"p{i}") for i in range(4)])
        alone = [insert_new_many(session, [resource(f"s{i}", f"p{i}")])[0] for i in range(4)]
        assert [s.res_id for s in together] == ["m0", "m1", "m2", "m3"]
        assert len({s.rid for s in together + alone}) == 8
        for many, one in zip(together, alone, strict=True):
            assert stored_rows(session, many.rid) == stored_rows(session, one.rid)
            assert stored_rows(session, many.rid)["compartment"]
