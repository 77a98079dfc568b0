"""``DriverWrite``: data-changing statements on the driver's cursor, in the session's
transaction, with SQLAlchemy's errors; and the helpers built on it (``ehr.db.upsert``)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, bindparam, delete, select
from sqlalchemy.exc import IntegrityError

from ehr.db.driver_write import DriverWrite, insert_of, pipelined
from ehr.db.schema import MatchBlock, PersonLink, PersonLinkChange
from ehr.db.unit_of_work import unit_of_work
from ehr.db.upsert import insert_ignoring_duplicates, inserted_unless_present, upsert

_BLOCK = MatchBlock.__table__  # type: ignore[attr-defined]
_LINK = PersonLink.__table__  # type: ignore[attr-defined]
_CHANGE = PersonLinkChange.__table__  # type: ignore[attr-defined]
_INSERT_BLOCK = DriverWrite(insert_of(_BLOCK, ("key", "patient_id")))
_DELETE_BLOCKS = DriverWrite(delete(_BLOCK).where(_BLOCK.c.patient_id == bindparam("patient_id")))
_OPEN_CHANGE = DriverWrite(
    insert_of(_CHANGE, ("action", "link_type", "actor", "reason", "at")).returning(
        _CHANGE.c.change_id
    ),
    returning=(_CHANGE.c.change_id,),
)


def _blocks(session) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    rows = session.execute(select(_BLOCK.c.key, _BLOCK.c.patient_id).order_by(_BLOCK.c.key))
    return [tuple(row) for row in rows]


def test_one_row_many_rows_and_a_delete_in_the_sessions_transaction(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        _INSERT_BLOCK.execute(session, {"key": "a", "patient_id": "p1"})
        _INSERT_BLOCK.execute(session, [{"key": k, "patient_id": "p2"} for k in ("b", "c")])
        _INSERT_BLOCK.execute(session, [])
        assert _blocks(session) == [("a", "p1"), ("b", "p2"), ("c", "p2")]
        _DELETE_BLOCKS.execute(session, {"patient_id": "p2"})
    with unit_of_work(engine, write=False) as session:
        assert _blocks(session) == [("a", "p1")]


def test_what_it_wrote_rolls_back_with_the_unit_of_work(engine: Engine) -> None:
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        _INSERT_BLOCK.execute(session, {"key": "a", "patient_id": "p1"})
        raise RuntimeError("the request failed later")
    with unit_of_work(engine, write=False) as session:
        assert _blocks(session) == []


def test_returning_gives_the_new_keys(engine: Engine) -> None:
    values = {"action": "link", "link_type": "AUTO", "actor": "t", "reason": "r", "at": 1}
    with unit_of_work(engine) as session:
        first = _OPEN_CHANGE.returned(session, values)
        second = _OPEN_CHANGE.returned(session, values)
        stored = session.execute(select(_CHANGE.c.change_id).order_by(_CHANGE.c.change_id))
        assert [first[0][0], second[0][0]] == list(stored.scalars())
        assert second[0][0] > first[0][0]


def test_a_constraint_violation_is_sqlalchemys_integrity_error(engine: Engine) -> None:
    with pytest.raises(IntegrityError), unit_of_work(engine) as session:
        row = {"patient_id": "p1", "person_id": "x", "link_type": "AUTO"}
        insert = DriverWrite(insert_of(_LINK, tuple(row)))
        insert.execute(session, row)  # grade and updated are NOT NULL


def test_upsert_and_insert_ignoring_duplicates_keep_one_row_per_key(engine: Engine) -> None:
    def link(person: str) -> dict:
        return {
            "patient_id": "p1",
            "person_id": person,
            "link_type": "AUTO",
            "grade": "certain",
            "score": 0.5,
            "updated": 1,
        }

    with unit_of_work(engine) as session:
        insert_ignoring_duplicates(session, _LINK, [link("x")])
        insert_ignoring_duplicates(session, _LINK, [link("y")])
        kept = session.execute(select(_LINK.c.person_id, _LINK.c.score)).all()
        assert [tuple(row) for row in kept] == [("x", 0.5)]
        upsert(session, _LINK, link("z"), ("patient_id",))
        moved = session.execute(select(_LINK.c.person_id)).scalars().all()
        assert moved == ["z"]


def test_inserted_unless_present_says_whether_the_row_went_in(engine: Engine) -> None:
    """A national ID's registration: the first row for a key goes in and says so; a second
    one is left out, says so, and changes nothing (the caller then reads the winner)."""
    row = {"key": "k1", "patient_id": "p1"}
    with unit_of_work(engine) as session:
        assert inserted_unless_present(session, _BLOCK, row) is True
        assert inserted_unless_present(session, _BLOCK, {**row}) is False
        assert inserted_unless_present(session, _BLOCK, {"key": "k1", "patient_id": "p2"})
        assert _blocks(session) == [("k1", "p1"), ("k1", "p2")]


def test_pipelined_writes_and_a_returning_land_in_the_transaction(engine: Engine) -> None:
    values = {"action": "link", "link_type": "AUTO", "actor": "t", "reason": "r", "at": 1}
    with unit_of_work(engine) as session:
        with pipelined(session):
            _INSERT_BLOCK.execute(session, [{"key": k, "patient_id": "p1"} for k in ("a", "b")])
            change_id = _OPEN_CHANGE.returned(session, values)[0][0]
            _INSERT_BLOCK.execute(session, {"key": f"change-{change_id}", "patient_id": "p2"})
            _DELETE_BLOCKS.execute(session, {"patient_id": "p1"})
        assert _blocks(session) == [(f"change-{change_id}", "p2")]
    with unit_of_work(engine, write=False) as session:
        assert _blocks(session) == [(f"change-{change_id}", "p2")]


def test_a_pipelined_error_is_sqlalchemys_and_nothing_is_kept(engine: Engine) -> None:
    row = {"patient_id": "p1", "person_id": "x", "link_type": "AUTO"}
    insert_link = DriverWrite(insert_of(_LINK, tuple(row)))
    with pytest.raises(IntegrityError), unit_of_work(engine) as session, pipelined(session):
        _INSERT_BLOCK.execute(session, {"key": "a", "patient_id": "p1"})
        insert_link.execute(session, row)  # grade and updated are NOT NULL
        _INSERT_BLOCK.execute(session, {"key": "b", "patient_id": "p1"})
    with unit_of_work(engine, write=False) as session:
        assert _blocks(session) == []


def test_a_sqlalchemy_statement_inside_a_pipeline_is_refused(engine: Engine) -> None:
    """On PostgreSQL SQLAlchemy would read an empty result before the rows arrive; on
    SQLite (no pipeline) it runs as anywhere else."""
    with unit_of_work(engine) as session:
        _INSERT_BLOCK.execute(session, {"key": "a", "patient_id": "p1"})
        with pipelined(session):
            if engine.dialect.name == "postgresql":
                with pytest.raises(RuntimeError, match="pipeline"):
                    _blocks(session)
            else:
                assert _blocks(session) == [("a", "p1")]
