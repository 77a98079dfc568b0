"""Signing and verifying JWTs: the only module that touches python-jose.

``verify`` is deliberately narrow. Before any cryptography runs it requires the header's
``alg`` to be one of ``ALGORITHMS`` (so ``none`` and every HMAC algorithm are refused), a
``kid`` naming a key of the given ``KeySet``, and that key to be of a type that uses that
algorithm. python-jose is then called with exactly that one algorithm and that one key.
The registered claims are checked here, not left to library defaults: ``iss`` equals the
expected issuer, ``aud`` (a string or a list) contains an accepted audience, ``exp`` is a
number in the future and ``iat`` a number not in the future (both within ``leeway``
seconds of clock skew), ``nbf`` if present is past, and ``required`` claims are present.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Collection, Mapping
from typing import Any

from jose import jwt
from jose.exceptions import JOSEError

from ehr.auth.keys import ALGORITHMS, KeySet, SigningKey

MAX_TOKEN_LENGTH = 16 * 1024
"""Longer "tokens" are refused before any parsing."""
REGISTERED = ("iss", "aud", "exp", "iat")
"""Claims every access token must carry."""
CLOCK_SKEW_S = 30
"""Seconds of clock difference tolerated on ``exp``, ``iat`` and ``nbf``."""


class InvalidToken(ValueError):
    """The token is not acceptable; the message says why (safe to show the client)."""


def sign(claims: Mapping[str, Any], key: SigningKey) -> str:
    """A compact JWS of ``claims`` signed by ``key`` (header ``alg``, ``kid``, ``typ``)."""
    headers = {"kid": key.kid, "typ": "JWT"}
    return jwt.encode(dict(claims), key.private_pem.decode("ascii"), key.algorithm, headers)


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of ``token`` WITHOUT checking anything; only to pick the key.

    Nothing read here may be trusted until ``verify`` has succeeded.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("the token is too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("the token is not a compact JWS")
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidToken("the token is not valid base64url JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken("the token header and payload must be JSON objects")
    return header, claims


def verify(
    token: str,
    keys: KeySet,
    *,
    issuer: str,
    audiences: Collection[str],
    required: Collection[str] = REGISTERED,
    leeway: int = CLOCK_SKEW_S,
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of ``token`` once its signature and registered claims check out.

    Raises ``InvalidToken`` for every failure, whatever its cause.
    """
    header, _ = unverified(token)
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise InvalidToken(f"algorithm {str(algorithm)[:20]!r} is not accepted")
    if "crit" in header:
        raise InvalidToken("critical header parameters are not supported")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("the token header has no kid")
    key = keys.get(kid)
    if key is None:
        raise InvalidToken("the token is signed by an unknown key")
    if algorithm not in key.algorithms:
        raise InvalidToken(f"algorithm {algorithm} does not fit the key {kid[:64]}")
    try:
        claims = jwt.decode(
            token,
            dict(key.jwk),
            algorithms=[algorithm],
            options={
                # Checked below, with our own rules; the signature is checked here.
                "verify_aud": False,
                "verify_iss": False,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_sub": False,
                "verify_jti": False,
                "verify_at_hash": False,
            },
        )
    except JOSEError as exc:
        raise InvalidToken("the token signature does not verify") from exc
    if not isinstance(claims, dict):
        raise InvalidToken("the token payload is not a JSON object")
    check_claims(
        claims, issuer=issuer, audiences=audiences, required=required, leeway=leeway, now=now
    )
    return claims


def check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audiences: Collection[str],
    required: Collection[str] = REGISTERED,
    leeway: int = CLOCK_SKEW_S,
    now: float | None = None,
) -> None:
    """Check the registered claims of verified ``claims`` (see the module docstring)."""
    moment = time.time() if now is None else now
    missing = [name for name in required if name not in claims]
    if missing:
        raise InvalidToken(f"the token lacks the {', '.join(missing)} claim")
    if claims.get("iss") != issuer:
        raise InvalidToken("the token issuer is not accepted")
    audience = claims.get("aud")
    given = [audience] if isinstance(audience, str) else audience
    if not isinstance(given, list) or not any(isinstance(a, str) and a in audiences for a in given):
        raise InvalidToken("the token audience is not this server")
    exp = _number(claims, "exp")
    if exp is not None and exp <= moment - leeway:
        raise InvalidToken("the token has expired")
    iat = _number(claims, "iat")
    if iat is not None and iat > moment + leeway:
        raise InvalidToken("the token is issued in the future")
    nbf = _number(claims, "nbf")
    if nbf is not None and nbf > moment + leeway:
        raise InvalidToken("the token is not valid yet")


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"the {name} claim is not a number")
    return float(value)


def _unb64(text: str) -> bytes:
    if not text or any(c not in _B64URL for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
