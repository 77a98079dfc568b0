"""A group commit's reads by id answer exactly what each read would have alone, and on
PostgreSQL (units interleaved, ``ehr.db.interleaved``) they go as one statement."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ehr.access.policy import AccessPolicy
from ehr.context import RequestContext
from ehr.db.group_commit import run_batch
from ehr.db.unit_of_work import unit_of_work
from ehr.storage.repository import read_current
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
@given(picks=st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=8))
def test_a_batch_of_reads_answers_what_each_read_gives_alone(app, picks):
    engine = app.state.services.engine
    keys = _store(app, f"r{next(_rounds)}-")
    with unit_of_work(engine) as session:
        alone = {key: read_current(session, *key, with_patients=True) for key in keys}
    assert keys[0][1] in alone[keys[0]].patients  # the Patients come along
    assert alone[keys[2]].patients == {keys[0][1]}
    assert alone[keys[1]].deleted and alone[keys[3]] is None and alone[keys[4]] is None

    def reader(key):  # type: ignore[no-untyped-def]
        return lambda session: read_current(session, *key, with_patients=True)

    outcomes = run_batch(engine, [reader(keys[i]) for i in picks])
    assert [outcome.result() for outcome in outcomes] == [alone[keys[i]] for i in picks]


def test_on_postgresql_a_batch_of_reads_is_one_statement(app, gathered):
    engine = app.state.services.engine
    keys = _store(app, "s-")
    outcomes = run_batch(
        engine, [lambda s, key=key: read_current(s, *key, with_patients=True) for key in keys]
    )
    assert [o.result() is None for o in outcomes] == [False, False, False, True, True]
    assert gathered == ([len(keys)] if engine.dialect.name == "postgresql" else [])
