"""Driver SELECTs: the rows SQLAlchemy would give, in the session's own transaction, with
SQLAlchemy's errors; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, bindparam, column, func, select, table
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from ehr.db.driver_select import DriverSelect
from ehr.db.schema import Compartment, Resource
from ehr.db.unit_of_work import unit_of_work
from ehr.search import templates
from ehr.storage.repository import patients_column

_R = Resource.__table__  # type: ignore[attr-defined]
_C = Compartment.__table__  # type: ignore[attr-defined]

_BY_TYPE = (
    select(_R.c.rid, _R.c.res_id, _R.c.deleted, _R.c.content, patients_column().label("patients"))
    .where(_R.c.res_type == bindparam("res_type"), _R.c.version >= 1)
    .order_by(_R.c.rid)
)
"""A typed bind, a literal turned parameter (``1``), a boolean column (an integer on
SQLite), bytes, and ``aggregate_strings`` whose separator SQLAlchemy renders only at
execution."""


def _add(session: Session, res_id: str, *, deleted: bool, patients: list[str]) -> None:
    rid = session.execute(
        _R.insert()
        .values(
            res_type="Observation",
            res_id=res_id,
            version=1,
            last_updated=1,
            deleted=deleted,
            content=None if deleted else b'{"id": "%s"}' % res_id.encode(),
        )
        .returning(_R.c.rid)
    ).scalar_one()
    for patient in patients:
        session.execute(_C.insert().values(rid=rid, patient_id=patient))


def test_rows_are_what_sqlalchemy_gives_in_the_same_transaction(engine: Engine) -> None:
    driver = DriverSelect(_BY_TYPE)
    with unit_of_work(engine, write=False) as session:
        # Written in this transaction, not committed: the driver's cursor must see them.
        _add(session, "o1", deleted=False, patients=["p1", "p2"])
        _add(session, "o2", deleted=True, patients=[])
        expected = [tuple(row) for row in session.execute(_BY_TYPE, {"res_type": "Observation"})]
        found = driver.rows(session, {"res_type": "Observation"})
        assert driver.rows(session, {"res_type": "Patient"}) == []
    assert found == expected
    assert [row[2] for row in found] == [False, True]
    assert all(type(row[2]) is bool for row in found)
    assert found[0][3] == b'{"id": "o1"}'
    assert sorted(found[0][4].split(" ")) == ["p1", "p2"]
    assert driver.keys == ("rid", "res_id", "deleted", "content", "patients")


def test_first_is_the_first_row_or_none(engine: Engine) -> None:
    driver = DriverSelect(_BY_TYPE)
    with unit_of_work(engine, write=False) as session:
        _add(session, "a", deleted=False, patients=[])
        _add(session, "b", deleted=False, patients=[])
        first = driver.first(session, {"res_type": "Observation"})
        assert first is not None and first[1] == "a"
        assert driver.first(session, {"res_type": "Encounter"}) is None


class _ByType(NamedTuple):
    rid: int
    res_id: str
    deleted: bool
    content: bytes | None
    patients: str | None


class _Misnamed(NamedTuple):
    rid: int
    res_id: str


def test_first_as_names_the_values_of_the_first_row(engine: Engine) -> None:
    driver = DriverSelect(_BY_TYPE)
    with unit_of_work(engine, write=False) as session:
        _add(session, "a", deleted=False, patients=["p1"])
        first = driver.first_as(session, {"res_type": "Observation"}, _ByType)
        assert first is not None
        assert (first.res_id, first.deleted, first.patients) == ("a", False, "p1")
        assert tuple(first) == driver.first(session, {"res_type": "Observation"})
        assert driver.first_as(session, {"res_type": "Encounter"}, _ByType) is None
        with pytest.raises(TypeError):
            driver.first_as(session, {"res_type": "Observation"}, _Misnamed)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s))
def test_any_text_value_is_bound_not_spliced(engine: Engine, value: str) -> None:
    """Quotes, percent signs, question marks and the like are values, never SQL."""
    driver = DriverSelect(select(_R.c.res_id).where(_R.c.res_id == bindparam("res_id")))
    with unit_of_work(engine, write=False) as session:  # rolled back
        _add(session, value, deleted=False, patients=[])
        assert driver.rows(session, {"res_id": value}) == [(value,)]


def test_a_database_error_is_sqlalchemys(engine: Engine) -> None:
    """Retries and HTTP statuses are decided on ``DBAPIError``: the driver's errors must be
    one."""
    missing = table("no_such_table", column("x"))
    driver = DriverSelect(select(missing.c.x).where(missing.c.x == bindparam("x")))
    with pytest.raises(DBAPIError), unit_of_work(engine) as session:
        driver.rows(session, {"x": 1})


def test_an_expanding_parameter_is_refused(engine: Engine) -> None:
    driver = DriverSelect(select(_R.c.rid).where(_R.c.res_id.in_(bindparam("ids", expanding=True))))
    with pytest.raises(ValueError, match="IN lists"), unit_of_work(engine) as session:
        driver.rows(session, {"ids": ["a"]})


def test_search_templates_run_on_the_driver_unless_their_sql_depends_on_values() -> None:
    one = templates.template(("test-driver", 1), lambda: _slotted_select(["c0v0code"]))
    several = templates.template(
        ("test-driver", 2), lambda: _slotted_select(["c0v0code", "c0v1code"])
    )
    assert one.driver is not None and one.driver.keys == ("rid",)
    assert several.driver is not None  # one parameter per slot: the shape fixes how many
    counted = templates.bind_slots(select(func.count()).where(_R.c.res_id.in_(["x", "y"])))
    assert counted.driver is None  # a literal IN list expands too


def test_an_in_list_of_slots_binds_each_slot(engine: Engine) -> None:
    several = templates.bind_slots(_slotted_select(["c0v0code", "c0v1code", "c0v2code"]))
    assert several.driver is not None
    with unit_of_work(engine, write=False) as session:  # rolled back
        for res_id in ("a", "b", "c", "d"):
            _add(session, res_id, deleted=False, patients=[])
        values = {"c0v0code": "d", "c0v1code": "b", "c0v2code": "x"}
        rids = {row[0] for row in several.driver.rows(session, values)}
        expected = session.execute(select(_R.c.rid).where(_R.c.res_id.in_(["b", "d"])))
        assert rids == set(expected.scalars()) and len(rids) == 2


def _slotted_select(slots: list[str]):  # type: ignore[no-untyped-def]
    values = [templates.Slot(name) for name in slots]
    condition = _R.c.res_id == values[0] if len(values) == 1 else _R.c.res_id.in_(values)
    return select(_R.c.rid).where(condition)


_BY_TYPE_AND_ID_PREFIX = (
    select(_R.c.rid, _R.c.res_id, _R.c.deleted, _R.c.content, patients_column().label("patients"))
    .where(_R.c.res_type == bindparam("res_type"), _R.c.res_id >= bindparam("from_id"))
    .order_by(_R.c.res_id.desc())
    .limit(3)
)
"""Two binds per set of values, a descending order and a limit: each set's rows must come
back as that statement alone gives them, in its order."""


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    asked=st.lists(
        st.tuples(
            st.sampled_from(["Observation", "Patient", "Nothing"]),
            st.sampled_from(["", "o2", "o5", "p1", "z"]),
        ),
        min_size=1,
        max_size=9,
    )
)
def test_many_gives_each_set_of_values_the_rows_it_gives_alone(
    engine: Engine, asked: list[tuple[str, str]]
) -> None:
    """``many`` (one ``LATERAL`` statement on PostgreSQL) answers each set of values with
    exactly the rows, in the order, that ``rows`` gives it alone; repeated sets included."""
    ordered = DriverSelect(_BY_TYPE_AND_ID_PREFIX)
    with unit_of_work(engine, write=False) as session:
        for i in range(7):
            _add(session, f"o{i}", deleted=i == 3, patients=[f"p{i}", "p9"][: i % 3])
        _add(session, "p1", deleted=False, patients=["p1"])
        session.execute(_R.update().where(_R.c.res_id == "p1").values(res_type="Patient"))
        asked = [*asked, ("Observation", "")]  # one set with three rows at least
        values = [{"res_type": res_type, "from_id": from_id} for res_type, from_id in asked]
        alone = [ordered.rows(session, one) for one in values]
        together = ordered.many(session, values)
        by_type = DriverSelect(_BY_TYPE)
        one_bind = [{"res_type": res_type} for res_type, _ in asked]
        assert by_type.many(session, one_bind) == [by_type.rows(session, v) for v in one_bind]
    assert together == alone
    assert len(alone[-1]) == 3
