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

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Executable, Table, bindparam, insert
from sqlmodel import Session

from ehr.db.driver_errors import as_sqlalchemy_errors
from ehr.db.driver_select import DriverSql, compile_for_driver


class DriverWrite:
    """A data-changing statement compiled once per dialect, run on the driver's cursor."""

    def __init__(self, statement: Executable, returning: Sequence[Any] = ()) -> None:
        self.statement = statement
        self._returning = tuple(returning)
        self._by_dialect: dict[str, DriverSql] = {}

    def execute(
        self, session: Session, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> None:
        """Run the statement once for a mapping of values, or once per row of a list."""
        self._run(session, rows, fetch=False)

    def returned(self, session: Session, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run it for ``values`` and return what its ``RETURNING`` clause gives back."""
        return self._run(session, values, fetch=True)

    def _run(
        self,
        session: Session,
        rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        fetch: bool,
    ) -> list[tuple[Any, ...]]:
        connection = session.connection()
        dialect = connection.dialect
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = compile_for_driver(
                self.statement, dialect, self._returning
            )
        dbapi = connection.connection.dbapi_connection
        assert dbapi is not None
        cursor = dbapi.cursor()
        try:
            with as_sqlalchemy_errors(connection):
                if isinstance(rows, Mapping):
                    cursor.execute(compiled.sql, compiled.parameters(rows))
                    return compiled.convert(cursor.fetchall()) if fetch else []
                if rows:
                    cursor.executemany(compiled.sql, [compiled.parameters(r) for r in rows])
                return []
        finally:
            cursor.close()


def insert_of(table: Table, columns: Sequence[str]) -> Any:
    """``INSERT INTO table (columns) VALUES (:column...)``, ready for a ``DriverWrite``."""
    return insert(table).values({name: bindparam(name) for name in columns})
