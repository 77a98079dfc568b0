"""The audit file of a SQLite database (``ehr.db.audit_file``): audited reads write their
AuditEvents there, without the main file's write lock, in the read's own transaction; a
read that must write the main file runs again as a write unit."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import func, select, text

from ehr.audit.pending import backlog
from ehr.db import audit_file
from ehr.db.audit_file import WriteUnitNeeded, audit_file_of, database_file
from ehr.db.group_commit import run_batch
from ehr.db.schema import AuditPending, UsedAssertion
from ehr.db.unit_of_work import unit_of_work

_USED = UsedAssertion.__table__  # type: ignore[attr-defined]
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_only_a_sqlite_file_has_an_audit_file(tmp_path):
    assert audit_file_of(f"sqlite:///{tmp_path}/ehr.db") == tmp_path / "ehr.db-audit"
    assert database_file(f"sqlite:///{tmp_path}/ehr.db") == tmp_path / "ehr.db"
    for url in ("sqlite://", "sqlite:///:memory:", "postgresql+psycopg://u@h/db"):
        assert audit_file_of(url) is None


@sqlite_only
def test_an_audited_read_does_not_wait_for_the_main_files_write_lock(client, app, database_url):
    patient = {"resourceType": "Patient", "name": [{"family": "Hồ"}]}
    patient_id = client.post("/fhir/Patient", json=patient).json()["id"]
    holder = sqlite3.connect(database_file(database_url), isolation_level=None)  # type: ignore[arg-type]
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the main file's lock
    statuses: list[int] = []
    try:
        reader = threading.Thread(
            target=lambda: statuses.append(client.get(f"/fhir/Patient/{patient_id}").status_code)
        )
        reader.start()
        reader.join(timeout=10)
        assert statuses == [200], "the read waited for the main file's write lock"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        reader.join()
    with app.state.services.engine.connect() as connection:
        in_main = connection.execute(select(func.count()).select_from(AuditPending)).scalar()
        in_file = connection.execute(text(f"SELECT count(*) FROM {audit_file.TABLE}")).scalar()
    assert (in_main, in_file) == (1, 1)  # the create's event, the read's event


def test_a_unit_that_needs_the_main_file_runs_again_alone_after_the_batch(engine):
    runs: list[bool] = []

    def needs_main(session):  # type: ignore[no-untyped-def]
        runs.append(audit_file.is_audit_only(session))
        if audit_file.is_audit_only(session):
            raise WriteUnitNeeded("needs the main file")
        session.execute(_USED.insert().values(jti_hash="rerun", client_id="c", expires_at=1))
        return "written"

    outcomes = run_batch(engine, [lambda session: "read", needs_main])
    assert [outcome.result() for outcome in outcomes] == ["read", "written"]
    assert runs == [True, False]  # audit-only in the batch, then a write unit alone
    with engine.connect() as connection:
        stored = connection.execute(select(_USED.c.jti_hash)).scalars().all()
    assert stored == ["rerun"]


@sqlite_only
def test_rows_a_rolled_back_unit_of_a_batch_buffered_are_not_written(engine):
    def logs_then_fails(session):  # type: ignore[no-untyped-def]
        audit_file.defer(session, _INSERT, ("failed", 1, None, b"{}"))
        raise ValueError("the read failed after its event was buffered")

    def logs(session):  # type: ignore[no-untyped-def]
        audit_file.defer(session, _INSERT, ("kept", 1, None, b"{}"))
        return "kept"

    outcomes = run_batch(engine, [logs_then_fails, logs])
    assert isinstance(outcomes[0].error, ValueError) and outcomes[1].value == "kept"
    with engine.connect() as connection:
        ids = connection.execute(text(f"SELECT res_id FROM {audit_file.TABLE}")).scalars()
        assert list(ids) == ["kept"]
        assert backlog(connection) == 1


@sqlite_only
def test_an_audit_only_unit_that_fails_writes_nothing_to_the_audit_file(engine):
    with pytest.raises(RuntimeError), unit_of_work(engine, audit_only=True) as session:
        audit_file.defer(session, _INSERT, ("lost", 1, None, b"{}"))
        raise RuntimeError("the read failed")
    with engine.connect() as connection:
        assert connection.execute(text(f"SELECT count(*) FROM {audit_file.TABLE}")).scalar() == 0


_INSERT = (
    f"INSERT INTO {audit_file.TABLE} (res_id, recorded, facility, content) VALUES (?, ?, ?, ?)"
)


@sqlite_only
def test_a_unit_of_a_batch_that_writes_the_main_file_after_another_writer_runs_again(
    engine, database_url
):
    """Only AuditEvents belong in an audit-only batch; a unit that writes the main file
    anyway, after another writer committed there, is refused the lock by SQLite (its
    snapshot is stale) and is answered by a run of its own as a write unit."""
    runs: list[bool] = []

    def reads(session):  # type: ignore[no-untyped-def]
        session.execute(select(func.count()).select_from(_USED)).scalar()  # the snapshot
        other = sqlite3.connect(database_file(database_url), isolation_level=None)  # type: ignore[arg-type]
        other.execute("INSERT INTO used_assertion VALUES ('other', 'c', 1)")
        other.close()
        return "read"

    def writes_main(session):  # type: ignore[no-untyped-def]
        runs.append(audit_file.is_audit_only(session))
        session.execute(_USED.insert().values(jti_hash="late", client_id="c", expires_at=1))
        return "written"

    outcomes = run_batch(engine, [reads, writes_main])
    assert [outcome.result() for outcome in outcomes] == ["read", "written"]
    assert runs == [True, False]
    with engine.connect() as connection:
        stored = set(connection.execute(select(_USED.c.jti_hash)).scalars())
    assert stored == {"other", "late"}
