"""``POST /auth/token``: SMART Backend Services on SQLite and PostgreSQL.

A good client assertion buys a short-lived, non-refreshable, uncached token within the
facility's registered scope policy; every defect of the assertion, the client or the
request is an RFC 6749 error (``invalid_client`` 401, the others 400).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import (
    FACILITY,
    Facility,
    assert_error,
    assertion_claims,
    auth_of,
    claims_of,
    ec_key,
    good_assertion,
    jwk,
    organization,
    post,
    sign,
    tampered,
    token_form,
)
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ehr.api.app import create_app
from ehr.auth.routes import auth_router
from ehr.config import Settings
from ehr.db.schema import UsedAssertion
from ehr.errors import Unauthorized

USED = UsedAssertion.__table__  # type: ignore[attr-defined]


@pytest.mark.parametrize("key_kind", ["ec", "rsa"])
def test_a_good_assertion_gets_a_short_uncached_facility_token(
    app: FastAPI, token_client: TestClient, facility: Facility, key_kind: str
) -> None:
    if key_kind == "ec":
        assertion = good_assertion(facility)
    else:
        assertion = sign(assertion_claims(facility.code), facility.rsa, "RS384")
    response = post(token_client, token_form(assertion, "system/Encounter.cruds"))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 300
    assert "refresh_token" not in body
    assert body["scope"] == "system/Encounter.cruds"
    principal = auth_of(app).authenticate(f"Bearer {body['access_token']}")
    assert principal.role == "facility"
    assert principal.facility == FACILITY and principal.subject == FACILITY
    assert principal.client_id == FACILITY
    assert principal.scopes == ("system/Encounter.cruds",)
    claims = claims_of(body["access_token"])
    assert claims["exp"] - claims["iat"] <= 300


def test_the_issued_token_opens_the_fhir_api(
    anonymous_client: TestClient, token_client: TestClient, facility: Facility
) -> None:
    body = post(token_client, token_form(good_assertion(facility), "system/*.rs")).json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    response = anonymous_client.get("/fhir/Organization", params={"_count": "1"}, headers=headers)
    assert response.status_code == 200, response.text
    refused = anonymous_client.get("/fhir/Organization")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="ehr"'
    bad = anonymous_client.get(
        "/fhir/Organization",
        headers={
            "Authorization": f"Bearer {tampered(body['access_token'], scope='system/*.cruds')}"
        },
    )
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]


def test_a_tampered_or_reaimed_issued_token_does_not_authenticate(
    app: FastAPI, token_client: TestClient, facility: Facility
) -> None:
    token = post(token_client, token_form(good_assertion(facility))).json()["access_token"]
    for change in ({"scope": "system/*.cruds"}, {"facility": "02002"}, {"role": "admin"}):
        with pytest.raises(Unauthorized):
            auth_of(app).authenticate(f"Bearer {tampered(token, **change)}")


def test_scopes_are_granted_in_v2_form_and_v1_requests_are_mapped(
    token_client: TestClient, facility: Facility
) -> None:
    body = post(token_client, token_form(good_assertion(facility), "system/*.read")).json()
    assert body["scope"] == "system/*.rs"
    body = post(
        token_client, token_form(good_assertion(facility), "system/Observation.write")
    ).json()
    assert body["scope"] == "system/Observation.cud"


@pytest.mark.parametrize(
    "scope", ["system/*.cruds", "system/Patient.c", "system/*.rs patient/*.rs", "user/*.rs"]
)
def test_a_scope_wider_than_registered_is_invalid_scope(
    token_client: TestClient, facility: Facility, scope: str
) -> None:
    body = assert_error(
        post(token_client, token_form(good_assertion(facility), scope)), "invalid_scope"
    )
    assert "policy" in body["error_description"]


@pytest.mark.parametrize("scope", [None, "", "openid", "system/*.all"])
def test_a_missing_or_malformed_scope_is_invalid_scope(
    token_client: TestClient, facility: Facility, scope: str | None
) -> None:
    assert_error(post(token_client, token_form(good_assertion(facility), scope)), "invalid_scope")


def test_the_default_policy_is_system_cruds(token_client: TestClient, register: Any) -> None:
    key = ec_key()
    register(organization("02002", [jwk(key)]))
    assertion = sign(assertion_claims("02002"), key, "ES256")
    body = post(token_client, token_form(assertion, "system/*.cruds")).json()
    assert body["scope"] == "system/*.cruds"


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"exp": -60}, "expired"),
        ({"exp": 900}, "ahead"),
        ({"exp": None}, "exp"),
        ({"jti": None}, "jti"),
        ({"jti": ""}, "jti"),
        ({"aud": "https://elsewhere.example/auth/token"}, "audience"),
        ({"aud": "http://testserver/fhir"}, "audience"),
        ({"sub": "02002"}, "sub"),
    ],
)
def test_defective_assertions_are_invalid_client(
    token_client: TestClient, facility: Facility, changes: dict[str, Any], reason: str
) -> None:
    now = int(time.time())
    if isinstance(changes.get("exp"), int):
        changes = {**changes, "exp": now + changes["exp"]}
    body = assert_error(
        post(token_client, token_form(good_assertion(facility, **changes))), "invalid_client"
    )
    assert reason in body["error_description"]


def test_iss_other_than_sub_is_invalid_client(token_client: TestClient, facility: Facility) -> None:
    body = assert_error(
        post(token_client, token_form(good_assertion(facility, iss="02002"))), "invalid_client"
    )
    assert "differ" in body["error_description"]


def test_a_bad_signature_is_invalid_client(token_client: TestClient, facility: Facility) -> None:
    forged = sign(assertion_claims(FACILITY), ec_key(), "ES256", kid=jwk(facility.ec)["kid"])
    assert_error(post(token_client, token_form(forged)), "invalid_client")
    unknown_key = sign(assertion_claims(FACILITY), ec_key(), "ES256")
    assert_error(post(token_client, token_form(unknown_key)), "invalid_client")
    wrong_alg = sign(assertion_claims(FACILITY), facility.rsa, "RS256")  # key pinned to RS384
    assert_error(post(token_client, token_form(wrong_alg)), "invalid_client")
    assert_error(
        post(token_client, token_form(tampered(good_assertion(facility), exp=1))), "invalid_client"
    )


def test_unknown_and_inactive_clients_are_invalid_client(
    token_client: TestClient, register: Any
) -> None:
    key = ec_key()
    assertion = sign(assertion_claims("03003"), key, "ES256")
    assert (
        "unknown"
        in assert_error(post(token_client, token_form(assertion)), "invalid_client")[
            "error_description"
        ]
    )
    register(organization("03003", [jwk(key)], active=False))
    body = assert_error(
        post(token_client, token_form(sign(assertion_claims("03003"), key, "ES256"))),
        "invalid_client",
    )
    assert "not active" in body["error_description"]
    register(organization("04004", [jwk(key)], active=None))
    assertion = sign(assertion_claims("04004"), key, "ES256")
    assert_error(post(token_client, token_form(assertion)), "invalid_client")


def test_a_client_with_an_unusable_jwks_gets_nothing(
    token_client: TestClient, register: Any
) -> None:
    key = ec_key()
    register(organization("05005", None, jwks_text="{not json"))
    assertion = sign(assertion_claims("05005"), key, "ES256")
    assert_error(post(token_client, token_form(assertion)), "invalid_client")


@pytest.mark.parametrize(
    "changes, error",
    [
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
        ({"grant_type": ""}, "invalid_request"),
        ({"client_assertion_type": "urn:other"}, "invalid_client"),
        ({"client_assertion": ""}, "invalid_client"),
        ({"client_assertion": "not-a-jwt"}, "invalid_client"),
        ({"client_id": "02002"}, "invalid_client"),
    ],
)
def test_malformed_requests(
    token_client: TestClient, facility: Facility, changes: dict[str, str], error: str
) -> None:
    form = {**token_form(good_assertion(facility)), **changes}
    assert_error(post(token_client, form), error)


def test_a_matching_client_id_parameter_is_accepted(
    token_client: TestClient, facility: Facility
) -> None:
    form = token_form(good_assertion(facility), client_id=FACILITY)
    assert post(token_client, form).status_code == 200


def test_repeated_parameters_and_non_form_bodies_are_invalid_request(
    token_client: TestClient, facility: Facility
) -> None:
    form = token_form(good_assertion(facility))
    body = "&".join(f"{k}={v}" for k, v in form.items()) + "&scope=system/*.rs"
    response = token_client.post(
        "/auth/token",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(response, "invalid_request")
    assert_error(token_client.post("/auth/token", json=form), "invalid_request")
    big = {**form, "padding": "x" * 70_000}
    assert_error(post(token_client, big), "invalid_request")


def test_with_a_configured_base_url_only_that_token_url_is_an_audience(
    tmp_path: Path, database_url: str
) -> None:
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, base_url="https://ehr.example.gov.vn/fhir"
    )
    app = create_app(settings)
    if not any(getattr(r, "path", None) == "/auth/token" for r in app.routes):
        app.router.routes[:0] = auth_router().routes
    key = ec_key()
    admin = auth_of(app).mint(subject="admin", role="admin", scopes="system/*.cruds")
    try:
        with TestClient(app, base_url="http://internal:8000") as client:
            created = client.post(
                "/fhir/Organization",
                json=organization("01001", [jwk(key)]),
                headers={"Authorization": f"Bearer {admin}"},
            )
            assert created.status_code == 201, created.text
            as_reached = assertion_claims("01001", aud="http://internal:8000/auth/token")
            response = post(client, token_form(sign(as_reached, key, "ES256")))
            assert_error(response, "invalid_client")
            public = assertion_claims("01001", aud="https://ehr.example.gov.vn/auth/token")
            assert post(client, token_form(sign(public, key, "ES256"))).status_code == 200
    finally:
        app.state.services.engine.dispose()


def test_the_token_endpoint_is_rate_limited_per_caller(app, token_client) -> None:  # type: ignore[no-untyped-def]
    app.state.services.limiter.per_minute = 2
    app.state.services.limiter._buckets.clear()
    form = {"grant_type": "client_credentials"}
    statuses = [token_client.post("/auth/token", data=form).status_code for _ in range(3)]
    assert all(status in (400, 401) for status in statuses[:2]), statuses
    assert statuses[2] == 429
    limited = token_client.post("/auth/token", data=form)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"] == "invalid_request"
    assert limited.headers["Cache-Control"] == "no-store"
