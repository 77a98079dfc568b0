"""``AuthService.authenticate``: every way a bearer token can be wrong ends in 401.

Tokens are crafted with the service's own private key where the point is a claim, and by
hand where a library would refuse to make them (``alg: none``, HS256 keyed with the
public key).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from auth_helpers import (
    assert_invalid_token,
    b64,
    b64json,
    ec_key,
    hs256,
    own_claims,
    own_private,
    own_token,
    public_pem,
    refused,
    sign,
    tampered,
    unsigned,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ehr.auth.service import AuthService
from ehr.errors import Unauthorized

CCCD = "001090012345"


@pytest.mark.parametrize(
    "role, fields",
    [
        ("facility", {"facility": "01001"}),
        ("ministry", {}),
        ("patient", {"cccd": CCCD}),
        ("admin", {}),
    ],
)
def test_minted_tokens_authenticate_with_their_fields(
    service: AuthService, role: str, fields: dict[str, str]
) -> None:
    token = service.mint(subject="s-1", role=role, scopes="system/*.rs", **fields)  # type: ignore[arg-type]
    principal = service.authenticate(f"Bearer {token}")
    assert principal.role == role and principal.subject == "s-1"
    assert principal.scopes == ("system/*.rs",)
    assert principal.facility == fields.get("facility")
    assert principal.cccd == fields.get("cccd")
    assert principal.token_id


def test_break_glass_and_patient_claims_are_carried(service: AuthService) -> None:
    token = service.mint(
        subject="s",
        role="facility",
        scopes="system/*.rs",
        facility="01001",
        break_glass="unconscious patient in the emergency room",
    )
    assert service.authenticate(f"bearer {token}").break_glass.startswith("unconscious")
    token = service.mint(subject="p", role="patient", scopes="patient/*.rs", patient="pat-1")
    assert service.authenticate(f"Bearer {token}").patient == "pat-1"


@pytest.mark.parametrize("header", [None, "", "   ", "Basic dXNlcjpwYXNz", "Token abc"])
def test_no_bearer_token_is_401_with_a_bare_challenge(
    service: AuthService, header: str | None
) -> None:
    error = refused(service, header)
    assert error.headers == {"WWW-Authenticate": 'Bearer realm="ehr"'}


def test_an_empty_bearer_token_is_invalid(service: AuthService) -> None:
    error = refused(service, "Bearer ")
    assert 'error="invalid_token"' in error.headers["WWW-Authenticate"]


def test_expired_token(service: AuthService) -> None:
    past = int(time.time()) - 3600
    challenge = assert_invalid_token(service, own_token(service, iat=past - 300, exp=past))
    assert "expired" in challenge


def test_wrong_audience_and_wrong_issuer(service: AuthService) -> None:
    assert "audience" in assert_invalid_token(service, own_token(service, aud="urn:other"))
    assert_invalid_token(service, own_token(service, aud=["urn:other", "urn:else"]))
    assert "issuer" in assert_invalid_token(service, own_token(service, iss="urn:someone-else"))


def test_a_token_listing_our_audience_among_others_is_accepted(service: AuthService) -> None:
    token = own_token(service, aud=["urn:other", "urn:ehr:fhir"])
    assert service.authenticate(f"Bearer {token}").facility == "01001"


def test_signed_by_an_unknown_key_with_our_kid(service: AuthService) -> None:
    stranger = ec_key()
    token = sign(own_claims(), stranger, "ES256", kid=service.signing_keys[-1].kid)
    assert "signature" in assert_invalid_token(service, token)


def test_unknown_kid_and_missing_kid(service: AuthService) -> None:
    stranger = ec_key()
    assert "unknown key" in assert_invalid_token(service, sign(own_claims(), stranger, "ES256"))
    token = own_token(service)
    _, payload, signature = token.split(".")
    no_kid = f"{b64json({'alg': 'ES256', 'typ': 'JWT'})}.{payload}.{signature}"
    assert "kid" in assert_invalid_token(service, no_kid)


def test_alg_none_is_refused(service: AuthService) -> None:
    token = unsigned(own_claims(), service.signing_keys[-1].kid)
    assert "not accepted" in assert_invalid_token(service, token)


def test_hs256_keyed_with_the_public_key_is_refused(service: AuthService) -> None:
    kid = service.signing_keys[-1].kid
    public = own_private(service)
    for secret in (
        public_pem(public),
        json.dumps(service.jwks()["keys"][0]).encode(),
        service.signing_keys[-1].private_pem,
    ):
        assert "not accepted" in assert_invalid_token(service, hs256(own_claims(), secret, kid))


def test_a_tampered_payload_is_refused(service: AuthService) -> None:
    token = service.mint(subject="s", role="facility", scopes="system/*.rs", facility="01001")
    for change in ({"facility": "99999"}, {"role": "admin"}, {"scope": "system/*.cruds"}):
        assert "signature" in assert_invalid_token(service, tampered(token, **change))


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub", "jti"])
def test_a_token_missing_a_required_claim_is_refused(service: AuthService, claim: str) -> None:
    assert_invalid_token(service, own_token(service, **{claim: None}))


def test_timestamps_must_be_numbers_and_not_in_the_future(service: AuthService) -> None:
    assert_invalid_token(service, own_token(service, exp=str(int(time.time()) + 100)))
    assert_invalid_token(service, own_token(service, iat=True))
    assert "future" in assert_invalid_token(service, own_token(service, iat=time.time() + 3600))
    assert_invalid_token(service, own_token(service, nbf=time.time() + 3600))


@pytest.mark.parametrize(
    "changes",
    [
        {"role": "superuser"},
        {"role": None},
        {"facility": None},
        {"scope": "system/*.everything"},
        {"scope": ["system/*.rs"]},
        {"role": "patient", "facility": None},
        {"role": "patient", "cccd": "12345"},
    ],
)
def test_role_claims_must_make_sense(service: AuthService, changes: dict[str, Any]) -> None:
    assert_invalid_token(service, own_token(service, **changes))


def test_garbage_is_refused(service: AuthService) -> None:
    for token in ("abc", "a.b", "a.b.c.d", "!!!.???.***", "e30.e30.", "x" * 20000):
        assert_invalid_token(service, token)


def test_error_descriptions_are_safe_header_text(service: AuthService) -> None:
    challenge = assert_invalid_token(service, unsigned(own_claims(), 'a"b'))
    description = challenge.split('error_description="', 1)[1]
    assert description.endswith('"') and '"' not in description[:-1]


def test_mint_refuses_fields_that_would_not_authenticate(service: AuthService) -> None:
    with pytest.raises(ValueError):
        service.mint(subject="s", role="facility", scopes="system/*.rs")
    with pytest.raises(ValueError):
        service.mint(subject="s", role="patient", scopes="patient/*.rs")
    with pytest.raises(ValueError):
        service.mint(subject="s", role="admin", scopes="system/*.all")
    with pytest.raises(ValueError):
        service.mint(subject="s", role="admin", scopes="system/*.rs", lifetime_s=0)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "jku"]), st.text(max_size=8) | st.integers()
    ),
    payload=st.binary(max_size=64) | st.builds(lambda: json.dumps(own_claims()).encode()),
    signature=st.binary(max_size=140),
)
def test_any_crafted_token_is_401_and_nothing_else(
    service: AuthService, header: dict, payload: bytes, signature: bytes
) -> None:
    for algorithm in ("ES256", "RS256", None):
        forged = dict(header)
        if algorithm:
            forged.update(alg=algorithm, kid=service.signing_keys[-1].kid)
        token = f"{b64json(forged)}.{b64(payload)}.{b64(signature)}"
        assert_invalid_token(service, token)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=200))
def test_any_authorization_header_is_401_and_nothing_else(service: AuthService, text: str) -> None:
    with pytest.raises(Unauthorized):
        service.authenticate(text)
    with pytest.raises(Unauthorized):
        service.authenticate(f"Bearer {text}")


def test_deeply_nested_json_is_refused(service: AuthService) -> None:
    nested = "[" * 5000 + "]" * 5000
    token = f"{b64json({'alg': 'ES256'})}.{b64(nested.encode())}.{b64(b'x')}"
    assert_invalid_token(service, token)
