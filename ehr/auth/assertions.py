"""Client assertions (``private_key_jwt``, RFC 7523) of SMART Backend Services clients.

A facility authenticates to ``/auth/token`` with a JWT it signed with one of its registered
keys: ``iss`` = ``sub`` = its client id, ``aud`` = our token URL, ``exp`` at most five
minutes ahead, and a ``jti`` it never used before
(https://hl7.org/fhir/smart-app-launch/backend-services.html). A captured assertion must
not buy a second token: every ``jti`` is stored (as a hash, namespaced by client) in
``used_assertion`` in the same transaction that issues the token, so a second use - even a
concurrent one - hits the primary key and is refused. Rows are kept until the assertion
could no longer pass the ``exp`` check anyway, then purged.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from ehr.auth.clients import RegisteredClient
from ehr.auth.tokens import CLOCK_SKEW_S, InvalidToken, unverified, verify
from ehr.db.schema import UsedAssertion

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME_S = 300
MAX_JTI_LENGTH = 256
PURGE_EVERY_S = 60.0
"""How often (per process) expired ``used_assertion`` rows are deleted."""
_USED = UsedAssertion.__table__  # type: ignore[attr-defined]
_last_purge = 0.0


@dataclass
class OAuthError(Exception):
    """An RFC 6749 section 5.2 error response of the token endpoint."""

    error: str
    description: str

    def __post_init__(self) -> None:
        super().__init__(f"{self.error}: {self.description}")

    @property
    def status(self) -> int:
        return 401 if self.error == "invalid_client" else 400

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def claimed_client(assertion: str) -> str:
    """The client id an assertion claims to come from (``iss``, which must equal ``sub``).

    Unverified: only to find the client whose keys then verify the assertion.
    """
    try:
        _, claims = unverified(assertion)
    except InvalidToken as exc:
        raise OAuthError("invalid_client", f"malformed client assertion: {exc}") from exc
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not isinstance(issuer, str) or not issuer:
        raise OAuthError("invalid_client", "the client assertion has no iss")
    if issuer != subject:
        raise OAuthError("invalid_client", "the client assertion's iss and sub differ")
    return issuer


def verify_assertion(
    assertion: str,
    client: RegisteredClient,
    audiences: Collection[str],
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """The verified claims of ``client``'s assertion, or ``OAuthError(invalid_client)``."""
    moment = time.time() if now is None else now
    try:
        claims = verify(
            assertion,
            client.keys,
            issuer=client.client_id,
            audiences=audiences,
            required=("iss", "sub", "aud", "exp", "jti"),
            now=moment,
        )
    except InvalidToken as exc:
        raise OAuthError("invalid_client", f"client assertion rejected: {exc}") from exc
    if claims.get("sub") != client.client_id:
        raise OAuthError("invalid_client", "the client assertion's sub is not the client")
    if claims["exp"] > moment + MAX_ASSERTION_LIFETIME_S + CLOCK_SKEW_S:
        raise OAuthError(
            "invalid_client",
            f"the client assertion's exp is more than {MAX_ASSERTION_LIFETIME_S} s ahead",
        )
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise OAuthError("invalid_client", "the client assertion's jti is not a valid string")
    return claims


def record_jti(session: Session, client_id: str, jti: str, exp: float) -> None:
    """Remember ``jti`` until ``exp`` (plus clock skew); ``invalid_client`` if already used.

    Runs in the token request's unit of work: the row commits with the token issue, and a
    replay (or a concurrent duplicate) fails on the primary key.
    """
    digest = hashlib.sha256(f"{client_id}\n{jti}".encode()).hexdigest()
    expires_us = int((exp + CLOCK_SKEW_S) * 1_000_000)
    try:
        session.execute(
            insert(_USED).values(jti_hash=digest, client_id=client_id, expires_at=expires_us)
        )
    except IntegrityError as exc:
        raise OAuthError("invalid_client", "the client assertion was already used") from exc


def purge_used(session: Session, *, now: float | None = None) -> int:
    """Delete the ``used_assertion`` rows whose assertions have expired; how many went."""
    moment_us = int((time.time() if now is None else now) * 1_000_000)
    result = session.execute(delete(_USED).where(_USED.c.expires_at < moment_us))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def purge_now_and_then(session: Session) -> None:
    """``purge_used`` at most every ``PURGE_EVERY_S`` seconds per process."""
    global _last_purge
    moment = time.monotonic()
    if moment - _last_purge >= PURGE_EVERY_S:
        _last_purge = moment
        purge_used(session)
