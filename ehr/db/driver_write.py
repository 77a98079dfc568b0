"""INSERTs, upserts and DELETEs built once and run on the driver's cursor, as ``DriverSelect``.

Linking a facility Patient writes half a dozen small rows (its link, the change and its
history row, the blocking keys and features, a national-ID registration), and through
SQLAlchemy each cost several times the database's own work: an execution context, the
compiled-cache lookup, a result object for a statement that returns nothing. Measured in
process on the visit-shaped ingest benchmark, running them here took the linking
participant from 0.89 to 0.64 ms a visit (docs/benchmarks.md, session 10). The
statements are still built with SQLAlchemy (one definition, both dialects), compiled once
per dialect and run in the session's connection and transaction, with SQLAlchemy's errors.

An ``INSERT`` must name its columns (``values(column=bindparam(column))``): SQLAlchemy
renders an insert without values from the parameters of each execution, which a statement
compiled once cannot do.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Executable, Table, bindparam, insert
from sqlmodel import Session

from ehr.db.driver_errors import as_sqlalchemy_errors
from ehr.db.driver_select import DriverSql, OnDriver


class DriverWrite(OnDriver):
    """A data-changing statement compiled once per dialect, run on the driver's cursor
    (``returning``: the columns of its ``RETURNING`` clause, if any)."""

    def __init__(self, statement: Executable, returning: Sequence[Any] = ()) -> None:
        super().__init__(statement, returning)

    def execute(
        self, session: Session, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> None:
        """Run the statement once for a mapping of values, or once per row of a list."""

        def write(cursor: Any, compiled: DriverSql) -> None:
            if isinstance(rows, Mapping):
                cursor.execute(compiled.sql, compiled.parameters(rows))
            elif rows:
                cursor.executemany(compiled.sql, [compiled.parameters(r) for r in rows])

        self._run(session, write)

    def returned(self, session: Session, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run it for ``values`` and return what its ``RETURNING`` clause gives back."""
        return self._fetch(session, values)


def insert_of(table: Table, columns: Sequence[str]) -> Any:
    """``INSERT INTO table (columns) VALUES (:column...)``, ready for a ``DriverWrite``."""
    return insert(table).values({name: bindparam(name) for name in columns})


@contextmanager
def pipelined(session: Session) -> Iterator[None]:
    """Send the driver statements run inside to PostgreSQL without waiting for each one
    (psycopg's pipeline mode, as ``insert_new_many`` does): a statement whose rows are read
    (a ``RETURNING``) waits for the ones before it, the rest are sent at the block's end,
    and an error any of them meets is raised, as SQLAlchemy's, by then. SQLite runs in
    process, where there is no round trip to save: the block runs as it is.

    Only ``DriverSelect`` and ``DriverWrite`` statements may run inside: SQLAlchemy reads a
    result's columns before its rows arrive, so ``ehr.db.engine`` refuses its statements
    in a pipeline rather than let one see an empty result.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        yield
        return
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    with as_sqlalchemy_errors(connection), dbapi.pipeline():  # type: ignore[attr-defined]
        yield
