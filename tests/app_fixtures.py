"""App fixtures, a pytest plugin (see tests/conftest.py): the real app on a migrated database.

``client`` drives the app through its HTTP interface in-process (Starlette's TestClient);
``live_server`` runs it under a real uvicorn on a free port for tests that need real
concurrency or a real FHIR client.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ehr.api.app import create_app
from ehr.config import Settings
from ehr.db.schema import Resource, ResourceVersion

FHIR_JSON = "application/fhir+json"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path / "data")


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.services.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@dataclass
class Counts:
    """How many rows the store holds: to prove that a failed request wrote nothing."""

    resources: int
    versions: int


@pytest.fixture
def store_counts(app: FastAPI):  # type: ignore[no-untyped-def]
    def counts() -> Counts:
        with app.state.services.engine.connect() as connection:
            resources = connection.execute(select(func.count()).select_from(Resource)).scalar_one()
            versions = connection.execute(
                select(func.count()).select_from(ResourceVersion)
            ).scalar_one()
        return Counts(resources, versions)

    return counts


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    base_url: str
    """The FHIR base, e.g. ``http://127.0.0.1:54321/fhir``."""
    app: FastAPI


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    """The app under a real uvicorn server in a background thread."""
    port = _free_port()
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
    yield LiveServer(base_url=base, app=app)
    server.should_exit = True
    thread.join(timeout=10)
