"""SMART discovery (``/fhir/.well-known/smart-configuration``) and ``/auth/jwks``."""

from __future__ import annotations

from pathlib import Path

import pytest
from auth_helpers import auth_of
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ehr.api.app import create_app
from ehr.auth.keys import thumbprint
from ehr.auth.routes import auth_router
from ehr.config import Settings

WELL_KNOWN = "/fhir/.well-known/smart-configuration"


@pytest.mark.parametrize("accept", [None, "text/html", "application/fhir+json", "*/*"])
def test_the_document_is_json_whatever_the_accept_header(
    token_client: TestClient, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    response = token_client.get(WELL_KNOWN, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["token_endpoint"] == "http://testserver/auth/token"
    assert document["jwks_uri"] == "http://testserver/auth/jwks"
    assert document["grant_types_supported"] == ["client_credentials"]
    assert document["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(document["token_endpoint_auth_signing_alg_values_supported"]) == {
        "RS256",
        "RS384",
        "ES256",
        "ES384",
    }
    assert {"client-confidential-asymmetric", "permission-v2", "permission-v1"} <= set(
        document["capabilities"]
    )
    assert "system/*.rs" in document["scopes_supported"]
    assert "issuer" not in document  # urn:ehr:exchange is no OpenID issuer URL


def test_urls_follow_the_configured_base_url(tmp_path: Path, database_url: str) -> None:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        base_url="https://ehr.example.gov.vn/fhir",
        token_issuer="https://ehr.example.gov.vn",
    )
    app = create_app(settings)
    if not any(getattr(r, "path", None) == "/auth/token" for r in app.routes):
        app.router.routes[:0] = auth_router().routes
    try:
        with TestClient(app, base_url="http://internal:8000") as client:
            document = client.get(WELL_KNOWN).json()
    finally:
        app.state.services.engine.dispose()
    assert document["token_endpoint"] == "https://ehr.example.gov.vn/auth/token"
    assert document["jwks_uri"] == "https://ehr.example.gov.vn/auth/jwks"
    assert document["issuer"] == "https://ehr.example.gov.vn"


def test_jwks_publishes_the_signing_keys(app: FastAPI, token_client: TestClient) -> None:
    response = token_client.get("/auth/jwks")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys == auth_of(app).jwks()["keys"]
    assert all(key["kid"] == thumbprint(key) and "d" not in key for key in keys)


def test_the_real_app_serves_discovery_before_the_fhir_routes(app: FastAPI) -> None:
    """The app includes ``auth_router()`` before ``/fhir/{type}/{id}``, which would catch it."""
    with TestClient(app, base_url="http://testserver") as client:
        response = client.get(WELL_KNOWN, headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.json()["token_endpoint"] == "http://testserver/auth/token"
