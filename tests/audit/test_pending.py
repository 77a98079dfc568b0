"""AuditEvents written as one row with their access and indexed later (``ehr.audit.pending``):
stored exactly as the write path would store them, gone with a rolled-back access, seen by
every read that could see them, stored exactly once however indexing and catch-ups
interleave, on both databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from app_fixtures import free_port, wait_for
from fhir_helpers import stored_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from ehr.access.policy import AccessPolicy
from ehr.audit.events import audit_event
from ehr.audit.indexer import (
    BACKGROUND_BATCH,
    BACKLOG_PAUSE_S,
    BUSY_MACHINE,
    MAX_DEFERRED,
    NICENESS,
    PEAK_PAUSE_S,
    FileCursor,
    MachineLoad,
    Pace,
    index_once,
    index_until,
)
from ehr.audit.pending import (
    BATCH,
    backlog,
    catch_up,
    file_has_rows,
    log_event,
    materialize,
    materialize_from_file,
)
from ehr.auth.principal import Principal
from ehr.context import RequestContext
from ehr.db.audit_file import TABLE as AUDIT_TABLE
from ehr.db.audit_file import audit_file_of
from ehr.db.engine import make_engine
from ehr.db.schema import Resource
from ehr.db.unit_of_work import unit_of_work
from ehr.storage.participants import Change
from ehr.storage.repository import read_current
from ehr.storage.write import new_id, now_micros, write_resource

FACILITY = Principal(subject="client-79001", role="facility", facility="79001", client_id="his")


def _event(break_glass: str | None = None, patients: set[str] | None = None) -> dict[str, Any]:
    return audit_event(
        principal=FACILITY,
        interaction="search-type",
        recorded="2026-11-23T10:00:00.123456+00:00",
        patients={"p1", "p2"} if patients is None else patients,
        target="Patient/p1/_history/3",
        query="identifier=urn%3Ax%7C1",
        break_glass=break_glass,
    )


def _context(app: Any, session: Any) -> RequestContext:
    services = app.state.services
    policy = AccessPolicy(FACILITY, services.compartment.person_types, "urn:cccd")
    return RequestContext(services, session, "http://x/fhir", policy)


def _log(ctx: RequestContext, event: dict[str, Any]) -> str:
    """Log ``event`` as the audit trail does; its id."""
    return log_event(ctx, event, now_micros())


def _counts(app: Any) -> tuple[int, int]:
    """(indexed AuditEvents, pending rows)."""
    with app.state.services.engine.connect() as connection:
        indexed = connection.execute(
            select(func.count()).select_from(Resource).where(Resource.res_type == "AuditEvent")
        ).scalar_one()
        pending = backlog(connection)
    return indexed, pending


@pytest.mark.parametrize("break_glass", [None, "unconscious patient"])
def test_an_indexed_event_has_exactly_the_rows_the_write_path_stores(app, break_glass):
    with unit_of_work(app.state.services.engine) as session:
        ctx = _context(app, session)
        logged = _log(ctx, _event(break_glass))
        assert catch_up(session, app.state.services) == 1
        lean = read_current(session, "AuditEvent", logged)
        full = write_resource(
            ctx,
            method="POST",
            res_type="AuditEvent",
            res_id=new_id(),
            body=_event(break_glass),
            check_references=False,
        ).stored
        assert lean is not None and full is not None
        assert (lean.version, lean.facility) == (1, "79001")
        assert _without_stamps(lean.content) == _without_stamps(full.content)
        lean_rows, full_rows = stored_rows(session, lean.rid), stored_rows(session, full.rid)
        assert lean_rows == full_rows
        assert lean_rows["token"] and lean_rows["reference"] and lean_rows["compartment"]
        assert backlog(session) == 0


def _without_stamps(content: bytes | None) -> dict[str, Any]:
    assert content is not None
    body = orjson.loads(content)
    body.pop("id")
    body["meta"].pop("lastUpdated")
    return body


def test_no_write_participant_acts_on_audit_events(app):
    """Indexing skips the participants; this is why that changes nothing."""
    with unit_of_work(app.state.services.engine) as session:
        ctx = _context(app, session)
        stored = write_resource(
            ctx,
            method="POST",
            res_type="AuditEvent",
            res_id="e1",
            body=_event(),
            check_references=False,
        ).stored
        assert stored is not None
        body = orjson.loads(stored.content)
        change = Change(
            method="POST", res_type="AuditEvent", res_id="e1", body=dict(body), previous=None
        )
        change.patients = {"p1", "p2"}
        before = stored_rows(session, stored.rid)
        for participant in app.state.services.participants:
            participant.before_store(ctx, change)
            participant.after_store(ctx, change, stored)
        assert change.body == body
        assert stored_rows(session, stored.rid) == before
        assert not ctx.audit.accesses


def test_an_event_of_an_access_that_rolls_back_is_not_kept(app):
    with pytest.raises(RuntimeError), unit_of_work(app.state.services.engine) as session:
        _log(_context(app, session), _event())
        raise RuntimeError("the access failed after its audit record was written")
    assert _counts(app) == (0, 0)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.sampled_from(["write unit", "audit-only unit"]), st.integers(1, 30)),
            st.sampled_from(
                [
                    "index",
                    "index, forgetting later",
                    "materialize",
                    "catch up",
                    "store from the audit file",
                ]
            ),
        ),
        max_size=8,
    )
)
def test_every_event_is_stored_exactly_once_however_indexing_interleaves(app, steps):
    """Events logged by write units (``audit_pending``) and by audit-only units (the audit
    file, on SQLite) interleaved with the indexer, catch-ups, and a store from the audit file
    whose rows are never deleted (an indexer that died between its two transactions)."""
    services = app.state.services
    logged: list[str] = []
    cursor = FileCursor()  # the background indexer's: deletes from the audit file in bulk
    for step in steps:
        if step == "index":
            index_once(services)
            continue
        if step == "index, forgetting later":
            index_once(services, cursor)
            continue
        audit_only = isinstance(step, tuple) and step[0] == "audit-only unit"
        with unit_of_work(services.engine, audit_only=audit_only) as session:
            if step == "materialize":
                materialize(session, services)
            elif step == "catch up":
                catch_up(session, services)
            elif step == "store from the audit file":
                if audit_file_of(services.engine) is not None:
                    materialize_from_file(session, services)
            else:
                ctx = _context(app, session)
                logged += [_log(ctx, _event()) for _ in range(step[1])]
    with unit_of_work(services.engine) as session:
        catch_up(session, services)
        stored = session.execute(
            select(Resource.res_id).where(Resource.res_type == "AuditEvent")
        ).scalars()
        stored_ids = list(stored)
    assert set(logged) <= set(stored_ids)
    assert len(stored_ids) == len(set(stored_ids))
    assert _counts(app)[1] == 0


def _indexed_ids(app: Any) -> set[str]:
    with app.state.services.engine.connect() as connection:
        rows = connection.execute(
            select(Resource.res_id).where(Resource.res_type == "AuditEvent")
        ).scalars()
        return set(rows)


def test_the_indexer_alone_stores_what_is_logged_after_it_emptied_the_audit_file(app):
    """The indexer's cursor goes on past the rows it deleted: rows logged once the audit
    file was empty again must still be after it (SQLite numbers a new row of an empty
    table 1 again unless told not to), or only readers' catch-ups would ever store them."""
    services = app.state.services
    cursor = FileCursor()
    for _ in range(2):
        with unit_of_work(services.engine, audit_only=True) as session:
            logged = {_log(_context(app, session), _event()) for _ in range(3)}
        while index_once(services, cursor):
            pass
        assert logged <= _indexed_ids(app)
        assert _counts(app)[1] == 0


def test_the_indexers_backlog_counts_what_waits_after_its_cursor(app):
    """``backlog`` counted after the indexer's cursor (its pacing) agrees with the exact
    ``backlog``: the rows it stored and has not deleted yet do not count."""
    services = app.state.services
    cursor = FileCursor()
    with unit_of_work(services.engine) as session:
        [_log(_context(app, session), _event()) for _ in range(2)]  # audit_pending
    with unit_of_work(services.engine, audit_only=True) as session:
        [_log(_context(app, session), _event()) for _ in range(BACKGROUND_BATCH + 5)]
    with services.engine.connect() as connection:
        assert backlog(connection, after=cursor.after) == backlog(connection) == 207
    stored = index_once(services, cursor)  # a batch of each table; file rows kept a while
    assert stored >= BACKGROUND_BATCH
    with services.engine.connect() as connection:
        if audit_file_of(services.engine) is not None:
            assert cursor.done and file_has_rows(connection)
        assert backlog(connection, after=cursor.after) == backlog(connection) == 207 - stored


def test_a_read_is_seen_by_the_audit_search_right_after_it(client, app):
    patient = {"resourceType": "Patient", "name": [{"family": "Đỗ", "given": ["Lan"]}]}
    patient_id = client.post("/fhir/Patient", json=patient).json()["id"]
    assert client.get(f"/fhir/Patient/{patient_id}").status_code == 200
    assert _counts(app)[1] >= 2  # the create's event and the read's: pending, not indexed
    found = client.get("/fhir/AuditEvent", params={"patient": patient_id, "_count": 50}).json()
    actions = sorted(e["resource"]["action"] for e in found["entry"])
    assert actions == ["C", "R"]
    event_id = found["entry"][0]["resource"]["id"]
    assert client.get(f"/fhir/AuditEvent/{event_id}").json()["id"] == event_id


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/fhir/AuditEvent", {}),
        ("/fhir/_history", {}),
        ("/fhir/AuditEvent/_history", {}),
        ("/fhir/Patient", {"_revinclude": "AuditEvent:patient"}),
    ],
)
def test_reads_that_may_return_audit_events_index_the_pending_ones_first(client, app, path, params):
    patient = {"resourceType": "Patient", "name": [{"family": "Vũ"}]}
    client.post("/fhir/Patient", json=patient)
    assert _counts(app)[1] >= 1
    assert client.get(path, params=params).status_code == 200
    indexed, pending = _counts(app)
    assert indexed >= 1
    assert pending <= 1  # at most the event of this very read, written after it


def test_reads_that_cannot_return_audit_events_leave_them_pending(client, app):
    patient = {"resourceType": "Patient", "name": [{"family": "Vũ"}]}
    patient_id = client.post("/fhir/Patient", json=patient).json()["id"]
    client.get(f"/fhir/Patient/{patient_id}")
    client.get("/fhir/Patient", params={"family": "Vũ"})
    indexed, pending = _counts(app)
    assert indexed == 0 and pending == 3


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_concurrent_indexing_on_postgresql_never_stores_an_event_twice(app):
    services = app.state.services
    with unit_of_work(services.engine) as session:
        ctx = _context(app, session)
        logged = {_log(ctx, _event(patients={f"p{i}"})) for i in range(1200)}
    errors: list[BaseException] = []

    def index() -> None:
        try:
            while True:
                with unit_of_work(services.engine) as session:
                    if materialize(session, services) == 0:
                        return
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def catch() -> None:
        try:
            with unit_of_work(services.engine) as session:
                catch_up(session, services)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=index) for _ in range(3)] + [threading.Thread(target=catch)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with services.engine.connect() as connection:
        stored = connection.execute(
            select(Resource.res_id).where(Resource.res_type == "AuditEvent")
        ).scalars()
        ids = list(stored)
    assert sorted(ids) == sorted(logged)
    assert _counts(app) == (1200, 0)


def test_the_indexer_works_off_a_backlog_in_batches(app):
    services = app.state.services
    with unit_of_work(services.engine) as session:
        ctx = _context(app, session)
        for _ in range(3 * BACKGROUND_BATCH + 7):
            _log(ctx, _event())
    assert index_once(services) == BACKGROUND_BATCH
    stop = threading.Event()
    worker = threading.Thread(target=index_until, args=(services, 0.01, stop))
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while _counts(app)[1] and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        worker.join()
    assert _counts(app) == (3 * BACKGROUND_BATCH + 7, 0)


def test_the_background_indexer_deletes_from_the_audit_file_in_bulk(app):
    """Stored rows stay in the audit file (not counted as backlog) until ``FORGET_EVERY``
    of them, or a batch that finds nothing new, are deleted in one go; none is stored
    twice. (PostgreSQL has no audit file: events are stored and deleted in one transaction.)"""
    services = app.state.services
    with unit_of_work(services.engine, audit_only=True) as session:
        ctx = _context(app, session)
        logged = [_log(ctx, _event()) for _ in range(BACKGROUND_BATCH + 5)]
    cursor = FileCursor()
    assert index_once(services, cursor) == BACKGROUND_BATCH
    assert _counts(app) == (BACKGROUND_BATCH, 5)
    in_file = BACKGROUND_BATCH + 5 if audit_file_of(services.engine) is not None else 0
    assert _rows_in_audit_file(app) == in_file
    assert len(cursor.done) == (BACKGROUND_BATCH if in_file else 0)
    assert index_once(services, cursor) == 5
    assert _rows_in_audit_file(app) == in_file
    assert index_once(services, cursor) == 0  # found nothing new: deletes what it stored
    assert cursor.done == [] and _rows_in_audit_file(app) == 0
    assert _counts(app) == (BACKGROUND_BATCH + 5, 0)
    with unit_of_work(services.engine) as session:
        stored = session.execute(
            select(Resource.res_id).where(Resource.res_type == "AuditEvent")
        ).scalars()
        assert sorted(stored) == sorted(logged)


def _rows_in_audit_file(app: Any) -> int:
    engine = app.state.services.engine
    if audit_file_of(engine) is None:
        return 0
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {AUDIT_TABLE}")).scalar_one()


def test_ehr_serve_runs_the_indexer_beside_its_workers(database_url, tmp_path):
    """A read's event becomes a resource with no audit query at all; the indexer process
    ends with the server."""
    env = {
        **os.environ,
        "EHR_DATABASE_URL": database_url,
        "EHR_DATA_DIR": str(tmp_path / "data"),
        "EHR_AUDIT_INDEX_INTERVAL_S": "0.05",
    }
    port = free_port()
    cli = [sys.executable, "-m", "ehr.cli"]
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}/fhir"
        wait_for(lambda: httpx.get(f"{base}/metadata").status_code == 200)
        token = subprocess.run(
            [*cli, "token", "--role", "admin"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}
        patient = {"resourceType": "Patient", "name": [{"family": "Lý"}]}
        created = httpx.post(f"{base}/Patient", json=patient, headers=headers)
        assert created.status_code == 201
        assert (
            httpx.get(f"{base}/Patient/{created.json()['id']}", headers=headers).status_code == 200
        )
        engine = make_engine(database_url)
        try:

            def indexed() -> bool:
                with engine.connect() as connection:
                    pending = backlog(connection)
                    events = connection.execute(
                        select(func.count())
                        .select_from(Resource)
                        .where(Resource.res_type == "AuditEvent")
                    )
                    return pending == 0 and events.scalar_one() == 2

            wait_for(indexed)
        finally:
            engine.dispose()
        children = _children_of(server.pid)
        assert children, "the indexer runs as a child process of ehr serve"
        niceness = {os.getpriority(os.PRIO_PROCESS, child) for child in children}
        assert NICENESS in niceness, "the indexer runs at the lowest CPU priority"
        assert os.getpriority(os.PRIO_PROCESS, server.pid) == 0  # requests as usual
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)
    indexers = subprocess.run(
        ["pgrep", "-f", "audit-indexer|run_indexer_process"], capture_output=True
    )
    assert str(server.pid) not in indexers.stdout.decode()


def _children_of(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_catch_up_that_waited_for_the_indexer_still_stores_everything_before_it(app):
    """The indexer holds the oldest rows; the catch-up waits for them (it must not skip
    them: they are older than the read), finds them stored, and stores every later row
    before it returns."""
    services = app.state.services
    with unit_of_work(services.engine) as session:
        ctx = _context(app, session)
        for _ in range(BATCH + 120):
            _log(ctx, _event())
    caught_up = threading.Event()

    def catch() -> None:
        with unit_of_work(services.engine) as session:
            catch_up(session, services)
        caught_up.set()

    with unit_of_work(services.engine) as indexer_session:
        assert materialize(indexer_session, services, limit=50) == 50
        waiting = threading.Thread(target=catch)
        waiting.start()
        time.sleep(0.5)
        assert not caught_up.is_set()  # it waits for the rows the indexer holds
    waiting.join(timeout=30)
    assert caught_up.is_set()
    assert _counts(app) == (BATCH + 120, 0)


@given(
    rounds=st.lists(
        st.tuples(
            st.integers(0, BACKGROUND_BATCH),
            st.integers(0, 2 * MAX_DEFERRED),
            st.none() | st.floats(0, 1),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_the_indexer_yields_only_to_a_peak_below_the_cap(rounds):
    """The pause after each batch: the polling interval once caught up; one batch a second
    only under a peak (the backlog grew since the last full batch, or others kept the
    machine's CPUs busy) while the backlog is below ``MAX_DEFERRED``; else straight on."""
    pace, last = Pace(interval_s=0.5), None
    for stored, left, busy in rounds:
        full = stored == BACKGROUND_BATCH
        backlog = left if full else None
        pause = pace.pause_after(stored, backlog, busy)
        peak = (last is not None and last < left) or (busy is not None and busy >= BUSY_MACHINE)
        if not full:
            assert pause == 0.5
        elif peak and left < MAX_DEFERRED:
            assert pause == PEAK_PAUSE_S
        else:
            assert pause == BACKLOG_PAUSE_S
        last = backlog


def test_machine_load_is_the_busy_share_of_cpu_time_between_readings(tmp_path):
    """From ``/proc/stat``'s first line: user, system, interrupts and stolen time are busy;
    time at a positive nice value (the indexer's own), idle and I/O wait are not."""
    stat = tmp_path / "stat"
    load = MachineLoad(stat)
    assert load.busy_since_last() is None  # no such file
    stat.write_text("cpu  100 50 30 800 10 5 5 0 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    assert load.busy_since_last() is None  # a first reading
    # +60 user, +300 nice, +20 system, +100 idle, +10 iowait, +5 irq, +5 softirq
    stat.write_text("cpu  160 350 50 900 20 10 10 0 0 0\n")
    assert load.busy_since_last() == pytest.approx(90 / 500)
    assert load.busy_since_last() is None  # no time passed


def test_the_indexers_backlog_spans_the_pending_rows_without_counting_them(app):
    """With the indexer's cursor, ``audit_pending`` is measured from its first key to its
    last (two index lookups, not a scan): exact while rows leave oldest first, as the
    indexer takes them, and never less than the rows that wait when one leaves early."""
    services = app.state.services
    with unit_of_work(services.engine) as session:
        [_log(_context(app, session), _event()) for _ in range(6)]
    with services.engine.connect() as connection:
        assert backlog(connection, after=0) == backlog(connection) == 6
    with unit_of_work(services.engine) as session:
        seqs = session.execute(text("SELECT seq FROM audit_pending ORDER BY seq")).scalars().all()
        session.execute(text("DELETE FROM audit_pending WHERE seq = :s"), {"s": seqs[0]})
    with services.engine.connect() as connection:
        assert backlog(connection, after=0) == backlog(connection) == 5
    with unit_of_work(services.engine) as session:
        session.execute(text("DELETE FROM audit_pending WHERE seq = :s"), {"s": seqs[2]})
    with services.engine.connect() as connection:
        assert backlog(connection) == 4
        assert backlog(connection, after=0) == 5  # the row taken early still spans
    with unit_of_work(services.engine) as session:
        session.execute(text("DELETE FROM audit_pending"))
    with services.engine.connect() as connection:
        assert backlog(connection, after=0) == backlog(connection) == 0
