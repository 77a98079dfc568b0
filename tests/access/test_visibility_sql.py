"""The facility and patient ``visible`` conditions, asked row by row, select exactly the rows
the set-based form selected: the compartment of every Patient the caller treats (or is),
widened to each such Patient's person (its golden record and every linked record).

The set-based form is kept here as the oracle. It computed the whole set of Patients a
caller may see for each statement, and on PostgreSQL again for every row a search examined
(a facility's ``Patient?family=`` search ran for minutes with 25,000 people treated):
``ehr.access.policy`` now asks, per row, a few index probes that must mean the same.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, insert, or_, select, union

from ehr.access.policy import AccessPolicy
from ehr.auth.principal import Principal
from ehr.db.schema import CareRelationship, Compartment, PersonLink, Resource, SearchToken

CCCD = "urn:cccd"
PERSON_TYPES = frozenset({"Patient", "Observation", "Encounter", "AuditEvent"})
_R = Resource.__table__  # type: ignore[attr-defined]
_C = Compartment.__table__  # type: ignore[attr-defined]
_CARE = CareRelationship.__table__  # type: ignore[attr-defined]
_LINK = PersonLink.__table__  # type: ignore[attr-defined]
_T = SearchToken.__table__  # type: ignore[attr-defined]

RECORDS = [f"f{i}" for i in range(6)]
PERSONS = [f"g{i}" for i in range(3)]
PATIENTS = RECORDS + PERSONS
FACILITIES = ["A", "B"]


@st.composite
def worlds(draw: st.DrawFn) -> dict:
    links = {
        record: person
        for record in RECORDS
        if (person := draw(st.sampled_from([None, *PERSONS]))) is not None
    }
    care = draw(st.sets(st.tuples(st.sampled_from(FACILITIES), st.sampled_from(PATIENTS))))
    resources = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["Observation", "Encounter", "AuditEvent", "Organization"]),
                st.sampled_from([None, *FACILITIES]),
                st.sets(st.sampled_from(PATIENTS), max_size=3),
            ),
            max_size=12,
        )
    )
    cards = draw(st.dictionaries(st.sampled_from(RECORDS), st.sampled_from(["c1", "c2"])))
    return {"links": links, "care": care, "resources": resources, "cards": cards}


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        yield conn


def _store(conn: Connection, world: dict) -> None:
    for table in (_T, _C, _CARE, _LINK, _R):
        conn.execute(table.delete())
    rid = 0
    for patient in PATIENTS:  # the Patients themselves, each in its own compartment
        rid += 1
        conn.execute(insert(_R).values(_row(rid, "Patient", patient, None)))
        conn.execute(insert(_C).values(rid=rid, patient_id=patient))
        if patient in world["cards"]:
            conn.execute(
                insert(_T).values(
                    rid=rid,
                    res_type="Patient",
                    param="identifier",
                    system=CCCD,
                    code=world["cards"][patient],
                )
            )
    for res_type, facility, patients in world["resources"]:
        rid += 1
        conn.execute(insert(_R).values(_row(rid, res_type, f"r{rid}", facility)))
        for patient in patients:
            conn.execute(insert(_C).values(rid=rid, patient_id=patient))
    for record, person in world["links"].items():
        conn.execute(
            insert(_LINK).values(
                patient_id=record, person_id=person, link_type="AUTO", grade="certain", updated=1
            )
        )
    for facility, patient in world["care"]:
        conn.execute(insert(_CARE).values(facility=facility, patient_id=patient, since=1))


def _row(rid: int, res_type: str, res_id: str, facility: str | None) -> dict:
    return {
        "rid": rid,
        "res_type": res_type,
        "res_id": res_id,
        "version": 1,
        "last_updated": 1,
        "deleted": False,
        "content": b"{}",
        "facility": facility,
    }


def _visible(conn: Connection, condition) -> set[int]:  # type: ignore[no-untyped-def]
    return set(conn.execute(select(_R.c.rid).where(condition)).scalars())


def _widened(patient_ids):  # type: ignore[no-untyped-def]
    """The oracle: the set-based form the policy used before (``_with_linked_records``)."""
    persons = select(_LINK.c.person_id).where(
        or_(_LINK.c.patient_id.in_(patient_ids), _LINK.c.person_id.in_(patient_ids))
    )
    return union(
        patient_ids, persons, select(_LINK.c.patient_id).where(_LINK.c.person_id.in_(persons))
    )


def _in_compartment_of(ids):  # type: ignore[no-untyped-def]
    from sqlalchemy import exists

    return exists(select(1).where(_C.c.rid == _R.c.rid, _C.c.patient_id.in_(ids)))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(world=worlds(), facility=st.sampled_from(FACILITIES))
def test_a_facility_sees_the_rows_the_set_based_form_selected(connection, world, facility):
    transaction = connection.begin()
    try:
        _store(connection, world)
        policy = AccessPolicy(
            Principal(subject="s", role="facility", facility=facility), PERSON_TYPES, CCCD
        )
        treated = select(_CARE.c.patient_id).where(_CARE.c.facility == facility)
        expected = _visible(connection, _in_compartment_of(_widened(treated)))
        assert _visible(connection, policy._in_care_of_facility(_R)) == expected
    finally:
        transaction.rollback()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(world=worlds(), card=st.sampled_from(["c1", "c2"]))
def test_a_patient_sees_the_rows_the_set_based_form_selected(connection, world, card):
    transaction = connection.begin()
    try:
        _store(connection, world)
        policy = AccessPolicy(Principal(subject="s", role="patient", cccd=card), PERSON_TYPES, CCCD)
        expected = _visible(connection, _in_compartment_of(_widened(policy.own_patient_ids())))
        assert _visible(connection, policy._in_compartment_of_own_records(_R)) == expected
    finally:
        transaction.rollback()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    world=worlds(),
    role=st.sampled_from(["facility", "patient", "ministry"]),
    types=st.sets(
        st.sampled_from(["Patient", "Observation", "Encounter", "AuditEvent", "Organization"]),
        min_size=1,
    ),
)
def test_told_the_types_a_query_reads_the_condition_selects_the_same_rows_of_them(
    connection, world, role, types
):
    """``visible(table, types=...)`` leaves out what cannot apply to those types; of rows of
    those types it must select exactly what the condition for every type selects."""
    transaction = connection.begin()
    try:
        _store(connection, world)
        principal = Principal(subject="s", role=role, facility="A", cccd="c1")
        policy = AccessPolicy(principal, PERSON_TYPES, CCCD)
        of_types = _R.c.res_type.in_(sorted(types))
        told = _visible(connection, of_types & policy.visible(_R, types=types))
        assert told == _visible(connection, of_types & policy.visible(_R))
    finally:
        transaction.rollback()
