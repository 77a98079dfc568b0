"""Fixtures of the authorization tests: the auth routes on the real app, registered facilities.

``token_client`` (never sending credentials) drives ``/auth/*`` and the SMART discovery
document: the real app once it includes ``auth_router()``, until then a small app sharing
the real app's services. Facilities are registered the way the registry does it: ``Organization``
resources written through the FHIR API (with an admin token).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from auth_helpers import ec_key, jwk, organization, rsa_key
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ehr.api.errors import install_error_handlers
from ehr.auth.routes import auth_router
from ehr.auth.service import AuthService

FACILITY = "01001"
POLICY = "system/*.rs system/Encounter.cud system/Observation.cud"


def auth_of(app: FastAPI) -> AuthService:
    service = getattr(app.state.services, "auth", None)
    return service or AuthService.from_settings(app.state.services.settings)


@pytest.fixture
def anonymous_client(app: FastAPI) -> Iterator[TestClient]:
    """The real app in-process, with no credentials (``client`` signs in as admin)."""
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def token_client(app: FastAPI, anonymous_client: TestClient) -> Iterator[TestClient]:
    if any(getattr(route, "path", None) == "/auth/token" for route in app.routes):
        yield anonymous_client
        return
    api = FastAPI()
    api.state.services = app.state.services
    api.state.auth = auth_of(app)
    install_error_handlers(api)
    api.include_router(auth_router())
    with TestClient(api, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def admin_headers(app: FastAPI) -> dict[str, str]:
    token = auth_of(app).mint(subject="admin", role="admin", scopes="system/*.cruds")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def register(client: TestClient, admin_headers: dict[str, str]):  # type: ignore[no-untyped-def]
    """Write a facility ``Organization`` into the store."""

    def write(resource: dict[str, Any]) -> dict[str, Any]:
        response = client.post("/fhir/Organization", json=resource, headers=admin_headers)
        assert response.status_code == 201, response.text
        return response.json()

    return write


@dataclass
class Facility:
    code: str
    rsa: Any
    ec: Any


@pytest.fixture
def facility(register) -> Facility:  # type: ignore[no-untyped-def]
    """Facility 01001: an RSA key (pinned to RS384) and an EC P-256 key, policy ``POLICY``."""
    rsa_private, ec_private = rsa_key(), ec_key()
    register(
        organization(FACILITY, [jwk(rsa_private, alg="RS384"), jwk(ec_private)], policy=POLICY)
    )
    return Facility(FACILITY, rsa_private, ec_private)
