"""Errors of statements run on the DB-API cursor, raised as SQLAlchemy raises its own.

The hot paths (``insert_new_many``, the audit rows) run their statements on the driver's
cursor, below SQLAlchemy; their errors must still look like SQLAlchemy's, because the unit
of work decides on retries and the HTTP layer on statuses from ``DBAPIError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


@contextmanager
def as_sqlalchemy_errors(connection: Connection) -> Iterator[None]:
    """Driver errors as SQLAlchemy raises them (``DBAPIError`` subclasses, a dropped
    connection invalidated), so the unit of work retries and the HTTP layer maps them as
    it does every other database error."""
    dialect = connection.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as exc:
        lost = dialect.is_disconnect(exc, connection.connection.dbapi_connection, None)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            "insert_new", None, exc, dbapi_error, connection_invalidated=lost, dialect=dialect
        ) from exc
