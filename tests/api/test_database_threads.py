"""A worker runs at most ``DATABASE_THREADS`` units of work at once; the rest wait their turn.

Writes run a unit of work each; reads are grouped (``tests/db/test_group_commit.py``)."""

from __future__ import annotations

import threading
import time

import anyio
import httpx

import ehr.api.fhir_routes as fhir_routes


def test_concurrent_requests_share_a_few_database_threads_and_all_succeed(
    app, token_for, monkeypatch
):
    running, most = [0], [0]
    lock = threading.Lock()
    real = fhir_routes.run_in_unit_of_work

    def slow_unit(*args, **kwargs):  # type: ignore[no-untyped-def]
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.05)
            return real(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(fhir_routes, "run_in_unit_of_work", slow_unit)
    headers = token_for("admin")
    statuses: list[int] = []

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            async def get() -> None:
                body = {"resourceType": "Organization", "name": "Trạm Y tế"}
                response = await client.post("/fhir/Organization", json=body, headers=headers)
                statuses.append(response.status_code)

            async with anyio.create_task_group() as group:
                for _ in range(3 * fhir_routes.DATABASE_THREADS):
                    group.start_soon(get)

    anyio.run(main)
    assert statuses == [201] * (3 * fhir_routes.DATABASE_THREADS)
    assert most[0] == fhir_routes.DATABASE_THREADS
