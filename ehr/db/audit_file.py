"""The audit file: where audited reads on SQLite write their AuditEvents, off the write lock.

Every read of a person's data writes its AuditEvent in the same transaction (PRODUCT.md
section 5), so on SQLite, which has one write lock per database file, every read used to
be a writer: the reads of both workers, and the audit indexer, took turns on that lock
(docs/benchmarks.md). A file-backed SQLite database therefore has a second file next to
it, ``<database>-audit``, attached to every connection as the schema ``audit``, holding
one table, ``audit.audit_pending`` (the columns of ``main.audit_pending``).

A unit that writes nothing but AuditEvents (``unit_of_work(..., audit_only=True)``: the
group-committed reads) begins a deferred transaction, reads the main file without any
lock, and buffers its event rows in the session (``defer``); just before its COMMIT it
takes the audit file's turn (``ehr.db.writer_queue``) and inserts them all at once
(``flush``), so that file's lock is held for one statement and a commit. One SQLite
transaction still holds the read and its AuditEvent: in WAL mode a transaction is atomic
per file, and this one writes only the audit file.

Such a unit must never read the audit file before writing it (SQLite refuses to upgrade a
snapshot another writer has moved past) and never writes the main file: a read that needs
the pending events indexed first raises ``WriteUnitNeeded``, and the group commit runs it
again alone as an ordinary write unit (``ehr.db.group_commit``).

Units that write the main file keep their AuditEvents in ``main.audit_pending``, in their
own transaction: a transaction writing two files would not be atomic across them. They
take the main file's turn and begin deferred (``BEGIN IMMEDIATE`` would lock the audit file
too); every writer of the main file takes that turn, so none can move it under them.
``ehr.audit.pending`` indexes the events of both tables; the audit file's are moved in two
transactions (stored as resources in the main file, then deleted from the audit file),
exactly once because an event already stored is recognised by its id.

In-memory databases (and ``file:`` URIs) have no audit file: there every unit that writes
is an ordinary write unit, as on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from functools import lru_cache
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from sqlalchemy import URL, Connection, Engine, make_url

from ehr.db.driver_errors import as_sqlalchemy_errors
from ehr.db.driver_write import as_columns

if TYPE_CHECKING:
    from sqlmodel import Session

SCHEMA = "audit"
TABLE = f"{SCHEMA}.audit_pending"
_BUFFER = "ehr_audit_file_statements"
"""``Session.info`` key of the statements an audit-only unit has buffered (present: the
unit is audit-only)."""

_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " seq INTEGER PRIMARY KEY,"
    " res_id VARCHAR(64) NOT NULL,"
    " recorded BIGINT NOT NULL,"
    " facility VARCHAR(64),"
    " content BLOB NOT NULL)"
)


class WriteUnitNeeded(Exception):
    """Raised in an audit-only unit by work that must write the main file (a catch-up of
    pending AuditEvents): the unit is rolled back and run again as a write unit."""


def database_file(engine_or_url: Engine | str | URL) -> Path | None:
    """The file of a SQLite database, ``None`` for memory databases, URIs and PostgreSQL."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    if url.get_backend_name() != "sqlite":
        return None
    name = url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name).resolve()


def audit_file_of(engine_or_url: Engine | str) -> Path | None:
    """The audit file of the database, ``None`` where there is none (module docstring)."""
    if isinstance(engine_or_url, str):
        return _audit_file(make_url(engine_or_url))
    try:
        return _BY_ENGINE[engine_or_url]
    except KeyError:
        found = _BY_ENGINE[engine_or_url] = _audit_file(engine_or_url.url)
        return found


_BY_ENGINE: WeakKeyDictionary[Engine, Path | None] = WeakKeyDictionary()
"""An engine's audit file, found by the engine itself: every audited read asks, and a
``URL`` hashes by rendering itself as a string (a fortieth of a search's CPU)."""


@lru_cache(maxsize=64)
def _audit_file(url: URL) -> Path | None:
    database = database_file(url)
    return None if database is None else Path(f"{database}-audit")


def attach(dbapi_connection: Any, path: Path) -> None:
    """Attach the audit file at ``path`` to a new SQLite connection (created if missing)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"ATTACH DATABASE ? AS {SCHEMA}", (str(path),))
        cursor.execute(f"PRAGMA {SCHEMA}.journal_mode=WAL")
        cursor.execute(f"PRAGMA {SCHEMA}.synchronous=NORMAL")
        cursor.execute(_CREATE)
    finally:
        cursor.close()


def attached(connection: Session | Connection) -> bool:
    """Whether the database of ``connection`` (or a session bound to one) has an audit
    file."""
    bind = connection if isinstance(connection, Connection) else connection.get_bind()
    return audit_file_of(bind.engine) is not None


def begin_audit_only(session: Session) -> None:
    """Mark ``session``'s unit as audit-only: ``defer`` buffers statements from now on."""
    session.info[_BUFFER] = []


def is_audit_only(session: Session) -> bool:
    return _BUFFER in session.info


def defer(
    session: Session, sql: str, params: tuple[Any, ...], *, as_columns_sql: str | None = None
) -> None:
    """Buffer one statement for the unit's commit (in the driver's parameter style): on the
    audit file where the database has one, else on the database itself.

    ``as_columns_sql``: the same insert for many rows at once, its values one array per
    column (``ehr.db.driver_write.unnest_insert``, PostgreSQL), run when a batch buffered
    more than one such row. A batch of reads then stores its events in one statement,
    where ``executemany`` took one per event, and psycopg's Python a tenth of a read."""
    session.info[_BUFFER].append((sql, params, as_columns_sql, _UNIT.get()))


_UNIT: ContextVar[object | None] = ContextVar("ehr_audit_unit", default=None)
"""The unit of a batch whose statements ``defer`` buffers now (a batch's units may run
interleaved, ``ehr.db.interleaved``, each in a context of its own)."""


@contextmanager
def unit_statements(session: Session) -> Iterator[Callable[[], None]]:
    """Mark the statements buffered within as one unit's; the callable given drops them
    (the unit failed: the part of a batch that rolls back), wherever others' statements
    were buffered in between."""
    unit = object()
    token = _UNIT.set(unit)

    def discard() -> None:
        session.info[_BUFFER][:] = [s for s in session.info[_BUFFER] if s[3] is not unit]

    try:
        yield discard
    finally:
        _UNIT.reset(token)


def flush(session: Session) -> None:
    """Run the buffered statements: one row alone as one statement, runs of one statement
    as one ``executemany``, or as one statement of columns where there is one (the caller
    holds the audit file's writer turn).

    On a connection in autocommit (PostgreSQL's audit-only units, ``ehr.db.unit_of_work``)
    one statement is atomic by itself; more than one run in a transaction of their own,
    so that the rows of a batch are stored all or none.
    """
    statements = session.info[_BUFFER]
    if not statements:
        return
    runs = [
        (sql, columns_sql, [params for _, params, _, _ in run])
        for (sql, columns_sql), run in groupby(statements, key=_statement_of)
    ]
    connection = session.connection()
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    one_statement = len(runs) == 1 and (len(runs[0][2]) == 1 or runs[0][1] is not None)
    atomic = dbapi.transaction() if _autocommit(dbapi) and not one_statement else nullcontext()
    cursor = dbapi.cursor()
    try:
        with as_sqlalchemy_errors(connection), atomic:
            for sql, columns_sql, rows in runs:
                if len(rows) == 1:
                    cursor.execute(sql, rows[0])
                elif columns_sql is not None:
                    cursor.execute(columns_sql, as_columns(rows))
                else:
                    cursor.executemany(sql, rows)
    finally:
        cursor.close()
    statements.clear()


def _autocommit(dbapi: Any) -> bool:
    """Whether a driver connection commits each statement (psycopg's ``autocommit``;
    Python 3.11's sqlite3 has no such attribute, and its units never run so)."""
    return getattr(dbapi, "autocommit", False) is True


def _statement_of(
    buffered: tuple[str, tuple[Any, ...], str | None, object],
) -> tuple[str, str | None]:
    sql, _, columns_sql, _ = buffered
    return sql, columns_sql
