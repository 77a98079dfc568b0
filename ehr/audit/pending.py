"""AuditEvents written whole with their access, and indexed in bulk afterwards.

PRODUCT.md section 5: every read or write of a person's data writes an AuditEvent in the
same database transaction. Stored as a searchable resource, an event is a resource row, a
history row, some twenty index rows and its compartment rows, about 75 B-tree entries: on
100,000 Patients that was four fifths of the CPU of an audited read (SQLite, 2 workers:
5,839 reads/s with the audit write left out, 728 with it; docs/benchmarks.md).

So the access's transaction writes the event whole, as it will be served (id, ``meta``
and all), as **one row** of ``audit_pending`` (``log_event``), and ``materialize`` later
stores pending events as resources with their index and compartment rows, many in one
transaction, deleting their rows in that same transaction (never lost, never doubled):

- before any read that could see an AuditEvent (``ehr.access.store.GuardedStore``), in
  that read's own unit of work: ``catch_up`` stores every event committed before it, so
  what a client can query is exactly what it could query if events were indexed inline;
- in the background (``ehr.audit.indexer``), so the backlog stays small and a query's
  catch-up short.

On a SQLite file, the events of audited reads go to the audit file instead
(``ehr.db.audit_file``: reads then need no write lock); they are stored the same way but
deleted from that file afterwards, in a transaction of its own, and an event already
stored is recognised by its id, so it is still stored exactly once.

Rows are stored exactly as ``write_resource`` would store the event (tested), without the
write participants: none of them acts on AuditEvents (tested too).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, bindparam, text
from sqlmodel import Session

from ehr.audit.index_rows import audit_index_rows
from ehr.db import audit_file
from ehr.db.driver_errors import as_sqlalchemy_errors
from ehr.db.driver_write import unnest_insert
from ehr.db.schema import AuditPending
from ehr.storage.repository import NewResource, insert_new_many

if TYPE_CHECKING:
    from ehr.context import RequestContext, Services

AUDIT_EVENT = "AuditEvent"
BATCH = 500
"""Events stored per statement round; a catch-up runs as many rounds as it needs."""


def log_event(ctx: RequestContext, event: dict[str, Any], recorded: int) -> str:
    """Write ``event`` (built by ``ehr.audit.events``, recorded at ``recorded``) complete,
    with its id and ``meta``, into the current transaction as one row; its id."""
    from ehr.storage.write import stamp_new

    record = stamp_new(ctx, event, recorded)
    log_row(ctx.session, (record.res_id, recorded, record.facility, orjson.dumps(record.body)))
    return record.res_id


def log_row(session: Session, values: tuple[str, int, str | None, bytes]) -> None:
    """Write one pending row (``res_id, recorded, facility, content``) into the current
    transaction: buffered for the commit in an audit-only unit (``ehr.db.audit_file``),
    at once in any other."""
    connection = session.connection()
    if audit_file.is_audit_only(session):
        in_file = audit_file.attached(connection)
        if in_file:
            audit_file.defer(session, _insert_sql(audit_file.TABLE, "qmark"), values)
        else:
            postgres = connection.dialect.name == "postgresql"
            audit_file.defer(
                session,
                _insert_sql("audit_pending", connection.dialect.paramstyle),
                values,
                as_columns_sql=_INSERT_AS_COLUMNS if postgres else None,
            )
        return
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()  # sqlite3 cursors are no context managers
    try:
        with as_sqlalchemy_errors(connection):
            cursor.execute(_insert_sql("audit_pending", connection.dialect.paramstyle), values)
    finally:
        cursor.close()


_PENDING_COLUMNS = ("res_id", "recorded", "facility", "content")
"""The columns ``log_row`` writes, in the order of its values."""


@lru_cache(maxsize=4)
def _insert_sql(table: str, paramstyle: str) -> str:
    """The INSERT of one pending row into ``table`` (``audit_pending`` or the audit file's)."""
    mark = "?" if paramstyle == "qmark" else "%s"
    marks = ", ".join(mark for _ in _PENDING_COLUMNS)
    return f"INSERT INTO {table} ({', '.join(_PENDING_COLUMNS)}) VALUES ({marks})"


_INSERT_AS_COLUMNS, _ = unnest_insert(AuditPending.__table__, _PENDING_COLUMNS)  # type: ignore[attr-defined]
"""PostgreSQL: the pending rows of a batch of reads in one statement."""


def catch_up(session: Session, services: Services) -> int:
    """Store every pending event committed so far as a resource; how many were stored.

    On PostgreSQL the rows another transaction is storing are waited for (``FOR UPDATE``),
    so that when this returns, every event committed before it is a resource (or about to
    be committed by that transaction, which this one then sees). An audit-only unit cannot
    store resources: it raises ``WriteUnitNeeded`` (``ehr.db.audit_file``).
    """
    if audit_file.is_audit_only(session):
        raise audit_file.WriteUnitNeeded("AuditEvents pending: the read needs a write unit")
    stored = _catch_up_main(session, services)
    if audit_file.attached(session):
        stored += _catch_up_file(session, services)
    return stored


def _catch_up_main(session: Session, services: Services) -> int:
    last = session.execute(text("SELECT max(seq) FROM audit_pending")).scalar()
    stored = 0
    while last is not None:
        # Until a round finds nothing, not merely fewer than a batch: whether a round
        # that waited for rows the indexer then stored still fills its LIMIT is the
        # database's business (PostgreSQL does), and one more empty query is cheap.
        done = materialize(session, services, up_to=last, wait=True)
        if done == 0:
            break
        stored += done
    return stored


def materialize(
    session: Session,
    services: Services,
    *,
    up_to: int | None = None,
    wait: bool = False,
    limit: int = BATCH,
) -> int:
    """Store up to ``limit`` pending events (oldest first) as resources; how many.

    ``wait=False`` (the background indexer) skips rows another transaction holds on
    PostgreSQL; ``wait=True`` (a catch-up) waits for them.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    lock = (" FOR UPDATE" if wait else " FOR UPDATE SKIP LOCKED") if postgres else ""
    bound = " WHERE seq <= :last" if up_to is not None else ""
    rows = session.execute(
        text(
            "SELECT seq, res_id, recorded, facility, content FROM audit_pending"
            f"{bound} ORDER BY seq LIMIT {int(limit)}{lock}"
        ),
        {"last": up_to} if up_to is not None else {},
    ).all()
    if not rows:
        return 0
    _store(session, services, rows)
    session.execute(_DELETE, {"seqs": [row.seq for row in rows]})
    return len(rows)


def _catch_up_file(session: Session, services: Services) -> int:
    """``catch_up`` for the audit file's rows; they stay there for the indexer to delete
    (a transaction deleting them too would write two files, not atomic together)."""
    last = session.execute(text(f"SELECT max(seq) FROM {audit_file.TABLE}")).scalar()
    stored, after = 0, 0
    while last is not None:
        seqs, done = materialize_from_file(session, services, after=after, up_to=last)
        if not seqs:
            break
        stored, after = stored + done, seqs[-1]
    return stored


def materialize_from_file(
    session: Session,
    services: Services,
    *,
    after: int = 0,
    up_to: int | None = None,
    limit: int = BATCH,
) -> tuple[list[int], int]:
    """Store the audit file's pending events after ``after`` (up to ``limit`` of them,
    oldest first) that are not resources yet: the ``seq`` of every row read (to delete
    from the file once this transaction has committed), and how many were stored."""
    bound = " AND seq <= :last" if up_to is not None else ""
    rows = session.execute(
        text(
            f"SELECT seq, res_id, recorded, facility, content FROM {audit_file.TABLE}"
            f" WHERE seq > :after{bound} ORDER BY seq LIMIT {int(limit)}"
        ),
        {"after": after, "last": up_to},
    ).all()
    if not rows:
        return [], 0
    stored = set(session.scalars(_STORED, {"ids": [row.res_id for row in rows]}))
    new = [row for row in rows if row.res_id not in stored]
    _store(session, services, new)
    return [row.seq for row in rows], len(new)


def forget_from_file(session: Session, seqs: list[int]) -> None:
    """Delete rows ``materialize_from_file`` read, in an audit-only unit of their own."""
    for seq in seqs:
        audit_file.defer(session, _DELETE_FROM_FILE, (seq,))


def backlog(connection: Connection | Session, after: int | None = None) -> int:
    """Events logged but not stored as resources yet (what a catch-up would store), over
    ``audit_pending`` and the audit file's table (stored rows wait there to be deleted).

    With ``after`` (the indexer's cursor in the audit file: rows up to there are stored and
    wait to be deleted), what the indexer paces itself by: the file's rows after it, a
    range of its primary key. Without, each file row is proved unstored by a lookup in
    ``resource``: under a read peak, with tens of thousands of rows waiting, that was two
    fifths of the indexer's CPU, taken from the workers' cores (SQLite, docs/benchmarks.md).
    A row stored by a reader's catch-up but not yet passed by the cursor counts as waiting
    with ``after``, which only makes the pacing a little eager.

    With ``after``, ``audit_pending``'s rows are likewise not counted but spanned: the
    distance between its first and last key, two lookups in its primary key. A count
    reads every row, and under a peak the indexer asked after every batch: at 50,000 rows
    waiting (PostgreSQL, 254 MB of them) a count took 37 ms of the database server, where
    the batch it paced stored 200 events in about 90. Rows a reader's catch-up or another
    indexer took out of order count until the rows before them go: eager pacing again."""
    if after is None:
        pending = connection.execute(_PENDING_COUNT).scalar_one()
    else:
        pending = connection.execute(_PENDING_SPAN).scalar_one()
    if audit_file.attached(connection):
        if after is None:
            pending += connection.execute(_FILE_BACKLOG).scalar_one()
        else:
            pending += connection.execute(_FILE_AFTER, {"after": after}).scalar_one()
    return int(pending)


def file_has_rows(connection: Connection) -> bool:
    """Whether the audit file holds any row (stored or not)."""
    return connection.execute(_FILE_ANY).first() is not None


def _store(session: Session, services: Services, rows: list[Any]) -> None:
    """Store pending rows as AuditEvent resources with their index and compartment rows."""
    registry, compartment = services.registry, services.compartment
    events = []
    for row in rows:
        content = bytes(row.content)
        entries = audit_index_rows(orjson.loads(content), registry)
        patients = compartment.patients_of(AUDIT_EVENT, row.res_id, entries)
        events.append(
            NewResource(
                AUDIT_EVENT, row.res_id, row.recorded, content, row.facility, entries, patients
            )
        )
    insert_new_many(session, events)


_DELETE = text("DELETE FROM audit_pending WHERE seq IN :seqs").bindparams(
    bindparam("seqs", expanding=True)
)
_STORED = text(
    f"SELECT res_id FROM resource WHERE res_type = '{AUDIT_EVENT}' AND res_id IN :ids"
).bindparams(bindparam("ids", expanding=True))
_DELETE_FROM_FILE = f"DELETE FROM {audit_file.TABLE} WHERE seq = ?"
_PENDING_COUNT = text("SELECT count(*) FROM audit_pending")
_PENDING_SPAN = text(
    "SELECT coalesce((SELECT max(seq) FROM audit_pending)"
    " - (SELECT min(seq) FROM audit_pending) + 1, 0)"
)
"""Each end in a subquery of its own: SQLite looks ``min`` or ``max`` up in the index only
when it is a query's one aggregate, and scans the table for both at once."""
_FILE_ANY = text(f"SELECT 1 FROM {audit_file.TABLE} LIMIT 1")
_FILE_AFTER = text(f"SELECT count(*) FROM {audit_file.TABLE} WHERE seq > :after")
_FILE_BACKLOG = text(
    f"SELECT count(*) FROM {audit_file.TABLE} AS p WHERE NOT EXISTS (SELECT 1 FROM resource"
    f" AS r WHERE r.res_type = '{AUDIT_EVENT}' AND r.res_id = p.res_id)"
)
