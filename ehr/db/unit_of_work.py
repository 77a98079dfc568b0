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

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from ehr.db.engine import WRITE_OPTION

T = TypeVar("T")


@contextmanager
def unit_of_work(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """A session in one database transaction, committed on success, rolled back on error.

    ``write=False`` opens a read-only unit (no write lock on SQLite); it still rolls back
    anything added to it, which keeps reads honest.
    """
    with engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: write})
        with Session(bind=connection, expire_on_commit=False, autoflush=False) as session:
            transaction = connection.begin()
            try:
                yield session
                session.flush()
                if write:
                    transaction.commit()
                else:
                    transaction.rollback()
            except BaseException:
                transaction.rollback()
                raise


RETRYABLE_SQLSTATES = {"40001", "40P01", "23505"}
"""Serialization failure, deadlock, and unique violation (two creators of one id)."""


def run_in_unit_of_work(
    engine: Engine, work: Callable[[Session], T], *, write: bool = True, attempts: int = 3
) -> T:
    """Run ``work`` in a unit of work, retrying it whole when the database says "try again".

    A unit of work either commits whole or leaves nothing behind, so re-running it after a
    deadlock, a serialization failure or a lost race on a unique key is always safe; the
    last failure propagates (the HTTP layer maps a unique violation to 409).
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
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    message = str(exc.orig).lower()
    return "database is locked" in message or "unique constraint failed" in message
