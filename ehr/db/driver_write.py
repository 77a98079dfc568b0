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


ARRAY_TYPES = {str: "text[]", int: "int8[]", bool: "bool[]", bytes: "bytea[]", float: "float8[]"}
"""The PostgreSQL array each column's values are sent as, by the column's Python type."""


def unnest_insert(
    table: Table, columns: Sequence[str], *, key: str | None = None
) -> tuple[str, frozenset[int]]:
    """PostgreSQL: ``INSERT INTO table (columns) SELECT * FROM unnest(...)``, the rows of
    one statement given as one array per column (``as_columns``), and which of those arrays
    are floating point. ``key``: an SQL expression for the first column, the same in every
    row (the arrays are then for the other columns).

    One statement for many rows, where ``executemany`` sends one per row and psycopg spends
    Python on each; the arrays go in the binary format (``%b``: its text format escapes
    every element in Python).
    """
    given = columns if key is None else columns[1:]
    types = [table.c[name].type.python_type for name in given]
    arrays = ", ".join(f"%b::{ARRAY_TYPES[t]}" for t in types)
    first = "" if key is None else f"{key}, "
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {first}* FROM unnest({arrays})"
    return sql, frozenset(i for i, t in enumerate(types) if t is float)


def as_columns(rows: Sequence[Sequence[Any]], floats: frozenset[int] = frozenset()) -> list[list]:
    """``rows`` as one list per column, for ``unnest_insert``; the ``floats`` columns as
    floats (psycopg refuses a list that mixes ints and floats)."""
    columns = [list(column) for column in zip(*rows, strict=True)]
    for i in floats:
        columns[i] = [None if v is None else float(v) for v in columns[i]]
    return columns


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
