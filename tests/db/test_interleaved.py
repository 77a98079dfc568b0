"""Units of a batch run interleaved (``ehr.db.interleaved``): on PostgreSQL the driver
SELECTs they reach together go as one statement, yet each unit gets exactly its own rows,
errors and audit rows, as it would alone; on SQLite they run one after another."""

from __future__ import annotations

import contextvars
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, bindparam, select, text
from sqlalchemy.exc import DBAPIError

from ehr.audit.pending import log_row
from ehr.db import audit_file
from ehr.db.driver_select import DriverSelect
from ehr.db.group_commit import run_batch
from ehr.db.interleaved import run_interleaved
from ehr.db.schema import Resource
from ehr.db.unit_of_work import unit_of_work

_R = Resource.__table__  # type: ignore[attr-defined]
_BY_ID = DriverSelect(
    select(_R.c.res_id, _R.c.version).where(
        _R.c.res_type == bindparam("res_type"), _R.c.res_id == bindparam("res_id")
    )
)
_BY_TYPE = DriverSelect(
    select(_R.c.res_id).where(_R.c.res_type == bindparam("res_type")).order_by(_R.c.res_id)
)
_names = itertools.count()


@pytest.fixture
def stored(engine: Engine) -> Engine:
    with unit_of_work(engine) as session:
        for i in range(6):
            session.execute(
                _R.insert().values(
                    res_type="Basic" if i % 2 else "Flag",
                    res_id=f"i{i}",
                    version=i + 1,
                    last_updated=1,
                    deleted=False,
                    content=b"{}",
                )
            )
    return engine


def _lookups(session, asked):  # type: ignore[no-untyped-def]
    """A unit's work: its lookups one after another, each a driver SELECT."""
    found = []
    for kind, value in asked:
        if kind == "id":
            found.append(_BY_ID.rows(session, {"res_type": value[0], "res_id": value[1]}))
        else:
            found.append(_BY_TYPE.rows(session, {"res_type": value}))
    return found


_lookup = st.one_of(
    st.tuples(
        st.just("id"),
        st.tuples(st.sampled_from(["Basic", "Flag"]), st.sampled_from(["i0", "i1", "i5", "x"])),
    ),
    st.tuples(st.just("type"), st.sampled_from(["Basic", "Flag", "Nothing"])),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(units=st.lists(st.lists(_lookup, max_size=3), min_size=1, max_size=8))
def test_each_unit_gets_the_rows_its_selects_give_alone(stored: Engine, units) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(stored, write=False) as session:
        alone = [_lookups(session, asked) for asked in units]
        together = run_interleaved(
            session, [lambda asked=asked: _lookups(session, asked) for asked in units]
        )
    assert together == alone


def test_selects_reached_together_go_as_one_statement_on_postgresql(
    stored: Engine, gathered: list[int]
) -> None:
    """Five units, each two lookups: two rounds, each round one statement per SELECT."""
    asked = [[("id", ("Basic", f"i{i}")), ("type", "Flag")] for i in range(5)]
    with unit_of_work(stored, write=False) as session:
        postgres = session.connection().dialect.name == "postgresql"
        found = run_interleaved(session, [lambda a=a: _lookups(session, a) for a in asked])
    assert [rows[1] for rows in found] == [[("i0",), ("i2",), ("i4",)]] * 5
    assert [rows[0] for rows in found] == [[(f"i{i}", i + 1)] if i % 2 else [] for i in range(5)]
    assert gathered == [5, 5]  # on SQLite ``many`` runs each set alone, as ``rows`` would
    assert postgres or all(size == 5 for size in gathered)


def test_a_batch_on_postgresql_runs_its_units_interleaved(
    stored: Engine, gathered: list[int]
) -> None:
    """``run_batch``: on PostgreSQL the units' SELECTs are gathered, on SQLite (in process,
    no round trip to save) each unit runs alone in turn."""
    works = [
        lambda s, i=i: _BY_ID.rows(s, {"res_type": "Basic", "res_id": f"i{i}"}) for i in range(4)
    ]
    outcomes = run_batch(stored, works)
    assert [o.value for o in outcomes] == [[], [("i1", 2)], [], [("i3", 4)]]
    postgres = stored.dialect.name == "postgresql"
    assert gathered == ([4] if postgres else [])


def _stored_rows(engine: Engine, prefix: str) -> set[str]:
    table = audit_file.TABLE if audit_file.audit_file_of(engine) is not None else "audit_pending"
    with engine.connect() as connection:
        rows = connection.execute(
            text(f"SELECT res_id FROM {table} WHERE res_id LIKE :p"), {"p": f"{prefix}%"}
        )
        return {row.res_id for row in rows}


def test_a_unit_that_fails_after_others_logged_drops_only_its_own_audit_rows(
    stored: Engine,
) -> None:
    """Interleaved, a unit's rows are not all after a mark: one that logs, waits for its
    SELECT while the others log, and then fails must take only its own rows with it."""
    prefix = f"interleaved{next(_names)}-"

    def unit(i: int, fails: bool):  # type: ignore[no-untyped-def]
        def work(session):  # type: ignore[no-untyped-def]
            log_row(session, (f"{prefix}{i}-before", 1, None, b"{}"))
            _BY_TYPE.rows(session, {"res_type": "Basic"})
            log_row(session, (f"{prefix}{i}-after", 1, None, b"{}"))
            if fails:
                raise ValueError(i)
            return i

        return work

    outcomes = run_batch(stored, [unit(0, True), unit(1, False), unit(2, True), unit(3, False)])
    assert [o.value for o in outcomes] == [None, 1, None, 3]
    assert _stored_rows(stored, prefix) == {
        f"{prefix}{i}-{when}" for i in (1, 3) for when in ("before", "after")
    }


def test_an_error_of_a_gathered_select_gives_up_the_batch_and_units_run_alone(
    stored: Engine,
) -> None:
    """The units waiting on a statement that fails each get its error; a database error
    gives up the batch, and every unit is answered by running alone."""
    bad = DriverSelect(select(_R.c.res_id).where(_R.c.version == bindparam("version")))
    works = [
        lambda s: _BY_TYPE.rows(s, {"res_type": "Flag"}),
        lambda s: bad.rows(s, {"version": "not a number"}),
        lambda s: bad.rows(s, {"version": "nor this"}),
        lambda s: _BY_TYPE.rows(s, {"res_type": "Basic"}),
    ]
    outcomes = run_batch(stored, works)
    assert outcomes[0].value == [("i0",), ("i2",), ("i4",)]
    assert outcomes[3].value == [("i1",), ("i3",), ("i5",)]
    if stored.dialect.name == "postgresql":  # SQLite compares anything with anything
        assert all(isinstance(o.error, DBAPIError) for o in outcomes[1:3])


def test_a_unit_that_raises_stops_the_others_where_they_wait(stored: Engine) -> None:
    stopped: list[int] = []

    def waits(session, i):  # type: ignore[no-untyped-def]
        try:
            _BY_TYPE.rows(session, {"res_type": "Basic"})
            _BY_TYPE.rows(session, {"res_type": "Flag"})
        finally:
            stopped.append(i)

    def raises():  # type: ignore[no-untyped-def]
        raise ValueError("unit")

    with unit_of_work(stored, write=False) as session:
        units = [lambda: waits(session, 0), raises, lambda: waits(session, 2)]
        with pytest.raises(ValueError, match="unit"):
            run_interleaved(session, units)
        assert "ehr_interleaved_units" not in session.info
    assert stopped == [0]  # the first waited and was stopped; the third never started


def test_each_unit_has_a_context_of_its_own(stored: Engine) -> None:
    seen = contextvars.ContextVar("seen", default="none")

    def unit(session, name):  # type: ignore[no-untyped-def]
        before = seen.get()
        seen.set(name)
        _BY_TYPE.rows(session, {"res_type": "Basic"})
        return before, seen.get()

    with unit_of_work(stored, write=False) as session:
        found = run_interleaved(session, [lambda n=n: unit(session, n) for n in "ab"])
    assert found == [("none", "a"), ("none", "b")]
    assert seen.get() == "none"


def test_values_with_other_bind_names_are_not_run_together(stored: Engine) -> None:
    """One ``LATERAL`` statement binds one set of names: values that name others (here an
    extra one, which a statement alone ignores) run in a statement of their own."""
    asked = [{"res_type": "Basic", "unused": "x"}, {"res_type": "Flag"}]
    with unit_of_work(stored, write=False) as session:
        found = run_interleaved(session, [lambda v=v: _BY_TYPE.rows(session, v) for v in asked])
    assert found == [[("i1",), ("i3",), ("i5",)], [("i0",), ("i2",), ("i4",)]]
