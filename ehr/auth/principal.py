"""Who is calling: the verified claims of an access token, as the rest of the service sees them.

Token verification (``ehr.auth.tokens``) produces a ``Principal``; the access policy
(``ehr.access``) turns it into what the caller may read and write. Nothing else looks at
raw tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["facility", "ministry", "patient", "admin"]
ROLES: tuple[Role, ...] = ("facility", "ministry", "patient", "admin")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    subject: str
    """``sub``: the client id of a facility system, or the user id."""
    role: Role
    scopes: tuple[str, ...] = ()
    """Granted SMART scopes, e.g. ``system/Encounter.cruds``, ``patient/*.rs``."""
    facility: str | None = None
    """Role facility: the facility code (``Organization.identifier`` in the registry)."""
    cccd: str | None = None
    """Role patient: the national ID the identity provider vouched for."""
    patient: str | None = None
    """Role patient, optional: a ``Patient`` id from a SMART launch context."""
    client_id: str | None = None
    token_id: str | None = None
    """``jti`` of the access token, kept in the audit trail."""
    break_glass: str | None = None
    """An emergency-access reason carried in the token (``break_glass`` claim)."""
    claims: dict[str, object] = field(default_factory=dict, compare=False, repr=False)
