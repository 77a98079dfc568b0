"""Engine creation for SQLite (embedded default) and PostgreSQL (production).

SQLite runs in WAL mode with a busy timeout, and every write transaction either starts with
``BEGIN IMMEDIATE`` or holds the writer turn of ``ehr.db.writer_queue`` (with an audit file
attached, ``ehr.db.audit_file``), so that concurrent writers queue on the database lock
instead of failing late on upgrade (this is also what makes conditional create race-free
on SQLite, see ``ehr.db.locks``). SQLite connections also map the database file into memory
(``mmap_size``), which matters because every request writes (its audit record): a write
makes every other connection drop its private page cache. PostgreSQL runs at READ
COMMITTED with row and advisory locks.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event

from ehr.db.audit_file import attach, audit_file_of

WRITE_OPTION = "ehr_write"
"""Connection execution option: the transaction about to begin will write (``True``:
``BEGIN IMMEDIATE`` on SQLite), or will write but begins deferred (``DEFERRED_WRITE``: a
unit that holds the main file's writer turn, or writes only the audit file;
``ehr.db.audit_file``)."""
DEFERRED_WRITE = "deferred"


MMAP_BYTES = 1 << 40
"""SQLite maps at most this much of the database file (its own limit applies first)."""
WAL_AUTOCHECKPOINT_PAGES = 20_000
"""A connection that commits past this many WAL pages (80 MB) checkpoints the file itself.

SQLite's default, 1,000 pages, made the worker whose commit crossed it copy the WAL back
into the database inside a request, every second or two under a read peak (each read
appends its AuditEvent): a share of the p99. The audit indexer checkpoints both files in
the background after every batch (``checkpoint``), so this is only the safety net for a
service whose indexer is off or starved. Measured on SQLite under a read peak: with no
checkpoints at all reads reached p99 8-10 ms but a WAL of gigabytes slowed searches
(docs/benchmarks.md)."""


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


def make_engine(url: str, *, busy_timeout_ms: int = 30_000, echo: bool = False) -> Engine:
    """An engine for ``url`` with the pragmas and transaction rules described above."""
    if is_sqlite(url):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        )
        _configure_sqlite(engine, busy_timeout_ms, audit_file_of(url))
        return engine
    # No pre-ping: it costs a round trip on every checkout. A connection the server dropped
    # fails its unit of work, which ``run_in_unit_of_work`` then runs again on a fresh one.
    engine = create_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_recycle=1800)
    if engine.dialect.driver == "psycopg":  # the driver whose pipelines the writes use
        event.listen(engine, "before_cursor_execute", _not_in_a_pipeline)
    return engine


def _not_in_a_pipeline(connection, cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
    """SQLAlchemy reads a result's columns as soon as it has sent the statement; inside
    ``ehr.db.driver_write.pipelined`` they are not there yet and a SELECT would look empty."""
    if cursor.connection.pgconn.pipeline_status:
        raise RuntimeError(f"a SQLAlchemy statement inside a driver pipeline: {statement[:80]}")


def _configure_sqlite(engine: Engine, busy_timeout_ms: int, audit_file: Path | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let us issue BEGIN ourselves (pysqlite's implicit transactions defer the lock).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        # Read pages straight from the OS page cache instead of copying them into each
        # connection's own small cache, which is dropped whenever another connection has
        # written: measured on 100,000 Patients, a read cost 2.4 instead of 3.2 ms of CPU.
        cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        cursor.close()
        if audit_file is not None:
            attach(dbapi_connection, audit_file)

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write is True else "BEGIN")


def checkpoint(engine: Engine) -> None:
    """Copy what SQLite's write-ahead logs hold back into the database files (the main
    file and the attached audit file), without waiting for readers or writers
    (``PASSIVE``); nothing on PostgreSQL."""
    if not is_sqlite(engine):
        return
    connection = engine.raw_connection()  # outside any transaction (no BEGIN)
    try:
        cursor = connection.cursor()
        for _seq, name, _file in cursor.execute("PRAGMA database_list").fetchall():
            cursor.execute(f'PRAGMA "{name}".wal_checkpoint(PASSIVE)')
        cursor.close()
    finally:
        connection.close()
