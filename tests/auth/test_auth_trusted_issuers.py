"""Tokens of trusted external issuers (the national identity provider): patients only.

Such a token is trusted to say who the person is (``sub`` and the ``cccd`` claim), never
what they may do: role and scopes come from the configuration.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import (
    IDP,
    assert_invalid_token,
    ec_key,
    hs256,
    jwk,
    own_claims,
    public_pem,
    rsa_key,
    sign,
)

from ehr.auth.service import AuthService
from ehr.config import Settings

CCCD = "001090012345"


def test_an_rsa_public_key_as_hmac_secret_is_refused_for_trusted_issuers(
    service: AuthService, idp_key: Any
) -> None:
    claims = {**own_claims(), "iss": IDP, "cccd": CCCD}
    token = hs256(claims, public_pem(idp_key), jwk(idp_key)["kid"])
    assert_invalid_token(service, token)


def idp_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": IDP,
        "aud": "urn:ehr:fhir",
        "sub": "citizen-42",
        "iat": now,
        "exp": now + 600,
        "cccd": CCCD,
        "scope": "openid profile",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_a_trusted_issuer_signs_patients_in_by_cccd(service: AuthService, idp_key: Any) -> None:
    principal = service.authenticate(f"Bearer {sign(idp_claims(), idp_key, 'RS256')}")
    assert principal.role == "patient" and principal.cccd == CCCD
    assert principal.subject == "citizen-42" and principal.scopes == ("patient/*.rs",)


def test_a_trusted_issuer_cannot_widen_its_access(service: AuthService, idp_key: Any) -> None:
    claims = idp_claims(
        role="admin",
        facility="01001",
        break_glass="because",
        patient="someone-else",
        scope="system/*.cruds patient/Observation.cruds",
    )
    principal = service.authenticate(f"Bearer {sign(claims, idp_key, 'RS256')}")
    assert principal.role == "patient"
    assert principal.facility is None and principal.break_glass is None
    assert principal.patient is None
    assert principal.scopes == ("patient/Observation.rs",)


def test_trusted_issuer_tokens_are_checked_like_ours(service: AuthService, idp_key: Any) -> None:
    assert_invalid_token(service, sign(idp_claims(cccd=None), idp_key, "RS256"))
    assert_invalid_token(service, sign(idp_claims(cccd="0010900123"), idp_key, "RS256"))
    assert_invalid_token(service, sign(idp_claims(aud="urn:other"), idp_key, "RS256"))
    assert_invalid_token(service, sign(idp_claims(exp=int(time.time()) - 600), idp_key, "RS256"))
    assert_invalid_token(service, sign(idp_claims(), idp_key, "RS384"))  # key pinned to RS256
    assert_invalid_token(service, sign(idp_claims(), rsa_key(), "RS256", kid=jwk(idp_key)["kid"]))
    assert_invalid_token(service, sign(idp_claims(iss="https://evil.example"), idp_key, "RS256"))


def test_a_trusted_issuer_cannot_be_configured_as_another_role(tmp_path: Path) -> None:
    trusted = {IDP: {"jwks": {"keys": [jwk(ec_key())]}, "role": "admin"}}
    with pytest.raises(ValueError):
        AuthService.from_settings(Settings(data_dir=tmp_path, trusted_issuers=json.dumps(trusted)))
    with pytest.raises(ValueError):
        AuthService.from_settings(Settings(data_dir=tmp_path, trusted_issuers="{not json"))
    same = {"urn:ehr:exchange": {"jwks": {"keys": [jwk(ec_key())]}}}
    with pytest.raises(ValueError):
        AuthService.from_settings(Settings(data_dir=tmp_path, trusted_issuers=json.dumps(same)))


def test_trusted_issuer_keys_can_come_from_a_file(tmp_path: Path) -> None:
    key = ec_key()
    path = tmp_path / "idp.jwks.json"
    path.write_text(json.dumps({"keys": [jwk(key)]}))
    trusted = {IDP: {"jwks_path": str(path), "audience": "urn:portal"}}
    service = AuthService.from_settings(
        Settings(data_dir=tmp_path, trusted_issuers=json.dumps(trusted))
    )
    token = sign(idp_claims(aud="urn:portal"), key, "ES256")
    assert service.authenticate(f"Bearer {token}").cccd == CCCD
