"""The unit of work: runs again after a lost connection, never after an uncertain commit;
SQLite writers take turns, in the process and across processes; audit-only units on
PostgreSQL run without a transaction of their own yet store their rows all or none."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import RootTransaction
from sqlalchemy.exc import DBAPIError

from ehr.audit.pending import log_row
from ehr.db import audit_file
from ehr.db.schema import UsedAssertion
from ehr.db.unit_of_work import run_in_unit_of_work, unit_of_work

_USED = UsedAssertion.__table__  # type: ignore[attr-defined]


def _insert(session, jti: str) -> str:  # type: ignore[no-untyped-def]
    session.execute(_USED.insert().values(jti_hash=jti, client_id="c", expires_at=1))
    return jti


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(_USED)).scalar_one()


def _terminate_pooled_connection(engine: Engine) -> None:
    """Leave a connection in the pool whose server process has been terminated."""
    with engine.connect() as connection:
        pid = connection.connection.dbapi_connection.info.backend_pid
    # Back in the pool now, idle: the next unit of work gets it.
    other = create_engine(engine.url)
    with other.begin() as connection:
        connection.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    other.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_unit_of_work_whose_connection_the_server_dropped_runs_again(engine):
    _terminate_pooled_connection(engine)
    attempts: list[int] = []

    def work(session):  # type: ignore[no-untyped-def]
        attempts.append(1)
        return _insert(session, f"jti-{len(attempts)}")

    assert run_in_unit_of_work(engine, work) == "jti-2"
    assert len(attempts) == 2 and _count(engine) == 1


def test_a_unit_of_work_that_lost_its_connection_before_committing_runs_again(engine):
    attempts: list[int] = []

    def work(session):  # type: ignore[no-untyped-def]
        attempts.append(1)
        _insert(session, f"jti-{len(attempts)}")
        if len(attempts) == 1:
            raise DBAPIError("SELECT 1", None, Exception("lost"), connection_invalidated=True)
        return "done"

    assert run_in_unit_of_work(engine, work) == "done"
    assert len(attempts) == 2 and _count(engine) == 1


def test_a_connection_lost_during_the_commit_is_not_run_again(engine, monkeypatch):
    def lost(self):  # type: ignore[no-untyped-def]
        raise DBAPIError("COMMIT", None, Exception("closed"), connection_invalidated=True)

    monkeypatch.setattr(RootTransaction, "commit", lost)
    attempts: list[int] = []

    def work(session):  # type: ignore[no-untyped-def]
        attempts.append(1)
        return _insert(session, "jti")

    with pytest.raises(DBAPIError):
        run_in_unit_of_work(engine, work)
    assert attempts == [1]


def test_writing_units_of_one_process_take_turns_and_all_commit(engine):
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            run_in_unit_of_work(engine, lambda session: _insert(session, f"jti-{n}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and _count(engine) == 12


def test_a_read_only_unit_of_work_writes_nothing(engine):
    with unit_of_work(engine, write=False) as session:
        _insert(session, "jti")
    assert _count(engine) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sqlite_writer_waits_for_another_process_turn(engine, tmp_path):
    """Another worker holding the writers' lock file holds back this process's writers."""
    lock_file = f"{Path(engine.url.database).resolve()}-writers"
    ready = tmp_path / "ready"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, pathlib, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "pathlib.Path(sys.argv[2]).touch()\n"
            "time.sleep(0.5)\n",
            lock_file,
            str(ready),
        ]
    )
    try:
        while not ready.exists():
            time.sleep(0.01)
        started = time.monotonic()
        run_in_unit_of_work(engine, lambda session: _insert(session, "jti"))
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=10)
    assert waited >= 0.3 and _count(engine) == 1


def test_an_audit_only_units_rows_are_stored_all_or_none(engine):
    """PostgreSQL runs audit-only units in autocommit: its rows must still go in together
    when they take more than one statement (here the second fails)."""
    with pytest.raises(DBAPIError), unit_of_work(engine, audit_only=True) as session:
        log_row(session, ("all-or-none-1", 1, None, b"{}"))
        audit_file.defer(session, "INSERT INTO no_such_table VALUES (1)", ())
    tables = ["audit_pending"]
    if audit_file.audit_file_of(engine) is not None:
        tables.append(audit_file.TABLE)
    with engine.connect() as connection:
        for table in tables:
            assert connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_postgresql_audit_only_unit_opens_no_transaction(engine):
    """No BEGIN and no COMMIT round trip: each statement is a transaction of its own."""
    with unit_of_work(engine, audit_only=True) as session:
        first = session.execute(text("SELECT txid_current()")).scalar()
        second = session.execute(text("SELECT txid_current()")).scalar()
    assert first != second
    with unit_of_work(engine) as session:  # a write unit: one transaction
        first = session.execute(text("SELECT txid_current()")).scalar()
        second = session.execute(text("SELECT txid_current()")).scalar()
    assert first == second


def test_a_connection_an_audit_only_unit_used_is_transactional_again(engine):
    """The next unit on the same pooled connection must roll back whole."""
    with unit_of_work(engine, audit_only=True) as session:
        log_row(session, ("used-before", 1, None, b"{}"))
        before = id(session.connection().connection.dbapi_connection)
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        assert id(session.connection().connection.dbapi_connection) == before
        _insert(session, "jti")
        session.flush()
        raise RuntimeError("after the insert")
    assert _count(engine) == 0
