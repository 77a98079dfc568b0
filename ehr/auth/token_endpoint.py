"""The OAuth token endpoint's logic: a client-credentials grant for a registered facility.

Steps, in an order chosen so that nothing is revealed to a caller who has not proved who it
is: parameters, then the claimed client and its registration, then the assertion's
signature and claims; only then the scope check (a stranger must not learn a facility's
scope policy by probing), the ``jti`` replay check, and the token. Everything runs in one
unit of work, so the ``jti`` is recorded if and only if a token is issued.

Scopes: the client must ask for scopes (``scope`` is required by SMART Backend Services);
each must lie within the facility's registered policy, else ``invalid_scope`` names what
was too wide. The grant is the request narrowed to the policy, in canonical v2 form.
Tokens live at most five minutes and come without a refresh token.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlmodel import Session

from ehr.auth.assertions import (
    ASSERTION_TYPE,
    OAuthError,
    claimed_client,
    purge_now_and_then,
    record_jti,
    verify_assertion,
)
from ehr.auth.clients import lookup_client
from ehr.auth.scopes import ScopeError, exceeding, format_scopes, narrow, parse_scopes
from ehr.auth.service import AuthService
from ehr.search.query import ParamRegistry

MAX_TOKEN_LIFETIME_S = 300


@dataclass(frozen=True)
class TokenGrant:
    """A successful token response (RFC 6749 section 5.1)."""

    access_token: str
    expires_in: int
    scope: str

    def body(self) -> dict[str, str | int]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


def grant_client_credentials(
    session: Session,
    registry: ParamRegistry,
    auth: AuthService,
    form: Sequence[tuple[str, str]],
    audiences: Collection[str],
    *,
    lifetime_s: int = MAX_TOKEN_LIFETIME_S,
    now: float | None = None,
) -> TokenGrant:
    """Issue a facility token for the form of a token request, or raise ``OAuthError``.

    ``audiences`` are the URLs of this token endpoint an assertion's ``aud`` may name.
    """
    params = _single(form)
    grant_type = params.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type", "only client_credentials is supported")
    assertion_type, assertion = params.get("client_assertion_type"), params.get("client_assertion")
    if not assertion_type or not assertion:
        raise OAuthError("invalid_client", "client authentication (a client assertion) required")
    if assertion_type != ASSERTION_TYPE:
        raise OAuthError("invalid_client", f"client_assertion_type must be {ASSERTION_TYPE}")
    scope_text = params.get("scope", "")
    if not scope_text.strip():
        raise OAuthError("invalid_scope", "scope is required")
    try:
        requested = parse_scopes(scope_text)
    except ScopeError as exc:
        raise OAuthError("invalid_scope", str(exc)) from exc

    client_id = claimed_client(assertion)
    if params.get("client_id") not in (None, client_id):
        raise OAuthError("invalid_client", "client_id does not match the client assertion")
    client = lookup_client(session, registry, client_id)
    if client is None:
        raise OAuthError("invalid_client", "unknown client")
    if not client.active:
        raise OAuthError("invalid_client", "the client is not active")
    claims = verify_assertion(assertion, client, audiences, now=now)

    too_wide = exceeding(requested, client.scope_policy)
    if too_wide:
        raise OAuthError(
            "invalid_scope", f"not within the client's policy: {format_scopes(too_wide)}"
        )
    purge_now_and_then(session)
    record_jti(session, client.client_id, claims["jti"], claims["exp"])
    granted = format_scopes(narrow(requested, client.scope_policy))
    lifetime = max(1, min(lifetime_s, MAX_TOKEN_LIFETIME_S))
    token = auth.mint(
        subject=client.client_id,
        role="facility",
        scopes=granted,
        facility=client.client_id,
        client_id=client.client_id,
        lifetime_s=lifetime,
        now=now,
    )
    return TokenGrant(access_token=token, expires_in=lifetime, scope=granted)


def _single(form: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The parameters as a dict; RFC 6749 section 3.2 forbids repeating one."""
    params: dict[str, str] = {}
    for name, value in form:
        if name in params:
            raise OAuthError("invalid_request", f"parameter {name[:40]} is repeated")
        params[name] = value
    return params
