"""Group commit: units share one transaction and one COMMIT, yet each keeps exactly its own
writes; a batch that cannot commit runs every unit alone; concurrent reads through the API
are each audited once."""

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
from sqlalchemy import Engine, event, func, select
from sqlalchemy.engine import RootTransaction
from sqlalchemy.exc import DBAPIError, IntegrityError

import ehr.api.fhir_routes as fhir_routes
from ehr.db.group_commit import GroupCommit, run_batch
from ehr.db.schema import Resource, UsedAssertion
from ehr.interactions.router import writes_only_audit

_USED = UsedAssertion.__table__  # type: ignore[attr-defined]
_names = itertools.count()


def _insert(session, jti: str) -> None:  # type: ignore[no-untyped-def]
    session.execute(_USED.insert().values(jti_hash=jti, client_id="c", expires_at=1))


def _stored(engine: Engine, prefix: str) -> set[str]:
    with engine.connect() as connection:
        rows = connection.execute(select(_USED.c.jti_hash).where(_USED.c.jti_hash.like(prefix)))
        return {row.jti_hash for row in rows}


def _commits(engine: Engine) -> list[int]:
    seen: list[int] = []
    event.listen(engine, "commit", lambda _connection: seen.append(1))
    return seen


def _unit(jti: str, kind: str):  # type: ignore[no-untyped-def]
    """A unit that writes ``jti`` and then returns it, raises, or fails in the database."""

    def work(session):  # type: ignore[no-untyped-def]
        _insert(session, jti)
        if kind == "raises":
            raise ValueError(jti)
        if kind == "database error":
            _insert(session, jti)  # the same key again: the database refuses it
        return jti

    return work


def test_a_batch_commits_once_and_each_unit_keeps_only_its_own_writes(engine):
    commits = _commits(engine)
    kinds = ["returns", "raises", "returns", "database error", "returns"]
    works = [_unit(f"batch-{i}", kind) for i, kind in enumerate(kinds)]
    outcomes = run_batch(engine, works)
    assert [o.value for o in outcomes] == ["batch-0", None, "batch-2", None, "batch-4"]
    assert isinstance(outcomes[1].error, ValueError)
    assert isinstance(outcomes[3].error, IntegrityError)
    assert _stored(engine, "batch-%") == {"batch-0", "batch-2", "batch-4"}
    assert len(commits) == 1


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kinds=st.lists(st.sampled_from(["returns", "raises", "database error"]), max_size=8))
def test_any_mix_of_units_stores_exactly_the_writes_of_those_that_returned(engine, kinds):
    prefix = f"mix{next(_names)}-"
    works = [_unit(f"{prefix}{i}", kind) for i, kind in enumerate(kinds)]
    outcomes = run_batch(engine, works)
    kept = {f"{prefix}{i}" for i, kind in enumerate(kinds) if kind == "returns"}
    assert _stored(engine, f"{prefix}%") == kept
    assert {o.value for o in outcomes if o.error is None} == kept


def test_a_batch_that_cannot_commit_runs_every_unit_alone(engine, monkeypatch):
    real = RootTransaction.commit
    failures = [1]

    def commit_fails_once(self):  # type: ignore[no-untyped-def]
        if failures:
            failures.pop()
            raise DBAPIError("COMMIT", None, Exception("refused"), connection_invalidated=True)
        return real(self)

    monkeypatch.setattr(RootTransaction, "commit", commit_fails_once)
    works = [_unit(f"alone-{i}", "returns") for i in range(3)] + [_unit("alone-x", "raises")]
    outcomes = run_batch(engine, works)
    assert [o.value for o in outcomes[:3]] == ["alone-0", "alone-1", "alone-2"]
    assert isinstance(outcomes[3].error, ValueError)
    assert _stored(engine, "alone-%") == {"alone-0", "alone-1", "alone-2"}


def test_units_that_arrive_while_a_batch_runs_share_the_next_one(engine):
    group = GroupCommit(engine, CapacityLimiter(4), concurrent=1)

    def slow_first(session):  # type: ignore[no-untyped-def]
        time.sleep(0.05)
        _insert(session, "queued-first")
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
