"""``AuthService``: the one object the app uses to authenticate callers and sign tokens.

Built once per process (``AuthService.from_settings``): it loads the service's signing keys
(creating the first one on first start) and the trusted external issuers. It holds no
database state, so ``authenticate`` is pure computation and can run before a request's
body is even read.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from ehr.auth.claims import own_claims, principal_from_own, principal_from_trusted
from ehr.auth.keys import KeySet, SigningKey, load_signing_keys
from ehr.auth.principal import Principal, Role
from ehr.auth.scopes import Scope, format_scopes
from ehr.auth.token_cache import TokenCache, Verified
from ehr.auth.tokens import CLOCK_SKEW_S, REGISTERED, InvalidToken, sign, unverified, verify
from ehr.auth.trusted import TrustedIssuer, load_trusted_issuers
from ehr.config import Settings
from ehr.errors import Unauthorized

REALM = "ehr"
_UNSAFE = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
"""Characters RFC 6750 forbids in ``error_description``."""


class AuthService:
    """Verifies access tokens (ours and trusted issuers') and signs ours."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        signing_keys: list[SigningKey],
        trusted: Mapping[str, TrustedIssuer] | None = None,
        default_lifetime_s: int = 300,
    ) -> None:
        if not signing_keys:
            raise ValueError("the service needs at least one signing key")
        self.issuer = issuer
        self.audience = audience
        self.signing_keys = list(signing_keys)
        self.trusted = dict(trusted or {})
        self.default_lifetime_s = default_lifetime_s
        self._own_keys = KeySet({key.kid: key.public for key in self.signing_keys})
        self._verified = TokenCache()

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthService:
        """Keys from ``settings.key_dir()`` (made on first start) and the trusted issuers."""
        return cls(
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            signing_keys=load_signing_keys(settings.key_dir()),
            trusted=load_trusted_issuers(
                settings.trusted_issuers,
                own_issuer=settings.token_issuer,
                default_audience=settings.token_audience,
            ),
            default_lifetime_s=settings.access_token_lifetime_s,
        )

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller named by an ``Authorization`` header, or ``Unauthorized`` (401).

        No header, or a scheme other than Bearer, is "no credentials": the challenge then
        carries no error code (RFC 6750 section 3.1). Any problem with a bearer token is
        ``invalid_token`` with a description of what was wrong.
        """
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized(
                "authentication required: send an access token as 'Authorization: Bearer ...'",
                headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
            )
        try:
            return self.verify(token.strip())
        except InvalidToken as exc:
            description = _UNSAFE.sub("?", str(exc))
            raise Unauthorized(
                f"invalid access token: {exc}",
                headers={
                    "WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token", '
                    f'error_description="{description}"'
                },
            ) from exc

    def verify(self, token: str) -> Principal:
        """The caller of an access token; ``InvalidToken`` if it is not acceptable.

        A token verified before is not verified again while it is valid
        (``ehr.auth.token_cache``): its claims are checked against the clock instead.
        """
        if not token:
            raise InvalidToken("the bearer token is empty")
        return self._verified.principal(token, self._verify_signed)

    def _verify_signed(self, token: str) -> Verified:
        """Signature, registered claims and the caller's claims, checked in full."""
        _, claims = unverified(token)
        issuer = claims.get("iss")
        if issuer == self.issuer:
            required: tuple[str, ...] = (*REGISTERED, "sub", "jti")
            verified = verify(
                token,
                self._own_keys,
                issuer=self.issuer,
                audiences=(self.audience,),
                required=required,
                leeway=CLOCK_SKEW_S,
            )
            principal = principal_from_own(verified)
            return Verified(principal, verified, self.issuer, (self.audience,), required)
        trusted = self.trusted.get(issuer) if isinstance(issuer, str) else None
        if trusted is None:
            raise InvalidToken("the token issuer is not accepted")
        required = (*REGISTERED, "sub")
        verified = verify(
            token,
            trusted.keys,
            issuer=trusted.issuer,
            audiences=(trusted.audience,),
            required=required,
            leeway=CLOCK_SKEW_S,
        )
        principal = principal_from_trusted(verified, trusted.role)
        return Verified(principal, verified, trusted.issuer, (trusted.audience,), required)

    def mint(
        self,
        *,
        subject: str,
        role: Role,
        scopes: str | Iterable[Scope | str],
        facility: str | None = None,
        cccd: str | None = None,
        patient: str | None = None,
        client_id: str | None = None,
        break_glass: str | None = None,
        lifetime_s: int | None = None,
        now: float | None = None,
    ) -> str:
        """An access token for these principal fields, signed with the newest key.

        ``lifetime_s`` defaults to ``Settings.access_token_lifetime_s``. Raises
        ``ValueError`` for fields that would not authenticate (a facility token without a
        facility, a malformed scope...).
        """
        lifetime = self.default_lifetime_s if lifetime_s is None else lifetime_s
        if lifetime <= 0:
            raise ValueError("the token lifetime must be positive")
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": issued,
            "exp": issued + lifetime,
            "jti": str(uuid.uuid4()),
            **own_claims(
                subject=subject,
                role=role,
                scopes=scopes if isinstance(scopes, str) else format_scopes(scopes),
                facility=facility,
                cccd=cccd,
                patient=patient,
                client_id=client_id,
                break_glass=break_glass,
            ),
        }
        return sign(claims, self.signing_keys[-1])

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public keys of the service, newest first, as a JWKS (for ``/auth/jwks``)."""
        return {
            "keys": [
                {**key.public.jwk, "use": "sig", "alg": key.algorithm}
                for key in reversed(self.signing_keys)
            ]
        }
