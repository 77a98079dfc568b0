"""Fixtures of the authorization tests: the auth routes on the real app, registered facilities.

``token_client`` (never sending credentials) drives ``/auth/*`` and the SMART discovery
document: the real app once it includes ``auth_router()``, until then a small app sharing
the real app's services. Facilities are registered the way the registry does it:
``Organization`` resources written through the FHIR API (with an admin token).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import (
    FACILITY,
    IDP,
    POLICY,
    Facility,
    ec_key,
    jwk,
    organization,
    rsa_key,
)
from fastapi.testclient import TestClient

from ehr.auth.service import AuthService
from ehr.config import Settings


@pytest.fixture
def token_client(anonymous_client: TestClient) -> TestClient:
    """The real app with no credentials: the token endpoint authenticates by assertion."""
    return anonymous_client


@pytest.fixture
def admin_headers(token_for) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return token_for("admin", subject="admin")


@pytest.fixture
def register(client: TestClient, admin_headers: dict[str, str]):  # type: ignore[no-untyped-def]
    """Write a facility ``Organization`` into the store."""

    def write(resource: dict[str, Any]) -> dict[str, Any]:
        response = client.post("/fhir/Organization", json=resource, headers=admin_headers)
        assert response.status_code == 201, response.text
        return response.json()

    return write


@pytest.fixture
def facility(register) -> Facility:  # type: ignore[no-untyped-def]
    """Facility 01001: an RSA key (pinned to RS384) and an EC P-256 key, policy ``POLICY``."""
    rsa_private, ec_private = rsa_key(), ec_key()
    register(
        organization(FACILITY, [jwk(rsa_private, alg="RS384"), jwk(ec_private)], policy=POLICY)
    )
    return Facility(FACILITY, rsa_private, ec_private)


@pytest.fixture
def idp_key() -> Any:
    """The RSA key of the trusted identity provider ``IDP``."""
    return rsa_key()


@pytest.fixture
def service(tmp_path: Path, idp_key: Any) -> AuthService:
    """A service with its own key in ``tmp_path`` that trusts ``IDP`` (key ``idp_key``)."""
    trusted = {IDP: {"jwks": {"keys": [jwk(idp_key, alg="RS256")]}, "role": "patient"}}
    return AuthService.from_settings(
        Settings(data_dir=tmp_path, trusted_issuers=json.dumps(trusted))
    )
