"""SQLite's write-ahead logs are copied back by the audit indexer, not inside requests.

Connections checkpoint on their own only past ``WAL_AUTOCHECKPOINT_PAGES``; ``checkpoint``
(run by the indexer after every batch) copies both files' logs back without blocking.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from ehr.db.audit_file import TABLE as AUDIT_TABLE
from ehr.db.engine import WAL_AUTOCHECKPOINT_PAGES, checkpoint, make_engine


def _write(engine, table: str, rows: int) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {table} (x BLOB)")
        connection.execute(
            text(f"INSERT INTO {table} (x) VALUES (:x)"), [{"x": b"\0" * 1000}] * rows
        )


def test_writes_stay_in_the_log_until_checkpointed(tmp_path: Path) -> None:
    database = tmp_path / "ehr.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert pages == WAL_AUTOCHECKPOINT_PAGES
        _write(engine, "main.filler", 2000)  # ~500 pages: under the connection's threshold
        _write(engine, "audit.filler", 2000)
        audit = Path(f"{database}-audit")
        before = database.stat().st_size, audit.stat().st_size
        checkpoint(engine)
        after = database.stat().st_size, audit.stat().st_size
        assert after[0] > before[0] + 1_000_000 and after[1] > before[1] + 1_000_000
        with engine.connect() as connection:  # the data is all there, the logs emptied
            assert connection.exec_driver_sql("SELECT count(*) FROM audit.filler").scalar() == 2000
            assert connection.exec_driver_sql(f"SELECT count(*) FROM {AUDIT_TABLE}").scalar() == 0
    finally:
        engine.dispose()
