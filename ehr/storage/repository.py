"""Low-level reads and writes of the generic store; no FHIR semantics, no commits.

Functions here take the unit of work's session and only add to it. FHIR rules (version
checks, conditional logic, validation) live in ``ehr.storage.write`` and the interactions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from functools import lru_cache

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from ehr.db.schema import SEARCH_TABLES, Compartment, Resource, ResourceVersion
from ehr.search.values import (
    DateValue,
    IndexValue,
    NumberValue,
    QuantityValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
)

_RESOURCE = Resource.__table__  # type: ignore[attr-defined]
_VERSION = ResourceVersion.__table__  # type: ignore[attr-defined]
_COMPARTMENT = Compartment.__table__  # type: ignore[attr-defined]
_VALUE_TYPES = {
    "token": TokenValue,
    "string": StringValue,
    "date": DateValue,
    "number": NumberValue,
    "quantity": QuantityValue,
    "reference": ReferenceValue,
    "uri": UriValue,
}
"""The index value dataclass of each search parameter type; its fields are its columns."""


@dataclass(frozen=True)
class StoredResource:
    """One version of a resource as stored; ``content`` is ``None`` for a delete tombstone."""

    rid: int
    res_type: str
    res_id: str
    version: int
    last_updated: int
    deleted: bool
    content: bytes | None
    method: str = ""
    facility: str | None = None
    """The facility code that wrote this version, where known."""


_CURRENT_COLUMNS = (
    _RESOURCE.c.rid,
    _RESOURCE.c.res_type,
    _RESOURCE.c.res_id,
    _RESOURCE.c.version,
    _RESOURCE.c.last_updated,
    _RESOURCE.c.deleted,
    _RESOURCE.c.content,
    _RESOURCE.c.facility,
)


_READ_CURRENT = select(*_CURRENT_COLUMNS).where(
    _RESOURCE.c.res_type == bindparam("res_type"), _RESOURCE.c.res_id == bindparam("res_id")
)
_READ_CURRENT_FOR_UPDATE = _READ_CURRENT.with_for_update()
"""Built once: building a ``select`` per call costs five times running it (every read does)."""


def read_current(
    session: Session, res_type: str, res_id: str, *, for_update: bool = False
) -> StoredResource | None:
    """The current version of ``res_type/res_id`` (tombstones included), optionally row-locked."""
    query = _READ_CURRENT_FOR_UPDATE if for_update else _READ_CURRENT
    row = session.execute(query, {"res_type": res_type, "res_id": res_id}).first()
    if row is None:
        return None
    *columns, facility = row
    return StoredResource(*columns, facility=facility)


def read_version(
    session: Session, res_type: str, res_id: str, version: int
) -> StoredResource | None:
    """One historical version of ``res_type/res_id``."""
    row = session.execute(
        select(
            _VERSION.c.rid,
            _VERSION.c.res_type,
            _VERSION.c.res_id,
            _VERSION.c.version,
            _VERSION.c.last_updated,
            _VERSION.c.deleted,
            _VERSION.c.content,
            _VERSION.c.method,
        ).where(
            _VERSION.c.res_type == res_type,
            _VERSION.c.res_id == res_id,
            _VERSION.c.version == version,
        )
    ).first()
    return StoredResource(*row) if row else None


def save_version(
    session: Session,
    current: StoredResource | None,
    *,
    res_type: str,
    res_id: str,
    version: int,
    last_updated: int,
    content: bytes | None,
    method: str,
    facility: str | None = None,
) -> StoredResource:
    """Make ``content`` the current version (``None`` = delete tombstone) and keep it in history.

    ``facility`` is the facility code of the writer (``None``: the exchange or an admin).
    """
    deleted = content is None
    values = {
        "version": version,
        "last_updated": last_updated,
        "deleted": deleted,
        "content": content,
    }
    if current is None:
        rid = session.execute(
            insert(_RESOURCE).values(res_type=res_type, res_id=res_id, facility=facility, **values)
        ).inserted_primary_key[0]
    else:
        rid = current.rid
        session.execute(
            update(_RESOURCE).where(_RESOURCE.c.rid == rid).values(facility=facility, **values)
        )
    session.execute(
        insert(_VERSION).values(rid=rid, res_type=res_type, res_id=res_id, method=method, **values)
    )
    return StoredResource(
        rid, res_type, res_id, version, last_updated, deleted, content, method, facility
    )


def insert_new(
    session: Session,
    *,
    res_type: str,
    res_id: str,
    last_updated: int,
    content: bytes,
    facility: str | None,
    entries: Iterable[tuple[str, str, IndexValue]],
    patients: set[str],
    method: str = "POST",
) -> StoredResource:
    """Store a brand-new resource (version 1): resource, history, index and compartment rows.

    The same rows as ``save_version`` + ``replace_index`` + ``replace_compartment`` would
    write for a resource without rows yet, written through the DB-API cursor of the
    session's connection with SQL built once per dialect, because this runs for every
    create and once per audited access (every read):
    SQLAlchemy's statement handling costs several times the inserts themselves, and on
    PostgreSQL each statement would be a round trip of its own, where here they all go in
    one pipeline (the rows after the first take its key from the sequence, ``currval``).
    Same connection, same transaction: the unit of work still commits or rolls back all.
    """
    connection = session.connection()
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    paramstyle = connection.dialect.paramstyle
    common = (res_type, res_id, 1, last_updated, False, content)
    rows: dict[str, list[tuple]] = defaultdict(list)
    for param_type, code, value in entries:
        rows[param_type].append((res_type, code, *value.__dict__.values()))
    compartment = [(patient,) for patient in sorted(patients)]
    with as_sqlalchemy_errors(connection):
        rid = _insert_rows(dbapi, paramstyle, common, facility, rows, compartment, method)
    return StoredResource(rid, res_type, res_id, 1, last_updated, False, content, method, facility)


def _insert_rows(  # type: ignore[no-untyped-def]
    dbapi,
    paramstyle: str,
    common: tuple,
    facility: str | None,
    rows: dict,
    compartment: list,
    method: str,
) -> int:
    """The INSERTs of ``insert_new`` on the driver's connection; the new resource's key."""
    sql = _driver_sql(paramstyle)
    if paramstyle == "qmark":  # SQLite: in process, no round trips; the key is ``lastrowid``
        cursor = dbapi.cursor()
        try:
            cursor.execute(sql["resource"], (*common, facility))
            rid = cursor.lastrowid
            cursor.execute(sql["version"], (rid, *common, method))
            for table, values in (*rows.items(), ("compartment", compartment)):
                if values:
                    cursor.executemany(sql[table], [(rid, *value) for value in values])
        finally:
            cursor.close()
    else:
        with dbapi.pipeline(), dbapi.cursor() as first, dbapi.cursor() as rest:
            first.execute(sql["resource"], (*common, facility))
            rest.execute(sql["version"], (*common, method))
            for table, values in (*rows.items(), ("compartment", compartment)):
                if values:
                    rest.executemany(sql[table], values)
            rid = first.fetchone()[0]
    return rid


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


@lru_cache(maxsize=4)
def _driver_sql(paramstyle: str) -> dict[str, str]:
    """The INSERTs of ``insert_new`` in the driver's parameter style (qmark or format).

    On PostgreSQL the ``rid`` of every row but the resource's own is the value the
    ``resource`` insert just took from its sequence, in this session.
    """
    mark = "?" if paramstyle == "qmark" else "%s"
    rid = mark if paramstyle == "qmark" else "currval(pg_get_serial_sequence('resource', 'rid'))"

    def insert(table: str, columns: Sequence[str], suffix: str = "") -> str:
        values = [rid if column == "rid" else mark for column in columns]
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(values)}){suffix}"

    common = ("res_type", "res_id", "version", "last_updated", "deleted", "content")
    sql = {
        "resource": insert(
            "resource", (*common, "facility"), "" if paramstyle == "qmark" else " RETURNING rid"
        ),
        "version": insert("resource_version", ("rid", *common, "method")),
        "compartment": insert("compartment", ("rid", "patient_id")),
    }
    for param_type, model in SEARCH_TABLES.items():
        value_columns = [f.name for f in fields(_VALUE_TYPES[param_type])]
        sql[param_type] = insert(model.__tablename__, ("rid", "res_type", "param", *value_columns))
    return sql


def replace_index(
    session: Session,
    stored: StoredResource,
    entries: Iterable[tuple[str, str, IndexValue]],
) -> None:
    """Replace the search index rows of ``stored`` with ``entries`` (param type, code, value)."""
    rows: dict[str, list[dict]] = defaultdict(list)
    for param_type, code, value in entries:
        row = dict(value.__dict__)
        row.update(rid=stored.rid, res_type=stored.res_type, param=code)
        rows[param_type].append(row)
    for param_type, model in SEARCH_TABLES.items():
        table = model.__table__  # type: ignore[attr-defined]
        session.execute(delete(table).where(table.c.rid == stored.rid))
        if rows.get(param_type):
            session.execute(insert(table), rows[param_type])


def replace_compartment(session: Session, stored: StoredResource, patients: set[str]) -> None:
    """Make ``patients`` the Patient compartments ``stored`` belongs to."""
    session.execute(delete(_COMPARTMENT).where(_COMPARTMENT.c.rid == stored.rid))
    if patients:
        session.execute(
            insert(_COMPARTMENT), [{"rid": stored.rid, "patient_id": p} for p in sorted(patients)]
        )


def compartment_of(session: Session, rid: int) -> set[str]:
    """The patients whose compartment holds resource ``rid`` now."""
    rows = session.execute(select(_COMPARTMENT.c.patient_id).where(_COMPARTMENT.c.rid == rid))
    return {row.patient_id for row in rows}
