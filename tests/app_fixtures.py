"""App fixtures, a pytest plugin (see tests/conftest.py): the real app on a migrated database.

``client`` drives the app through its HTTP interface in-process (Starlette's TestClient);
``live_server`` runs it under a real uvicorn on a free port for tests that need real
concurrency or a real FHIR client.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ehr.api.app import create_app
from ehr.auth.claims import DEFAULT_SCOPES
from ehr.config import Settings
from ehr.db.schema import Resource, ResourceVersion

FHIR_JSON = "application/fhir+json"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # No background audit indexing: tests see exactly what their requests left pending
    # (tests/audit/test_pending.py runs the indexer on purpose).
    return Settings(database_url=database_url, data_dir=tmp_path / "data", audit_index_interval_s=0)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.services.engine.dispose()


TokenFor = Callable[..., dict[str, str]]


@pytest.fixture
def token_for(app: FastAPI) -> TokenFor:
    """``token_for(role, facility=..., cccd=..., scopes=...)``: an Authorization header."""

    def make(
        role: str,
        *,
        facility: str | None = None,
        cccd: str | None = None,
        scopes: str | None = None,
        subject: str | None = None,
    ) -> dict[str, str]:
        token = app.state.services.auth.mint(
            subject=subject or facility or cccd or f"test-{role}",
            role=role,
            scopes=DEFAULT_SCOPES[role] if scopes is None else scopes,
            facility=facility,
            cccd=cccd,
        )
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def client(app: FastAPI, token_for: TokenFor) -> Iterator[TestClient]:
    """The app in-process, signed in as an admin (requests may pass other headers)."""
    with TestClient(app, base_url="http://testserver", headers=token_for("admin")) as test_client:
        yield test_client


@pytest.fixture
def anonymous_client(app: FastAPI) -> Iterator[TestClient]:
    """The app in-process with no credentials at all."""
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@dataclass
class Counts:
    """How many rows the store holds: to prove that a failed request wrote nothing."""

    resources: int
    versions: int


def index_pending_audit(app: FastAPI) -> None:
    """Store the AuditEvents still pending as resources (``ehr.audit.pending``), as any
    read that could see them would first: then the tables show them."""
    from ehr.audit.pending import catch_up
    from ehr.db.unit_of_work import unit_of_work

    services = app.state.services
    with unit_of_work(services.engine) as session:
        catch_up(session, services)


@pytest.fixture
def store_counts(app: FastAPI):  # type: ignore[no-untyped-def]
    def counts() -> Counts:
        index_pending_audit(app)
        with app.state.services.engine.connect() as connection:
            resources = connection.execute(select(func.count()).select_from(Resource)).scalar_one()
            versions = connection.execute(
                select(func.count()).select_from(ResourceVersion)
            ).scalar_one()
        return Counts(resources, versions)

    return counts


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    """Poll ``condition`` until it holds (a server not yet listening counts as not yet)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("timed out")


@dataclass
class LiveServer:
    base_url: str
    """The FHIR base, e.g. ``http://127.0.0.1:54321/fhir``."""
    app: FastAPI
    headers: dict[str, str]
    """An admin's Authorization header."""


@pytest.fixture
def live_server(app: FastAPI, token_for: TokenFor) -> Iterator[LiveServer]:
    """The app under a real uvicorn server in a background thread."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}/fhir"
    httpx.get(f"{base}/metadata", timeout=10).raise_for_status()
    yield LiveServer(base_url=base, app=app, headers=token_for("admin"))
    server.should_exit = True
    thread.join(timeout=10)
