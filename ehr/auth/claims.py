"""Access-token claims to a ``Principal`` and back, for our own tokens and trusted issuers'.

Our tokens carry, besides the registered claims (``iss``, ``aud``, ``sub``, ``iat``,
``exp``, ``jti``): ``scope`` (space-separated SMART scopes), ``role``, and as the role needs
``facility``, ``cccd``, ``patient``, ``client_id`` and ``break_glass``.

A token from a trusted external issuer (the national identity provider) is trusted for one
thing only: who the person is. Its ``sub`` and its ``cccd`` claim (the 12-digit national ID,
required) are read; its role is the one configured for the issuer and its scopes are cut
to that role's defaults. Whatever else it claims (``role``, ``facility``, ``break_glass``,
a ``patient`` id) is ignored, so an outside issuer can never widen its own access.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from ehr.auth.principal import ROLES, Principal, Role
from ehr.auth.scopes import ScopeError, format_scopes, narrow, parse_scope, parse_scopes
from ehr.auth.tokens import InvalidToken

DEFAULT_SCOPES: dict[Role, str] = {
    "facility": "system/*.cruds",
    "ministry": "system/Measure.rs system/MeasureReport.rs system/Organization.rs"
    " system/Location.rs",
    "patient": "patient/*.rs",
    "admin": "system/*.cruds",
}
"""What each role is granted when nothing narrower is asked for."""
CCCD_CLAIM = "cccd"
"""The claim holding the national ID (CCCD) in patient tokens, ours and trusted issuers'."""
CCCD = re.compile(r"^[0-9]{12}$")
MAX_TEXT = 256
MAX_REASON = 1000


def principal_from_own(claims: Mapping[str, Any]) -> Principal:
    """The caller of a verified token that this service signed."""
    role = claims.get("role")
    if role not in ROLES:
        raise InvalidToken("the token has no valid role")
    role = cast(Role, role)
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise InvalidToken("the scope claim is not a string")
    try:
        scopes = parse_scopes(scope)
    except ScopeError as exc:
        raise InvalidToken(f"the token scope is malformed: {exc}") from exc
    facility = _text(claims, "facility", required=role == "facility")
    cccd = _cccd(claims, required=False)
    patient = _text(claims, "patient", required=False)
    if role == "patient" and not (cccd or patient):
        raise InvalidToken("a patient token names no person (cccd or patient)")
    return Principal(
        subject=_text(claims, "sub", required=True) or "",
        role=role,
        scopes=tuple(str(s) for s in scopes),
        facility=facility,
        cccd=cccd,
        patient=patient,
        client_id=_text(claims, "client_id", required=False),
        token_id=_text(claims, "jti", required=True),
        break_glass=_text(claims, "break_glass", required=False, limit=MAX_REASON),
        claims=dict(claims),
    )


def principal_from_trusted(claims: Mapping[str, Any], role: Role) -> Principal:
    """The person of a verified token from a trusted external issuer configured for ``role``."""
    if role != "patient":
        raise InvalidToken("trusted issuers may only sign patients in")
    default = parse_scopes(DEFAULT_SCOPES[role])
    asked = []
    for word in str(claims.get("scope") or "").split():
        try:
            asked.append(parse_scope(word))
        except ScopeError:
            continue  # openid, profile...: not ours to interpret
    scopes = narrow(asked, default) if asked else default
    return Principal(
        subject=_text(claims, "sub", required=True) or "",
        role=role,
        scopes=tuple(str(s) for s in scopes),
        cccd=_cccd(claims, required=True),
        token_id=_text(claims, "jti", required=False),
        claims=dict(claims),
    )


def own_claims(
    *,
    subject: str,
    role: Role,
    scopes: str,
    facility: str | None = None,
    cccd: str | None = None,
    patient: str | None = None,
    client_id: str | None = None,
    break_glass: str | None = None,
) -> dict[str, Any]:
    """The role claims of a token to sign, checked as ``principal_from_own`` will check them.

    Raises ``ValueError`` when they would not make a valid token.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    claims: dict[str, Any] = {
        "sub": subject,
        "role": role,
        "scope": format_scopes(parse_scopes(scopes)),
    }
    optional = {
        "facility": facility,
        "cccd": cccd,
        "patient": patient,
        "client_id": client_id,
        "break_glass": break_glass,
    }
    claims.update({name: value for name, value in optional.items() if value is not None})
    try:
        principal_from_own({**claims, "jti": "check"})
    except InvalidToken as exc:
        raise ValueError(str(exc)) from exc
    return claims


def _text(
    claims: Mapping[str, Any], name: str, *, required: bool, limit: int = MAX_TEXT
) -> str | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise InvalidToken(f"the token lacks the {name} claim")
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidToken(f"the {name} claim is not a valid string")
    return value


def _cccd(claims: Mapping[str, Any], *, required: bool) -> str | None:
    value = _text(claims, CCCD_CLAIM, required=required)
    if value is not None and not CCCD.fullmatch(value):
        raise InvalidToken("the cccd claim is not a 12-digit national ID")
    return value
