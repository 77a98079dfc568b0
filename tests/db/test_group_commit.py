"""Group commit: units share one transaction and one COMMIT, yet each keeps exactly its own
audit rows; a database error or a batch that cannot commit runs every unit alone;
concurrent reads through the API are each audited once."""

from __future__ import annotations

import asyncio
import itertools
import time

import anyio
import httpx
import pytest
from anyio import CapacityLimiter
from app_fixtures import index_pending_audit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.engine import RootTransaction
from sqlalchemy.exc import DBAPIError

import ehr.api.fhir_routes as fhir_routes
import ehr.db.group_commit as group_commit
from ehr.audit.pending import log_row
from ehr.db import audit_file
from ehr.db.group_commit import GroupCommit, run_batch
from ehr.db.schema import Resource
from ehr.interactions.router import writes_only_audit

_names = itertools.count()


def _log(session, name: str) -> None:  # type: ignore[no-untyped-def]
    """What a grouped unit writes: one pending AuditEvent row."""
    log_row(session, (name, 1, None, b"{}"))


def _stored(engine: Engine, prefix: str) -> set[str]:
    """The audit rows logged under ``prefix``: in ``audit_pending``, and in the audit file
    (batches on a SQLite file write there, units run alone into the main file)."""
    tables = ["audit_pending"]
    if audit_file.audit_file_of(engine) is not None:
        tables.append(audit_file.TABLE)
    found: set[str] = set()
    with engine.connect() as connection:
        for table in tables:
            rows = connection.execute(
                text(f"SELECT res_id FROM {table} WHERE res_id LIKE :prefix"), {"prefix": prefix}
            )
            found.update(row.res_id for row in rows)
    return found


def _commits(engine: Engine) -> list[int]:
    seen: list[int] = []
    event.listen(engine, "commit", lambda _connection: seen.append(1))
    return seen


def _unit(name: str, kind: str):  # type: ignore[no-untyped-def]
    """A unit that logs ``name`` and then returns it, raises, or fails in the database."""

    def work(session):  # type: ignore[no-untyped-def]
        _log(session, name)
        if kind == "raises":
            raise ValueError(name)
        if kind == "database error":
            session.execute(text("SELECT no_such_column FROM resource"))
        return name

    return work


def test_a_batch_commits_once_and_each_unit_keeps_only_its_own_audit_rows(engine):
    commits = _commits(engine)
    kinds = ["returns", "raises", "returns", "raises", "returns"]
    works = [_unit(f"batch-{i}", kind) for i, kind in enumerate(kinds)]
    outcomes = run_batch(engine, works)
    assert [o.value for o in outcomes] == ["batch-0", None, "batch-2", None, "batch-4"]
    assert isinstance(outcomes[1].error, ValueError)
    assert _stored(engine, "batch-%") == {"batch-0", "batch-2", "batch-4"}
    assert len(commits) == 1


def test_a_batch_stores_each_units_rows_as_logged_in_the_order_logged(engine):
    """On PostgreSQL a batch's rows go in as columns (one statement for all of them): each
    value must land in its own row and column, a missing facility as NULL."""
    prefix = f"rows{next(_names)}-"
    logged = [
        (f"{prefix}{i}", 1_700_000_000_000_000 + i, None if i % 3 else f"facility-{i}", b"{%d}" % i)
        for i in range(7)
    ]

    def unit(values):  # type: ignore[no-untyped-def]
        return lambda session: log_row(session, values)

    outcomes = run_batch(engine, [unit(values) for values in logged])
    assert all(outcome.error is None for outcome in outcomes)
    table = audit_file.TABLE if audit_file.audit_file_of(engine) is not None else "audit_pending"
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                f"SELECT res_id, recorded, facility, content FROM {table} "
                "WHERE res_id LIKE :prefix ORDER BY seq"
            ),
            {"prefix": f"{prefix}%"},
        )
        stored = [(r.res_id, r.recorded, r.facility, bytes(r.content)) for r in rows]
    assert stored == logged


def test_a_database_error_gives_up_the_batch_and_every_unit_runs_alone(engine):
    """PostgreSQL refuses every statement of a transaction after one failed: the units
    after it must not be answered from that transaction."""
    commits = _commits(engine)
    kinds = ["returns", "database error", "returns"]
    outcomes = run_batch(engine, [_unit(f"broken-{i}", kind) for i, kind in enumerate(kinds)])
    assert [o.value for o in outcomes] == ["broken-0", None, "broken-2"]
    assert isinstance(outcomes[1].error, DBAPIError)
    assert _stored(engine, "broken-%") == {"broken-0", "broken-2"}
    assert len(commits) == 2  # the two units that returned, each alone


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kinds=st.lists(st.sampled_from(["returns", "raises", "database error"]), max_size=8))
def test_any_mix_of_units_stores_exactly_the_audit_rows_of_those_that_returned(engine, kinds):
    prefix = f"mix{next(_names)}-"
    works = [_unit(f"{prefix}{i}", kind) for i, kind in enumerate(kinds)]
    outcomes = run_batch(engine, works)
    kept = {f"{prefix}{i}" for i, kind in enumerate(kinds) if kind == "returns"}
    assert _stored(engine, f"{prefix}%") == kept
    assert {o.value for o in outcomes if o.error is None} == kept


def test_a_batch_that_cannot_commit_runs_every_unit_alone(engine, monkeypatch, caplog):
    real = RootTransaction.commit
    failures = [1]

    def commit_fails_once(self):  # type: ignore[no-untyped-def]
        if failures:
            failures.pop()
            raise DBAPIError("COMMIT", None, Exception("refused"), connection_invalidated=True)
        return real(self)

    monkeypatch.setattr(RootTransaction, "commit", commit_fails_once)
    monkeypatch.setattr(group_commit, "_last_warning", [float("-inf")])
    works = [_unit(f"alone-{i}", "returns") for i in range(3)] + [_unit("alone-x", "raises")]
    with caplog.at_level("WARNING", logger="ehr.db"):
        outcomes = run_batch(engine, works)
    assert [o.value for o in outcomes[:3]] == ["alone-0", "alone-1", "alone-2"]
    assert isinstance(outcomes[3].error, ValueError)
    assert _stored(engine, "alone-%") == {"alone-0", "alone-1", "alone-2"}
    warned = [r.getMessage() for r in caplog.records if r.name == "ehr.db"]
    assert len(warned) == 1 and "DBAPIError" in warned[0] and "refused" in warned[0]
    assert "alone-" not in warned[0]  # the error, never the data


def test_batches_given_up_are_reported_at_most_once_a_minute(caplog, monkeypatch):
    monkeypatch.setattr(group_commit, "_last_warning", [float("-inf")])
    with caplog.at_level("WARNING", logger="ehr.db"):
        for _ in range(5):
            group_commit._note_given_up(DBAPIError("x", None, Exception("malformed\nmore")))
    messages = [r.getMessage() for r in caplog.records if r.name == "ehr.db"]
    assert len(messages) == 1
    group_commit._last_warning[0] = float("-inf")
    with caplog.at_level("WARNING", logger="ehr.db"):  # an error without a message
        group_commit._note_given_up(DBAPIError("x", None, Exception()))
    assert caplog.records[-1].getMessage().startswith("group commit: a batch of reads failed")
    assert messages == [
        "group commit: a batch of reads failed (DBAPIError: malformed); its reads run one by one"
    ]


def test_units_that_arrive_while_a_batch_runs_share_the_next_one(engine):
    """One batch at a time (``BATCHES_AT_ONCE``) on both databases, whatever threads the
    limiter has: the twenty units queued behind a running batch all share the next one."""
    group = GroupCommit(engine, CapacityLimiter(4))

    def slow_first(session):  # type: ignore[no-untyped-def]
        time.sleep(0.05)
        _log(session, "queued-first")
        return "queued-first"

    async def main() -> list[object]:
        first = asyncio.ensure_future(group.run(slow_first))
        await asyncio.sleep(0.01)  # the first batch is running now
        rest = [group.run(_unit(f"queued-{i}", "returns")) for i in range(20)]
        failing = group.run(_unit("queued-fails", "raises"))
        return await asyncio.gather(first, *rest, failing, return_exceptions=True)

    results = asyncio.run(main())
    assert results[:21] == ["queued-first", *(f"queued-{i}" for i in range(20))]
    assert isinstance(results[21], ValueError) and str(results[21]) == "queued-fails"
    assert group.batches == 2
    assert _stored(engine, "queued-%") == {"queued-first", *(f"queued-{i}" for i in range(20))}


def test_a_request_answered_by_a_batch_that_asks_again_joins_the_next_one(engine):
    """After a batch ends, the next waits ``GATHER_HOPS`` turns of the event loop: a client
    answered by the batch that sends its next request at once (as every connection under
    load does) shares the next batch with the unit that queued while the first ran, where
    starting at once made a batch of each."""
    group = GroupCommit(engine, CapacityLimiter(4))
    started_alone: list[int] = []

    def slow_first(session):  # type: ignore[no-untyped-def]
        time.sleep(0.05)
        return _unit("gather-first", "returns")(session)

    async def client() -> list[object]:
        first = await group.run(slow_first)
        return [first, await group.run(_unit("gather-again", "returns"))]

    async def main() -> list[object]:
        answered = asyncio.ensure_future(client())
        await asyncio.sleep(0.01)  # the first batch is running now
        queued = group.run(_unit("gather-queued", "returns"))
        results = await asyncio.gather(answered, queued)
        idle = asyncio.ensure_future(group.run(_unit("gather-idle", "returns")))
        await asyncio.sleep(0)  # one turn: a unit on an idle worker has started its batch
        started_alone.append(group.batches)
        return [*results, await idle]

    results = asyncio.run(main())
    assert results == [["gather-first", "gather-again"], "gather-queued", "gather-idle"]
    assert group.batches == 3  # first; queued and again together; idle
    assert started_alone == [3]


def test_concurrent_reads_through_the_api_are_each_audited_once(app, client, monkeypatch):
    patient = {"resourceType": "Patient", "name": [{"family": "Trần", "given": ["Bình"]}]}
    patient_id = client.post("/fhir/Patient", json=patient).json()["id"]
    headers = dict(client.headers)

    def audit_events() -> int:
        index_pending_audit(app)
        with app.state.services.engine.connect() as connection:
            count = (
                select(func.count()).select_from(Resource).where(Resource.res_type == "AuditEvent")
            )
            return connection.execute(count).scalar_one()

    before = audit_events()
    batches: list[GroupCommit] = []
    real = fhir_routes._group_commit

    def remembered(services):  # type: ignore[no-untyped-def]
        group = real(services)
        batches.append(group)
        return group

    monkeypatch.setattr(fhir_routes, "_group_commit", remembered)
    statuses: list[tuple[int, str]] = []

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:

            async def read() -> None:
                response = await http.get(f"/fhir/Patient/{patient_id}", headers=headers)
                statuses.append((response.status_code, response.json()["id"]))

            async with anyio.create_task_group() as tasks:
                for _ in range(24):
                    tasks.start_soon(read)

    anyio.run(main)
    assert statuses == [(200, patient_id)] * 24
    assert audit_events() == before + 24
    assert batches and batches[-1].batches < 24  # some reads shared a transaction


@pytest.mark.parametrize(
    ("method", "path", "grouped"),
    [
        ("GET", "Patient/abc", True),
        ("GET", "Patient", True),
        ("GET", "_history", True),
        ("GET", "Patient/abc/$link-history", True),
        ("POST", "Patient/_search", True),
        ("POST", "Patient/$match", True),
        ("POST", "Patient/$validate", True),
        ("POST", "CodeSystem/$lookup", True),
        ("POST", "", False),
        ("POST", "Patient", False),
        ("PUT", "Patient/abc", False),
        ("PATCH", "Patient/abc", False),
        ("DELETE", "Patient/abc", False),
        ("POST", "Patient/$merge", False),
        ("POST", "Task/abc/$confirm", False),
    ],
)
def test_only_interactions_that_write_nothing_but_audit_are_grouped(method, path, grouped):
    assert writes_only_audit(method, path) is grouped


def test_post_search_and_match_share_batches_like_gets(client, monkeypatch):
    grouped: list[int] = []
    real = GroupCommit.run

    async def counted(self, work):  # type: ignore[no-untyped-def]
        grouped.append(1)
        return await real(self, work)

    monkeypatch.setattr(GroupCommit, "run", counted)
    patient = {"resourceType": "Patient", "name": [{"family": "Phạm", "given": ["Hà"]}]}
    assert client.post("/fhir/Patient", json=patient).status_code == 201
    assert not grouped
    found = client.post("/fhir/Patient/_search", data={"family": "Phạm"})
    assert found.status_code == 200 and found.json()["total"] == 2  # facility + golden
    match = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient}]}
    assert client.post("/fhir/Patient/$match", json=match).status_code == 200
    assert len(grouped) == 2
