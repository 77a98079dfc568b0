"""``prefetch_current``: a group commit's reads by id read ahead in one statement answer
exactly what each read would have, and (on PostgreSQL) without a statement of their own."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ehr.storage.repository as repository
from ehr.access.policy import AccessPolicy
from ehr.context import RequestContext
from ehr.db.group_commit import run_batch
from ehr.db.unit_of_work import unit_of_work
from ehr.storage.repository import prefetch_current, read_current
from ehr.storage.write import write_resource

_rounds = itertools.count()


def _store(app, prefix: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """A Patient, an Observation in its compartment, a deleted Observation and ids that
    name nothing: every kind of answer a read can get."""
    services = app.state.services
    policy = AccessPolicy(None, services.compartment.person_types, "urn:cccd")
    patient = {"resourceType": "Patient", "gender": "female", "birthDate": "1990-01-02"}
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{prefix}p1"},
    }
    for res_type, res_id, body in (
        ("Patient", f"{prefix}p1", patient),
        ("Observation", f"{prefix}o1", observation),
        ("Observation", f"{prefix}o2", observation),
        ("Observation", f"{prefix}o2", None),
    ):
        with unit_of_work(services.engine) as session:
            ctx = RequestContext(services, session, "http://x/fhir", policy)
            method = "DELETE" if body is None else "PUT"
            write_resource(ctx, method=method, res_type=res_type, res_id=res_id, body=body)
            ctx.finish()
    return [
        ("Patient", f"{prefix}p1"),
        ("Observation", f"{prefix}o2"),
        ("Observation", f"{prefix}o1"),
        ("Patient", f"{prefix}nobody"),
        ("Observation", f"{prefix}p1"),
    ]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(picks=st.lists(st.integers(min_value=0, max_value=4), max_size=8))
def test_a_read_after_a_prefetch_answers_what_it_would_without(app, picks):
    engine = app.state.services.engine
    keys = _store(app, f"r{next(_rounds)}-")
    with unit_of_work(engine) as session:
        expected = {key: read_current(session, *key, with_patients=True) for key in keys}
    with unit_of_work(engine) as session:
        prefetch_current(session, [keys[i] for i in picks])
        answered = {key: read_current(session, *key, with_patients=True) for key in keys}
    assert answered == expected
    assert keys[0][1] in expected[keys[0]].patients  # the Patients come along
    assert expected[keys[2]].patients == {keys[0][1]}
    assert expected[keys[1]].deleted and expected[keys[3]] is None


def test_on_postgresql_a_prefetched_read_makes_no_statement(app, monkeypatch):
    engine = app.state.services.engine
    keys = _store(app, "s-")
    with unit_of_work(engine) as session:
        prefetch_current(session, keys[:4])
        postgres = session.connection().dialect.name == "postgresql"
        made: list[tuple[str, str]] = []
        one_read = repository._READ_CURRENT_WITH_PATIENTS.first

        def counted(session, values):  # type: ignore[no-untyped-def]
            made.append((values["res_type"], values["res_id"]))
            return one_read(session, values)

        monkeypatch.setattr(repository._READ_CURRENT_WITH_PATIENTS, "first", counted)
        for key in keys:
            read_current(session, *key, with_patients=True)
        read_current(session, *keys[0])  # a read for a write is never answered ahead
    if postgres:
        assert made == [keys[4]]  # only what was not read ahead
    else:
        assert made == keys  # SQLite reads in process: nothing is read ahead


@pytest.mark.parametrize("with_prefetch", [False, True])
def test_a_batch_of_reads_answers_the_same_with_its_reads_ahead(app, with_prefetch):
    engine = app.state.services.engine
    keys = _store(app, f"b{int(with_prefetch)}-")

    def reader(key):  # type: ignore[no-untyped-def]
        return lambda session: read_current(session, *key, with_patients=True)

    outcomes = run_batch(engine, [reader(key) for key in keys], keys if with_prefetch else ())
    found = [outcome.result() for outcome in outcomes]
    assert [(f.res_type, f.res_id, f.deleted) for f in found if f is not None] == [
        (*keys[0], False),
        (*keys[1], True),
        (*keys[2], False),
    ]
    assert found[3] is None and found[4] is None
