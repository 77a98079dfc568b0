"""Low-level reads and writes of the generic store; no FHIR semantics, no commits.

Functions here take the unit of work's session and only add to it. FHIR rules (version
checks, conditional logic, validation) live in ``ehr.storage.write`` and the interactions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Table,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlmodel import Session

from ehr.db.driver_errors import as_sqlalchemy_errors
from ehr.db.driver_select import DriverSelect
from ehr.db.driver_write import DriverWrite, as_columns, insert_of, unnest_insert
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
_COMMON = ("res_type", "res_id", "version", "last_updated", "deleted", "content")
"""The columns a resource row and its version rows share, in the order ``_common`` gives."""
_VERSION_COLUMNS = ("rid", *_COMMON, "method")
_COMPARTMENT_COLUMNS = ("rid", "patient_id")


def _index_columns(param_type: str) -> tuple[str, ...]:
    """An index table's columns: the key, the parameter, then its value's fields in order
    (the order ``_dependent_rows`` gives)."""
    return ("rid", "res_type", "param", *(f.name for f in fields(_VALUE_TYPES[param_type])))


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
    patients: frozenset[str] | None = None
    """The Patients whose compartment holds it, where read with it (``with_patients``)."""


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


_CURRENT = select(*_CURRENT_COLUMNS).where(
    _RESOURCE.c.res_type == bindparam("res_type"), _RESOURCE.c.res_id == bindparam("res_id")
)
_READ_CURRENT = DriverSelect(_CURRENT)
_READ_CURRENT_FOR_UPDATE = DriverSelect(_CURRENT.with_for_update())
"""Built once: building a ``select`` per call costs five times running it, and SQLAlchemy's
execution of it as much again (every read does; ``ehr.db.driver_select``)."""
_PATIENTS_SEPARATOR = " "
"""FHIR ids are letters, digits, "-" and ".": a space never occurs in one."""


def patients_column(resource: FromClause = _RESOURCE) -> ColumnElement[str | None]:
    """The ids of the Patients whose compartment holds a ``resource`` row, as one column
    (``patients_from`` reads it): an audited read names them in its AuditEvent, and
    selecting them with the row saves a statement (a round trip on PostgreSQL)."""
    return (
        select(func.aggregate_strings(_COMPARTMENT.c.patient_id, _PATIENTS_SEPARATOR))
        .where(_COMPARTMENT.c.rid == resource.c.rid)
        .scalar_subquery()
    )


def patients_from(value: str | None) -> frozenset[str]:
    """The Patient ids of a ``patients_column`` value."""
    return frozenset(value.split(_PATIENTS_SEPARATOR)) if value else frozenset()


_READ_CURRENT_WITH_PATIENTS = DriverSelect(_CURRENT.add_columns(patients_column()))


def read_current(
    session: Session,
    res_type: str,
    res_id: str,
    *,
    for_update: bool = False,
    with_patients: bool = False,
) -> StoredResource | None:
    """The current version of ``res_type/res_id`` (tombstones included), optionally
    row-locked, or read with the Patients whose compartment holds it (in the same statement:
    an audited read names them in its AuditEvent)."""
    if with_patients:
        query = _READ_CURRENT_WITH_PATIENTS
    else:
        query = _READ_CURRENT_FOR_UPDATE if for_update else _READ_CURRENT
    row = query.first(session, {"res_type": res_type, "res_id": res_id})
    if row is None:
        return None
    if with_patients:
        *columns, facility, patients = row
        return StoredResource(*columns, facility=facility, patients=patients_from(patients))
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
    current: StoredResource,
    *,
    res_type: str,
    res_id: str,
    version: int,
    last_updated: int,
    content: bytes | None,
    method: str,
    facility: str | None = None,
) -> StoredResource:
    """Make ``content`` the next version of ``current`` (``None`` = delete tombstone) and
    keep it in history (a new resource is ``insert_new``'s).

    ``facility`` is the facility code of the writer (``None``: the exchange or an admin).
    """
    deleted = content is None
    values = {
        "version": version,
        "last_updated": last_updated,
        "deleted": deleted,
        "content": content,
    }
    _UPDATE_RESOURCE.execute(session, {"key": current.rid, "facility": facility, **values})
    _INSERT_VERSION.execute(
        session,
        {"rid": current.rid, "res_type": res_type, "res_id": res_id, "method": method, **values},
    )
    return StoredResource(
        current.rid, res_type, res_id, version, last_updated, deleted, content, method, facility
    )


_UPDATE_RESOURCE = DriverWrite(
    update(_RESOURCE)
    .where(_RESOURCE.c.rid == bindparam("key"))
    .values(
        {c: bindparam(c) for c in ("facility", "version", "last_updated", "deleted", "content")}
    )
)
_INSERT_VERSION = DriverWrite(insert_of(_VERSION, _VERSION_COLUMNS))
"""Built once, as every update path statement below: an update is a dozen statements (the
resource, its history, each index table, the compartment), which through SQLAlchemy cost
more than the database's own work and on PostgreSQL one round trip each; on the driver
they go in one pipeline (``ehr.storage.write``)."""


@dataclass(frozen=True)
class NewResource:
    """What ``insert_new`` stores of one brand-new resource."""

    res_type: str
    res_id: str
    last_updated: int
    content: bytes
    facility: str | None
    entries: Iterable[tuple[str, str, IndexValue]]
    patients: set[str]
    method: str = "POST"


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
    """Store one brand-new resource: see ``insert_new_many``."""
    resource = NewResource(
        res_type, res_id, last_updated, content, facility, entries, patients, method
    )
    return insert_new_many(session, [resource])[0]


def insert_new_many(session: Session, resources: Sequence[NewResource]) -> list[StoredResource]:
    """Store brand-new resources (version 1): resource, history, index and compartment rows.

    The same rows as ``save_version`` + ``replace_index`` + ``replace_compartment`` would
    write for a resource without rows yet, written through the DB-API cursor of the
    session's connection with SQL built once per dialect, because this runs for every
    create and for every AuditEvent: SQLAlchemy's statement handling costs several times
    the inserts themselves. On SQLite the rows of all the resources go in with one
    ``executemany`` per table; on PostgreSQL with one statement per table
    (``_insert_pipelined``), all in one round trip. Same connection, same transaction: the
    unit of work still commits or rolls back all.
    """
    connection = session.connection()
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    with as_sqlalchemy_errors(connection):
        if connection.dialect.paramstyle == "qmark":
            rids = _insert_sqlite(dbapi, resources)
        else:
            rids = _insert_pipelined(dbapi, resources)
    return [
        StoredResource(
            rid, r.res_type, r.res_id, 1, r.last_updated, False, r.content, r.method, r.facility
        )
        for rid, r in zip(rids, resources, strict=True)
    ]


def _common(resource: NewResource) -> tuple:
    return (resource.res_type, resource.res_id, 1, resource.last_updated, False, resource.content)


def _dependent_rows(resource: NewResource) -> dict[str, list[tuple]]:
    """The index rows by table and the compartment rows of ``resource``, without its key."""
    rows: dict[str, list[tuple]] = defaultdict(list)
    for param_type, code, value in resource.entries:
        rows[param_type].append((resource.res_type, code, *value.__dict__.values()))
    rows["compartment"] = [(patient,) for patient in sorted(resource.patients)]
    return rows


def _insert_sqlite(dbapi, resources: Sequence[NewResource]) -> list[int]:  # type: ignore[no-untyped-def]
    """In process, no round trips: each key is the resource insert's ``lastrowid``."""
    sql = _sqlite_sql()
    rids: list[int] = []
    by_table: dict[str, list[tuple]] = defaultdict(list)
    cursor = dbapi.cursor()
    try:
        for resource in resources:
            common = _common(resource)
            cursor.execute(sql["resource"], (*common, resource.facility))
            rid = cursor.lastrowid
            rids.append(rid)
            by_table["version"].append((rid, *common, resource.method))
            for table, values in _dependent_rows(resource).items():
                by_table[table].extend((rid, *value) for value in values)
        for table, values in by_table.items():
            if values:
                cursor.executemany(sql[table], values)
    finally:
        cursor.close()
    return rids


def _insert_pipelined(dbapi, resources: Sequence[NewResource]) -> list[int]:  # type: ignore[no-untyped-def]
    """PostgreSQL: a table's rows go in as columns (``unnest`` of one array per column), in
    one statement, where they went one statement per row (an AuditEvent has some fifteen
    index rows, each with ``currval(pg_get_serial_sequence(...))``, a catalog lookup).

    psycopg sends the arrays in the binary format (``%b``: its text format escapes every
    element in Python, which took a third of the audit indexer's time). One resource (every
    create) goes in one round trip: its row and history row as plain ``VALUES`` (as
    columns of one row they took 6-10% longer to ingest a register bundle), its other rows
    keyed by ``currval`` of the sequence its resource row just took from. Several (the
    audit indexer's batches) take their keys from the sequence first, one round trip more,
    and then every table's rows for all of them go in one statement each: a handful of
    statements for two hundred events.
    """
    if len(resources) == 1:
        return [_insert_one(dbapi, resources[0])]
    sql, floats = _postgres_sql(keyed=True)
    with dbapi.cursor() as cursor:
        cursor.execute(_TAKE_KEYS, (len(resources),))
        rids = sorted(rid for (rid,) in cursor.fetchall())  # in order, as one by one
        by_table: dict[str, list[tuple]] = defaultdict(list)
        for rid, resource in zip(rids, resources, strict=True):
            common = _common(resource)
            by_table["resource"].append((rid, *common, resource.facility))
            by_table["version"].append((rid, *common, resource.method))
            for table, values in _dependent_rows(resource).items():
                by_table[table].extend((rid, *value) for value in values)
        with dbapi.pipeline():
            for table, rows in by_table.items():
                if rows:
                    cursor.execute(sql[table], as_columns(rows, floats[table]))
    return rids


def _insert_one(dbapi, resource: NewResource) -> int:  # type: ignore[no-untyped-def]
    """One resource in one round trip (``_insert_pipelined``)."""
    sql, floats = _postgres_sql(keyed=False)
    common = _common(resource)
    with dbapi.cursor() as first, dbapi.cursor() as rest:
        with dbapi.pipeline():
            first.execute(sql["resource"], (*common, resource.facility))
            rest.execute(sql["version"], (*common, resource.method))
            for table, values in _dependent_rows(resource).items():
                if values:
                    rest.execute(sql[table], as_columns(values, floats[table]))
        return first.fetchone()[0]


_CURRENT_KEY = "currval('resource_rid_seq')"
"""The key this session's last ``resource`` insert took (from the sequence PostgreSQL made
for ``rid``)."""
_TAKE_KEYS = "SELECT nextval('resource_rid_seq') FROM generate_series(1, %s)"
"""Keys for a batch of new resources, from the sequence PostgreSQL made for ``rid``."""


def _table_columns() -> dict[str, tuple[Table, tuple[str, ...]]]:
    """Each table ``insert_new_many`` writes, by the name its rows go under, with the
    columns its rows give in order, the resource's key (``rid``) first."""
    tables = {
        "resource": (_RESOURCE, ("rid", *_COMMON, "facility")),
        "version": (_VERSION, _VERSION_COLUMNS),
        "compartment": (_COMPARTMENT, _COMPARTMENT_COLUMNS),
    }
    for param_type, model in SEARCH_TABLES.items():
        tables[param_type] = (model.__table__, _index_columns(param_type))  # type: ignore[attr-defined]
    return tables


@lru_cache(maxsize=1)
def _sqlite_sql() -> dict[str, str]:
    """The INSERTs of ``_insert_sqlite``, one row each (``executemany``); a resource row
    takes its key from SQLite."""
    sql = {}
    for name, (table, columns) in _table_columns().items():
        given = columns[1:] if name == "resource" else columns
        sql[name] = (
            f"INSERT INTO {table.name} ({', '.join(given)}) "
            f"VALUES ({', '.join('?' for _ in given)})"
        )
    return sql


@lru_cache(maxsize=2)
def _postgres_sql(*, keyed: bool) -> tuple[dict[str, str], dict[str, frozenset[int]]]:
    """The INSERTs of ``_insert_pipelined`` by table, and which of their column arrays are
    floating point. ``keyed``: every table's rows as columns, led by their resource's key;
    else one resource, ``RETURNING`` its key, and its history row, each a row of values,
    and its other rows as columns under the key the resource's insert took."""
    sql: dict[str, str] = {}
    floats: dict[str, frozenset[int]] = {}
    for name, (table, columns) in _table_columns().items():
        given = columns if keyed else columns[1:]
        if not keyed and name in ("resource", "version"):  # one row: plain VALUES
            values = ["%s" for _ in given]
            if name == "version":
                values.insert(0, _CURRENT_KEY)
            returning = " RETURNING rid" if name == "resource" else ""
            columns = given if name == "resource" else columns
            sql[name] = (
                f"INSERT INTO {table.name} ({', '.join(columns)}) "
                f"VALUES ({', '.join(values)}){returning}"
            )
            continue
        sql[name], floats[name] = unnest_insert(table, columns, key=None if keyed else _CURRENT_KEY)
    return sql, floats


def replace_index(
    session: Session,
    stored: StoredResource,
    entries: Iterable[tuple[str, str, IndexValue]],
) -> None:
    """Replace the search index rows of ``stored`` with ``entries`` (param type, code, value)."""
    rows: dict[str, list[tuple]] = defaultdict(list)
    for param_type, code, value in entries:
        rows[param_type].append((stored.rid, stored.res_type, code, *value.__dict__.values()))
    for param_type, delete_rows in _INDEX_DELETES.items():
        delete_rows.execute(session, {"rid": stored.rid})
        _insert_rows(session, param_type, rows.get(param_type, []))


def replace_compartment(session: Session, stored: StoredResource, patients: set[str]) -> None:
    """Make ``patients`` the Patient compartments ``stored`` belongs to."""
    _DELETE_COMPARTMENT.execute(session, {"rid": stored.rid})
    _insert_rows(session, "compartment", [(stored.rid, p) for p in sorted(patients)])


def _insert_rows(session: Session, name: str, rows: list[tuple]) -> None:
    """``rows`` (each led by its resource's key) into the table ``name`` stands for
    (``_table_columns``), with the statements of ``insert_new_many``: an update's index rows
    as a create's."""
    if not rows:
        return
    connection = session.connection()
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()  # sqlite3's is no context manager
    try:
        with as_sqlalchemy_errors(connection):
            if connection.dialect.paramstyle == "qmark":
                cursor.executemany(_sqlite_sql()[name], rows)
            else:
                sql, floats = _postgres_sql(keyed=True)
                cursor.execute(sql[name], as_columns(rows, floats[name]))
    finally:
        cursor.close()


def _delete_rows_of(table: Table) -> DriverWrite:
    """``DELETE`` the rows of one resource (``rid``) from ``table``."""
    return DriverWrite(delete(table).where(table.c.rid == bindparam("rid")))


_INDEX_DELETES = {
    param_type: _delete_rows_of(model.__table__)  # type: ignore[attr-defined]
    for param_type, model in SEARCH_TABLES.items()
}
_DELETE_COMPARTMENT = _delete_rows_of(_COMPARTMENT)


_COMPARTMENT_OF = DriverSelect(
    select(_COMPARTMENT.c.patient_id).where(_COMPARTMENT.c.rid == bindparam("rid"))
)
"""Built once: a delete and every update that changes nothing (``ehr.storage.write``) name
the patients of what they touch for the audit."""


def compartment_of(session: Session, rid: int) -> set[str]:
    """The patients whose compartment holds resource ``rid`` now."""
    return {row[0] for row in _COMPARTMENT_OF.rows(session, {"rid": rid})}
