"""SELECTs compiled once per dialect and run on the DB-API cursor of the session's connection.

Every audited read and every search runs one such statement, and SQLAlchemy's execution of
a statement it has already compiled and cached still costs more than the database's work on
a primary-key or index lookup: an execution context, result metadata built from the cursor's
``description`` (psycopg makes a ``Column`` object per column per statement), ``Row``
objects. Measured in process on 100,000 Patients, SQLAlchemy's part was about half the CPU
of a read by id on PostgreSQL (docs/benchmarks.md, session 8). As with ``insert_new_many``,
the hot statements are therefore still built with SQLAlchemy (one definition of the SQL,
both dialects) but run on the driver's cursor, in the same connection and transaction;
errors come out as SQLAlchemy's (``ehr.db.driver_errors``), so retries and statuses are
unchanged. The types' own bind and result conversions (a SQLite boolean is an integer) are
applied as SQLAlchemy would.

Rows come back as plain tuples in the order of the statement's selected columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Dialect, Executable, Select
from sqlmodel import Session

from ehr.db.driver_errors import as_sqlalchemy_errors
from ehr.db.interleaved import rows_when_gathered

Processor = Callable[[Any], Any]
RowType = TypeVar("RowType", bound=NamedTuple)
Result = TypeVar("Result")


@dataclass(frozen=True)
class DriverSql:
    """One statement as one dialect's driver takes it."""

    sql: str
    names: tuple[str, ...] | None
    """Bind names in order, for a positional paramstyle (SQLite's ``?``); else ``None``."""
    defaults: dict[str, Any]
    """Values bound in the statement itself (literals become parameters)."""
    binds: tuple[tuple[str, Processor], ...]
    results: tuple[tuple[int, Processor], ...]

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        params = {**self.defaults, **values}
        for name, process in self.binds:
            params[name] = process(params[name])
        if self.names is None:
            return params
        return tuple(params[name] for name in self.names)

    def convert(self, rows: list[Any]) -> list[tuple[Any, ...]]:
        if not self.results:
            return rows
        converted = []
        for row in rows:
            values = list(row)
            for index, process in self.results:
                values[index] = process(values[index])
            converted.append(tuple(values))
        return converted


def compile_for_driver(
    statement: Executable, dialect: Dialect, selected: Sequence[Any] = ()
) -> DriverSql:
    """``statement`` as ``dialect``'s driver takes it; ``selected``: the columns whose
    values come back (their types' result conversions are applied)."""
    compiled = statement.compile(dialect=dialect)
    if any(bind.expanding for bind in compiled.binds.values()):
        raise ValueError("a driver statement cannot expand IN lists; run it through SQLAlchemy")
    # Expanded once with stand-ins for the values the caller gives: what SQLAlchemy renders
    # only at execution (``literal_execute`` values, such as ``aggregate_strings``'s
    # separator) goes into the SQL, the caller's parameters stay parameters.
    given = {bind.key: None for bind in compiled.binds.values() if bind.required}
    expanded = compiled.construct_expanded_state(given)
    results = []
    for index, column in enumerate(selected):
        process = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if process is not None:
            results.append((index, process))
    return DriverSql(
        sql=expanded.statement,
        names=tuple(expanded.positiontup or ()) if compiled.positional else None,
        defaults={k: v for k, v in expanded.parameters.items() if k not in given},
        binds=tuple(expanded.processors.items()),
        results=tuple(results),
    )


class OnDriver:
    """A statement compiled once per dialect and run on the DB-API cursor of the session's
    connection, with SQLAlchemy's errors: what ``DriverSelect`` and ``DriverWrite`` share.
    ``selected``: the columns whose values come back."""

    def __init__(self, statement: Executable, selected: Sequence[Any] = ()) -> None:
        self.statement = statement
        self._selected = tuple(selected)
        self._by_dialect: dict[str, DriverSql] = {}

    def _run(self, session: Session, work: Callable[[Any, DriverSql], Result]) -> Result:
        """``work(cursor, compiled)`` in the session's transaction."""
        connection = session.connection()
        dialect = connection.dialect
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = compile_for_driver(
                self.statement, dialect, self._selected
            )
        dbapi = connection.connection.dbapi_connection
        assert dbapi is not None
        # psycopg: rows in the binary format, in which PostgreSQL sends a resource's JSON
        # as it is stored and not as hexadecimal text for the client to decode (sqlite3
        # cursors take no arguments, and are no context managers).
        cursor = dbapi.cursor(binary=True) if dialect.name == "postgresql" else dbapi.cursor()
        try:
            with as_sqlalchemy_errors(connection):
                return work(cursor, compiled)
        finally:
            cursor.close()

    def _fetch(self, session: Session, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run it once for ``values`` and return the rows it gives back, converted."""

        def fetch(cursor: Any, compiled: DriverSql) -> list[tuple[Any, ...]]:
            cursor.execute(compiled.sql, compiled.parameters(values))
            return compiled.convert(cursor.fetchall())

        return self._run(session, fetch)


class DriverSelect(OnDriver):
    """A ``SELECT`` built once, compiled once per dialect, run on the driver's cursor.

    No expanding (``IN``-list) parameters: their SQL depends on the values.
    """

    def __init__(self, statement: Select) -> None:
        super().__init__(statement, statement.selected_columns)
        self.statement: Select = statement
        self.keys: tuple[str, ...] = tuple(statement.selected_columns.keys())
        """The names of the selected columns, in the order of a row's values."""
        self._lateral: dict[tuple[str, tuple[str, ...]], str] = {}

    def rows(self, session: Session, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row for ``values`` (bind name to value), in the session's transaction; in a
        unit of a batch running interleaved, together with the other units' values
        (``ehr.db.interleaved``)."""
        gathered = rows_when_gathered(session, self, values)
        return self._fetch(session, values) if gathered is None else gathered

    def many(
        self, session: Session, values: Sequence[Mapping[str, Any]]
    ) -> list[list[tuple[Any, ...]]]:
        """The rows for each of ``values`` (all with the same bind names), in order: on
        PostgreSQL in one statement when there are several (``_lateral``), where each
        statement is a round trip (``ehr.db.interleaved`` gathers a batch's SELECTs so);
        elsewhere one execution each."""
        dialect = session.connection().dialect
        if len(values) == 1 or dialect.name != "postgresql":
            return [self._fetch(session, one) for one in values]
        names = tuple(values[0])

        def fetch(cursor: Any, compiled: DriverSql) -> list[list[tuple[Any, ...]]]:
            sql = self._lateral_sql(compiled, names, dialect)
            each = [compiled.parameters(one) for one in values]  # dicts: pyformat
            params: dict[str, Any] = {**each[0], "__ord": list(range(len(values)))}
            for name in names:
                params[name] = [one[name] for one in each]  # type: ignore[call-overload]
            cursor.execute(sql, params)
            found: list[list[tuple[Any, ...]]] = [[] for _ in values]
            for row in cursor.fetchall():
                found[row[0]].append(row[1:-1])
            return [compiled.convert(rows) for rows in found]

        return self._run(session, fetch)

    def _lateral_sql(self, compiled: DriverSql, names: tuple[str, ...], dialect: Dialect) -> str:
        """The statement for many values at once: each bind in ``names`` becomes a column of
        an ``unnest`` of arrays, one row per set of values, and the statement a ``LATERAL``
        subquery run for each row; ``__ord`` says which set a row answers. A window without
        an ordering numbers rows as its input gives them, which is the statement's own
        ``ORDER BY``: each set's rows come back in the order the statement alone gives."""
        key = (dialect.name, names)
        sql = self._lateral.get(key)
        if sql is None:
            binds = self.statement.compile(dialect=dialect).binds
            inner = compiled.sql
            for name in names:
                inner = inner.replace(f"%({name})s", f'__b."{name}"')
            arrays = ", ".join(
                f"%({name})s::{binds[name].type.compile(dialect=dialect)}[]" for name in names
            )
            columns = ", ".join(f'"{name}"' for name in names)
            sql = self._lateral[key] = (
                f"SELECT __b.__ord, __t.* FROM unnest(%(__ord)s::INTEGER[], {arrays}) "
                f"AS __b(__ord, {columns}) CROSS JOIN LATERAL "
                f"(SELECT __i.*, row_number() OVER () AS __n FROM ({inner}) AS __i) AS __t "
                "ORDER BY __b.__ord, __t.__n"
            )
        return sql

    def first(self, session: Session, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row for ``values``, or ``None``."""
        found = self.rows(session, values)
        return found[0] if found else None

    def first_as(
        self, session: Session, values: Mapping[str, Any], row_type: type[RowType]
    ) -> RowType | None:
        """The first row for ``values`` as a ``row_type`` (a ``NamedTuple`` whose fields are
        the selected columns, in order), or ``None``."""
        if row_type._fields != self.keys:
            raise TypeError(f"{row_type.__name__} has fields {row_type._fields}, not {self.keys}")
        found = self.rows(session, values)
        return row_type._make(found[0]) if found else None
