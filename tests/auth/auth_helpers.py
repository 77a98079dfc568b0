"""Keys, tokens and registry entries for the authorization tests, built by hand.

Test keys are generated here with ``cryptography`` (RSA 2048, EC P-256/P-384); tokens the
service must refuse are crafted directly (``alg: none``, HS256 keyed with the public key),
since a well-behaved library may refuse to make them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives import serialization as _serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from jose import jwt

from ehr.auth.keys import public_jwk, thumbprint
from ehr.auth.service import AuthService
from ehr.errors import Unauthorized

FACILITY_CODE = "http://fhir.hl7.org.vn/core/sid/facility-code"
JWKS_EXTENSION = "http://fhir.hl7.org.vn/core/StructureDefinition/jwks"
SCOPE_POLICY_EXTENSION = "http://fhir.hl7.org.vn/core/StructureDefinition/scope-policy"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_URL = "http://testserver/auth/token"
FACILITY = "01001"
"""The facility registered by the ``facility`` fixture, with policy ``POLICY``."""
POLICY = "system/*.rs system/Encounter.cud system/Observation.cud"
IDP = "https://id.example.gov.vn"
"""The trusted identity provider of the tests."""

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def jwk(key: PrivateKey, **extra: Any) -> dict[str, Any]:
    """The public JWK of ``key`` with ``kid`` = its thumbprint (unless given)."""
    public = public_jwk(key.public_key())
    return {**public, "kid": thumbprint(public), **extra}


def kid_of(key: PrivateKey) -> str:
    return thumbprint(public_jwk(key.public_key()))


def sign(claims: dict[str, Any], key: PrivateKey, algorithm: str, kid: str | None = None) -> str:
    """A JWT signed by ``key``; ``kid`` defaults to the key's thumbprint."""
    headers = {"kid": kid if kid is not None else kid_of(key)}
    return jwt.encode(claims, pem(key), algorithm=algorithm, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: object) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def unsigned(claims: dict[str, Any], kid: str) -> str:
    """An ``alg: none`` token (empty signature)."""
    return f"{b64json({'alg': 'none', 'kid': kid, 'typ': 'JWT'})}.{b64json(claims)}."


def hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """An HS256 token with ``secret`` as the HMAC key, crafted by hand."""
    signing_input = f"{b64json({'alg': 'HS256', 'kid': kid, 'typ': 'JWT'})}.{b64json(claims)}"
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def tampered(token: str, **changes: Any) -> str:
    """``token`` with its payload changed and the original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{b64json(claims)}.{signature}"


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def organization(
    code: str,
    keys: list[dict[str, Any]] | None,
    *,
    policy: str | None = None,
    active: bool | None = True,
    jwks_text: str | None = None,
) -> dict[str, Any]:
    """A facility ``Organization`` as the registry writes it."""
    extensions = []
    if keys is not None or jwks_text is not None:
        text = jwks_text if jwks_text is not None else json.dumps({"keys": keys})
        extensions.append({"url": JWKS_EXTENSION, "valueString": text})
    if policy is not None:
        extensions.append({"url": SCOPE_POLICY_EXTENSION, "valueString": policy})
    resource: dict[str, Any] = {
        "resourceType": "Organization",
        "identifier": [{"system": FACILITY_CODE, "value": code}],
        "name": f"Facility {code}",
    }
    if active is not None:
        resource["active"] = active
    if extensions:
        resource["extension"] = extensions
    return resource


def assertion_claims(client_id: str, *, aud: str = TOKEN_URL, exp_in: int = 240) -> dict:
    now = int(time.time())
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": now + exp_in,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }


def token_form(assertion: str, scope: str | None = "system/*.rs", **extra: str) -> dict:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    if scope is not None:
        form["scope"] = scope
    form.update(extra)
    return form


def own_private(service: AuthService) -> Any:
    key = service.signing_keys[-1]
    return _serialization.load_pem_private_key(key.private_pem, password=None)


def own_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "urn:ehr:exchange",
        "aud": "urn:ehr:fhir",
        "sub": "01001",
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "role": "facility",
        "facility": "01001",
        "scope": "system/*.cruds",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def own_token(service: AuthService, **changes: Any) -> str:
    return sign(own_claims(**changes), own_private(service), "ES256", service.signing_keys[-1].kid)


def refused(service: AuthService, header: str | None) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        service.authenticate(header)
    assert caught.value.status == 401
    return caught.value


def assert_invalid_token(service: AuthService, token: str) -> str:
    error = refused(service, f"Bearer {token}")
    challenge = error.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="ehr", error="invalid_token", error_description="')
    return challenge


def post(client: TestClient, form: dict[str, str]) -> Any:
    return client.post("/auth/token", data=form)


def good_assertion(facility: Any, **changes: Any) -> str:
    claims = {**assertion_claims(facility.code), **changes}
    return sign({k: v for k, v in claims.items() if v is not None}, facility.ec, "ES256")


def assert_error(response: Any, error: str) -> dict:
    status = 401 if error == "invalid_client" else 400
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error and body["error_description"]
    assert set(body) == {"error", "error_description"}
    return body


@dataclass
class Facility:
    """A registered facility and its two private keys (RSA pinned to RS384, EC P-256)."""

    code: str
    rsa: Any
    ec: Any


def auth_of(app: Any) -> AuthService:
    """The ``AuthService`` of the app under test."""
    service = getattr(app.state.services, "auth", None)
    return service or AuthService.from_settings(app.state.services.settings)
