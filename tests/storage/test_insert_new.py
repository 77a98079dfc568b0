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


BODIES = [
    {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-11-20T08:10:00+07:00",
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org"},
    },
    {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"code": "no-system"}], "text": "Nhịp tim"},
        "subject": {"reference": "Patient/p2"},
        "valueQuantity": {"value": 72.5},
    },
    {
        "resourceType": "Patient",
        "identifier": [{"value": "no-system"}, {"system": "urn:x", "value": "1"}],
        "name": [{"family": "Nguyễn", "given": ["Văn", "An"]}],
        "birthDate": "1990-05",
    },
    {
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "prediction": [{"probabilityDecimal": 0.25}, {"probabilityDecimal": 1}],
    },
    {"resourceType": "ValueSet", "status": "active", "url": "http://example.org/vs"},
]
"""One body for each kind of index row, with what a column of rows can hold: ints and
floats in one number column, missing systems, text with diacritics."""


def test_many_resources_at_once_get_the_same_rows_as_one_at_a_time(app):
    """On PostgreSQL a batch writes each table's rows for all its resources in one
    statement, with keys taken first, and one resource in a statement per table keyed by
    the sequence: both must store what SQLite's row-by-row inserts store."""
    from ehr.search.extract import extract_all
    from ehr.search.values import NumberValue
    from ehr.storage.repository import NewResource, insert_new_many

    services = app.state.services

    def resource(res_id: str, body: dict) -> NewResource:
        body = {**body, "id": res_id}
        res_type = body["resourceType"]
        entries = extract_all(body, services.registry)
        patients = services.compartment.patients_of(res_type, res_id, entries)
        content = orjson.dumps(body)
        return NewResource(res_type, res_id, 5, content, "79001", entries, patients)

    def whole_numbers(res_id: str) -> NewResource:
        """Index values typed float but given as ints, beside floats in one column."""
        entries = [("number", "probability", NumberValue(1, 0, 2))]
        return NewResource("RiskAssessment", res_id, 5, b"{}", None, entries, set())

    with unit_of_work(services.engine) as session:
        batch = [resource(f"m{i}", body) for i, body in enumerate(BODIES)]
        batch.append(whole_numbers("m-ints"))
        together = insert_new_many(session, batch)
        alone = [
            insert_new_many(session, [resource(f"s{i}", body)])[0] for i, body in enumerate(BODIES)
        ]
        alone.append(insert_new_many(session, [whole_numbers("s-ints")])[0])
        assert [s.res_id for s in together] == [r.res_id for r in batch]
        assert [s.rid for s in together] == sorted(s.rid for s in together)
        assert len({s.rid for s in together + alone}) == 2 * len(batch)
        kinds = set()
        for many, one in zip(together, alone, strict=True):
            rows = _as_self(stored_rows(session, many.rid), many.res_id)
            assert rows == _as_self(stored_rows(session, one.rid), one.res_id)
            kinds |= {kind for kind, found in rows.items() if found}
        assert kinds >= {"compartment", "version", *SEARCH_TABLES}
        for stored, given in zip(together, batch, strict=True):
            assert _content(session, stored.rid) == given.content
        numbers = stored_rows(session, together[3].rid)["number"]
        assert sorted(row["value"] for row in numbers) == [0.25, 1.0]


def _content(session, rid: int) -> bytes:  # type: ignore[no-untyped-def]
    """The JSON of ``rid`` as stored in the resource table and in its history."""
    from sqlalchemy import text

    found = [
        session.execute(text(f"SELECT content FROM {table} WHERE rid = :rid"), {"rid": rid})
        .scalars()
        .all()
        for table in ("resource", "resource_version")
    ]
    assert found[0] == found[1], "the resource and its history row hold the same JSON"
    return bytes(found[0][0])


def _as_self(rows: dict, res_id: str) -> dict:
    """``rows`` with a Patient's own id in its compartment as "self" (ids differ)."""
    own = [{"patient_id": "self" if c["patient_id"] == res_id else c["patient_id"]}
           for c in rows["compartment"]]  # fmt: skip
    return {**rows, "compartment": own}
