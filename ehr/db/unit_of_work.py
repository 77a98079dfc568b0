"""The unit of work: the one place in the service that commits.

Everything a request does to the database (a single write or a whole transaction
bundle, the search index rows, and later the patient links, profile flags and audit
events) happens inside one ``unit_of_work`` and commits or rolls back together. No other
code calls ``commit()``; helpers receive the session and only add to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlmodel import Session

from ehr.db.engine import WRITE_OPTION


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
