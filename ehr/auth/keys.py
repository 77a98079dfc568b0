"""Signing keys and public key sets: the service's own keys on disk, and JWKS from others.

The service signs its access tokens with a private key it creates on first start under
``Settings.key_dir()``: one PEM file per key, mode 0600, in a 0700 directory. Rotation is
adding a newer key file: the newest key (file names sort by creation time) signs, and
every key stays in the published JWKS (``/auth/jwks``) until an operator removes its file,
so tokens signed just before a rotation keep verifying. The ``kid`` of every key is its
RFC 7638 thumbprint, so it names the key itself and cannot collide by accident.

Only asymmetric keys with an algorithm from ``ALGORITHMS`` are ever accepted: RSA of at
least 2048 bits (RS256/RS384) and EC P-256/P-384 (ES256/ES384). A key can only be used with
the algorithms of its own type (``PublicKey.algorithms``), which is what makes
algorithm-confusion attacks (an RSA public key used as an HMAC secret) impossible.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ALGORITHMS = ("RS256", "RS384", "ES256", "ES384")
"""The only JWS algorithms accepted anywhere: asymmetric, no ``none``, no HMAC."""
MIN_RSA_BITS = 2048
_CURVES: dict[str, tuple[type[ec.EllipticCurve], str, int]] = {
    "P-256": (ec.SECP256R1, "ES256", 32),
    "P-384": (ec.SECP384R1, "ES384", 48),
}
_KEY_GLOB = "signing-*.pem"
log = logging.getLogger("ehr.auth")

PublicKeyType = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKeyType = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class InvalidKey(ValueError):
    """A key or key set is malformed or of an unsupported kind."""


@dataclass(frozen=True)
class PublicKey:
    """A verification key: its public JWK (with ``kid``) and the algorithms it may verify."""

    kid: str
    jwk: Mapping[str, Any]
    algorithms: tuple[str, ...]


@dataclass(frozen=True)
class SigningKey:
    """One of the service's own private keys."""

    kid: str
    algorithm: str
    private_pem: bytes = field(repr=False)
    public: PublicKey


@dataclass(frozen=True)
class KeySet:
    """Verification keys by ``kid``."""

    keys: Mapping[str, PublicKey] = field(default_factory=dict)

    def get(self, kid: str) -> PublicKey | None:
        return self.keys.get(kid)

    def __len__(self) -> int:
        return len(self.keys)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_int(value: int, length: int | None = None) -> str:
    size = length or max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(size, "big"))


def _unb64url_int(text: object) -> int:
    if not isinstance(text, str) or not text:
        raise InvalidKey("a key parameter is missing or not a string")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise InvalidKey("a key parameter is not base64url") from exc
    return int.from_bytes(raw, "big")


def public_jwk(key: PublicKeyType) -> dict[str, str]:
    """The RFC 7517 public JWK of ``key`` (required members only, no ``kid``)."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"kty": "RSA", "n": _b64url_int(numbers.n), "e": _b64url_int(numbers.e)}
    for crv, (curve, _alg, size) in _CURVES.items():
        if isinstance(key.curve, curve):
            point = key.public_numbers()
            return {
                "kty": "EC",
                "crv": crv,
                "x": _b64url_int(point.x, size),
                "y": _b64url_int(point.y, size),
            }
    raise InvalidKey(f"unsupported elliptic curve {key.curve.name}")


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of a public RSA or EC key."""
    members = ("e", "kty", "n") if jwk.get("kty") == "RSA" else ("crv", "kty", "x", "y")
    canonical = {name: jwk[name] for name in members}
    text = json.dumps(canonical, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(text.encode("utf-8")).digest())


def public_key_of(jwk: Mapping[str, Any]) -> PublicKey:
    """A verification key from a JWK; ``InvalidKey`` unless it is a supported public key.

    Private members (``d``...) are ignored: only the public numbers are read. The ``kid``
    is the JWK's own, or its thumbprint when it has none. A JWK ``alg`` restricts the key to
    that algorithm; ``use`` other than ``sig`` excludes it.
    """
    kty = jwk.get("kty")
    if jwk.get("use", "sig") != "sig":
        raise InvalidKey("not a signing key (use is not 'sig')")
    if kty == "RSA":
        n, e = _unb64url_int(jwk.get("n")), _unb64url_int(jwk.get("e"))
        if n.bit_length() < MIN_RSA_BITS:
            raise InvalidKey(f"RSA keys must have at least {MIN_RSA_BITS} bits")
        try:
            rsa.RSAPublicNumbers(e, n).public_key()
        except ValueError as exc:
            raise InvalidKey("not a valid RSA public key") from exc
        public = {"kty": "RSA", "n": jwk["n"], "e": jwk["e"]}
        algorithms: tuple[str, ...] = ("RS256", "RS384")
    elif kty == "EC" and jwk.get("crv") in _CURVES:
        curve, algorithm, _size = _CURVES[str(jwk["crv"])]
        x, y = _unb64url_int(jwk.get("x")), _unb64url_int(jwk.get("y"))
        try:
            ec.EllipticCurvePublicNumbers(x, y, curve()).public_key()
        except ValueError as exc:
            raise InvalidKey("the EC point is not on the curve") from exc
        public = {"kty": "EC", "crv": jwk["crv"], "x": jwk["x"], "y": jwk["y"]}
        algorithms = (algorithm,)
    else:
        raise InvalidKey(f"unsupported key type {kty!r} (RSA, EC P-256 or P-384 only)")
    declared = jwk.get("alg")
    if declared is not None:
        if declared not in algorithms:
            raise InvalidKey(f"algorithm {declared!r} does not fit this key")
        algorithms = (str(declared),)
    kid = jwk.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid):
        raise InvalidKey("kid must be a non-empty string")
    kid = kid or thumbprint(public)
    return PublicKey(
        kid=kid, jwk={**public, "kid": kid, "alg": algorithms[0]}, algorithms=algorithms
    )


def key_set(jwks: object) -> KeySet:
    """The supported keys of a JWKS (``{"keys": [...]}``); unsupported ones are skipped.

    A JWKS that is not an object with a ``keys`` list, or that names two keys with one
    ``kid``, raises ``InvalidKey``: which key verifies must never be ambiguous.
    """
    entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(entries, list):
        raise InvalidKey("a JWKS is an object with a 'keys' list")
    keys: dict[str, PublicKey] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise InvalidKey("a JWKS entry is not an object")
        try:
            key = public_key_of(entry)
        except InvalidKey as exc:
            log.warning("skipping a JWKS key: %s", exc)
            continue
        if key.kid in keys:
            raise InvalidKey(f"two keys with kid {key.kid!r}")
        keys[key.kid] = key
    return KeySet(keys)


def signing_key(private_pem: bytes) -> SigningKey:
    """A ``SigningKey`` from a PEM private key (RSA >= 2048 bits, EC P-256 or P-384)."""
    private = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise InvalidKey("signing keys must be RSA or EC")
    public = public_key_of(public_jwk(private.public_key()))
    algorithm = "RS256" if isinstance(private, rsa.RSAPrivateKey) else public.algorithms[0]
    return SigningKey(kid=public.kid, algorithm=algorithm, private_pem=private_pem, public=public)


def load_signing_keys(directory: Path, *, create: bool = True) -> list[SigningKey]:
    """The service's keys in ``directory``, oldest first (the last one signs).

    With none there and ``create``, one EC P-256 key is made (under a file lock, so that
    processes starting together make one key, not one each).
    """
    with _locked(directory):
        paths = sorted(directory.glob(_KEY_GLOB))
        if not paths and create:
            paths = [_write_new_key(directory)]
    keys = []
    for path in paths:
        if path.stat().st_mode & 0o077:
            log.warning("signing key %s is readable by group or others; chmod 600 it", path.name)
        keys.append(signing_key(path.read_bytes()))
    return keys


def create_signing_key(directory: Path) -> SigningKey:
    """Add a new newest key to ``directory`` (rotation): it signs from the next start on."""
    with _locked(directory):
        path = _write_new_key(directory)
    return signing_key(path.read_bytes())


def _write_new_key(directory: Path) -> Path:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    now_ns = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now_ns // 10**9))
    kid = thumbprint(public_jwk(private.public_key()))
    path = directory / f"signing-{stamp}.{now_ns % 10**9:09d}Z-{kid[:12]}.pem"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    return path


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on the key directory (made 0700 if missing) for the block."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)
