"""The unit of work: the one place in the service that commits.

Everything a request does to the database (a single write or a whole transaction
bundle, the search index rows, and later the patient links, profile flags and audit
events) happens inside one ``unit_of_work`` and commits or rolls back together. No other
code calls ``commit()``; helpers receive the session and only add to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine, RootTransaction
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from ehr.db import audit_file
from ehr.db.engine import DEFERRED_WRITE, WRITE_OPTION, is_sqlite
from ehr.db.writer_queue import writer_turn

T = TypeVar("T")


@contextmanager
def unit_of_work(
    engine: Engine, *, write: bool = True, audit_only: bool = False
) -> Iterator[Session]:
    """A session in one database transaction, committed on success, rolled back on error.

    ``write=False`` opens a read-only unit (no write lock on SQLite); it still rolls back
    anything added to it, which keeps reads honest. ``audit_only=True`` promises that the
    unit writes nothing but AuditEvents: it buffers their rows (``audit_file.defer``) and
    writes them all in one statement just before its COMMIT; on a SQLite file it reads
    without the write lock and writes its events to the audit file (``ehr.db.audit_file``),
    elsewhere to ``audit_pending`` in the same transaction.

    On PostgreSQL such a unit runs in autocommit: no BEGIN and no COMMIT, two of a batch
    of reads' four round trips. It gives up nothing: under READ COMMITTED each statement
    reads its own snapshot in a transaction too, and the unit's one write, the INSERT of
    its buffered rows, is atomic alone (``audit_file.flush`` runs several in a transaction
    of their own) and committed before the unit returns, so what it read is answered only
    once its AuditEvents are stored. A unit that finds it must write more raises before
    writing anything (``audit_file.WriteUnitNeeded``).
    """
    mode = _mode(engine, write, audit_only)
    with _writer_turn(engine, mode), engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: _BEGIN[mode]})
        if mode == _AUDIT_BUFFERED and not is_sqlite(engine):
            connection.execution_options(isolation_level="AUTOCOMMIT")
        with Session(bind=connection, expire_on_commit=False, autoflush=False) as session:
            if mode in (_AUDIT_ONLY, _AUDIT_BUFFERED):
                audit_file.begin_audit_only(session)
            transaction = connection.begin()
            try:
                yield session
                session.flush()
                if mode == _READ:
                    transaction.rollback()
                elif mode == _AUDIT_ONLY:
                    with writer_turn(engine, audit_file=True):
                        audit_file.flush(session)
                        _commit(transaction)
                elif mode == _AUDIT_BUFFERED:
                    audit_file.flush(session)
                    _commit(transaction)
                else:
                    _commit(transaction)
            except BaseException:
                transaction.rollback()
                raise


_READ, _WRITE, _WRITE_TURN_HELD = "read", "write", "write-turn-held"
_AUDIT_ONLY, _AUDIT_BUFFERED = "audit-only", "audit-buffered"
_BEGIN = {
    _READ: False,
    _WRITE: True,
    _WRITE_TURN_HELD: DEFERRED_WRITE,
    _AUDIT_ONLY: DEFERRED_WRITE,
    _AUDIT_BUFFERED: True,
}
"""What each mode tells ``ehr.db.engine`` about the transaction it begins."""


def _mode(engine: Engine, write: bool, audit_only: bool) -> str:
    if not write:
        return _READ
    if audit_file.audit_file_of(engine) is None:  # PostgreSQL, SQLite in memory
        return _AUDIT_BUFFERED if audit_only else _WRITE
    # With an audit file, BEGIN IMMEDIATE would lock it too: a unit writing the main file
    # begins deferred while it holds the main file's turn, which every such writer takes.
    return _AUDIT_ONLY if audit_only else _WRITE_TURN_HELD


def _commit(transaction: RootTransaction) -> None:
    try:
        transaction.commit()
    except DBAPIError as exc:
        # The connection may have gone during the commit: whether it took effect is unknown,
        # so this unit must not be run again as if it had certainly rolled back.
        exc.during_commit = True  # type: ignore[attr-defined]
        raise


@contextmanager
def _writer_turn(engine: Engine, mode: str) -> Iterator[None]:
    """SQLite writers of the main file wait for their turn in ``ehr.db.writer_queue``, not
    in SQLite."""
    if mode in (_READ, _AUDIT_ONLY) or not is_sqlite(engine):  # (_AUDIT_BUFFERED: memory)
        yield
        return
    with writer_turn(engine):
        yield


RETRYABLE_SQLSTATES = {"40001", "40P01", "23505"}
"""Serialization failure, deadlock, and unique violation (two creators of one id)."""


def run_in_unit_of_work(
    engine: Engine, work: Callable[[Session], T], *, write: bool = True, attempts: int = 3
) -> T:
    """Run ``work`` in a unit of work, retrying it whole when the database says "try again".

    A unit of work either commits whole or leaves nothing behind, so re-running it after a
    deadlock, a serialization failure, a lost race on a unique key, or a connection the
    server dropped before the commit is always safe; the last failure propagates (the HTTP
    layer maps a unique violation to 409).
    """
    for attempt in range(1, attempts + 1):
        try:
            with unit_of_work(engine, write=write) as session:
                return work(session)
        except DBAPIError as exc:
            if attempt == attempts or not _retryable(exc):
                raise
    raise AssertionError("unreachable")


def _retryable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        # The server dropped the connection (restart, idle timeout): again on a fresh one,
        # unless it went during the commit (then the unit may have been stored).
        return not getattr(exc, "during_commit", False)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    message = str(exc.orig).lower()
    return "database is locked" in message or "unique constraint failed" in message
