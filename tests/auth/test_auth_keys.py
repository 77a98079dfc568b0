"""Signing keys on disk, JWK handling and the published JWKS (``ehr.auth.keys``)."""

from __future__ import annotations

import base64
import json
import re
import stat
from pathlib import Path

import pytest
from auth_helpers import ec_key, jwk, rsa_key
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ehr.auth.keys import (
    InvalidKey,
    create_signing_key,
    key_set,
    load_signing_keys,
    public_key_of,
    thumbprint,
)
from ehr.auth.service import AuthService
from ehr.config import Settings

PACKAGE = Path(__file__).resolve().parents[2] / "ehr"


def test_thumbprint_matches_rfc_7638_example() -> None:
    example = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
        "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
        "65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qN"
        "Lyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awa"
        "pJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert thumbprint(example) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_first_start_creates_one_private_key_readable_only_by_the_owner(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    keys = load_signing_keys(directory)
    files = list(directory.glob("signing-*.pem"))
    assert len(keys) == 1 and len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert keys[0].algorithm == "ES256"
    assert keys[0].kid == thumbprint(keys[0].public.jwk)
    again = load_signing_keys(directory)
    assert [k.kid for k in again] == [keys[0].kid]


def test_rotation_keeps_old_keys_in_the_jwks_and_the_newest_signs(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    before = AuthService.from_settings(settings)
    old_token = before.mint(subject="a", role="admin", scopes="system/*.cruds")
    new_key = create_signing_key(settings.key_dir())
    after = AuthService.from_settings(settings)
    kids = [key["kid"] for key in after.jwks()["keys"]]
    assert kids[0] == new_key.kid and len(kids) == 2
    assert after.authenticate(f"Bearer {old_token}").subject == "a"
    fresh = after.mint(subject="b", role="admin", scopes="system/*.cruds")
    header = json.loads(_b64decode(fresh.split(".")[0]))
    assert header["kid"] == new_key.kid


def test_published_jwks_holds_public_keys_only(tmp_path: Path) -> None:
    service = AuthService.from_settings(Settings(data_dir=tmp_path))
    (key,) = service.jwks()["keys"]
    assert set(key) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert key["kid"] == thumbprint(key) and key["use"] == "sig"


def test_an_existing_rsa_key_file_signs_with_rs256(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    directory.mkdir()
    private = rsa_key()
    path = directory / "signing-20200101T000000.000000000Z-x.pem"
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    (key,) = load_signing_keys(directory)
    assert key.algorithm == "RS256"


def test_key_sets_take_supported_public_keys_and_ignore_private_parts() -> None:
    private = ec_key()
    with_private = {**jwk(private), "d": "AAAA"}
    keys = key_set({"keys": [with_private, jwk(rsa_key())]})
    assert len(keys) == 2
    assert "d" not in keys.get(with_private["kid"]).jwk


@pytest.mark.parametrize(
    "entry",
    [
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"},
        {"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"},
    ],
)
def test_unsupported_keys_are_refused(entry: dict) -> None:
    with pytest.raises(InvalidKey):
        public_key_of(entry)
    assert len(key_set({"keys": [entry]})) == 0


def test_small_rsa_keys_and_mismatched_algorithms_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(InvalidKey):
        public_key_of(jwk(small))
    with pytest.raises(InvalidKey):
        public_key_of(jwk(ec_key(), alg="RS256"))
    with pytest.raises(InvalidKey):
        public_key_of(jwk(ec_key(), alg="HS256"))
    assert public_key_of(jwk(ec_key(ec.SECP384R1()))).algorithms == ("ES384",)
    assert public_key_of(jwk(rsa_key(), alg="RS384")).algorithms == ("RS384",)


def test_an_ec_point_off_the_curve_is_refused() -> None:
    good = jwk(ec_key())
    with pytest.raises(InvalidKey):
        public_key_of({**good, "y": good["x"]})


def test_a_jwks_with_two_keys_under_one_kid_is_refused() -> None:
    with pytest.raises(InvalidKey):
        key_set({"keys": [jwk(ec_key(), kid="k"), jwk(ec_key(), kid="k")]})
    with pytest.raises(InvalidKey):
        key_set([jwk(ec_key())])


def test_only_the_tokens_module_imports_python_jose() -> None:
    importing = {
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"^\s*(from|import) jose\b", path.read_text(encoding="utf-8"), re.M)
    }
    assert importing == {"ehr/auth/tokens.py"}


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
