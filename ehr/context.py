"""What a request runs with: app-wide services and the per-request context.

``Services`` is built once at start-up (settings, engine, search registry, write
participants). ``RequestContext`` adds what belongs to one request: the unit of work's
session, the base URL for links, and (with authorization) the caller's access policy.
Interactions receive a ``RequestContext`` and nothing else, which is what lets a
transaction bundle run many interactions inside one unit of work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlmodel import Session

from ehr.access.policy import AccessPolicy
from ehr.access.rate_limit import RateLimiter
from ehr.audit.trail import AuditTrail
from ehr.config import Settings

if TYPE_CHECKING:
    from ehr.access.compartments import PatientCompartment
    from ehr.access.store import GuardedStore
    from ehr.auth.service import AuthService
    from ehr.search.registry import SearchRegistry
    from ehr.storage.participants import WriteParticipant


@dataclass
class Services:
    """Everything built once per process and shared by all requests."""

    settings: Settings
    engine: Engine
    registry: SearchRegistry
    compartment: PatientCompartment
    limiter: RateLimiter
    national_id_secret: bytes
    """Key of the HMAC under which national IDs are stored for lookup (never the number)."""
    auth: AuthService | None = None
    participants: Sequence[WriteParticipant] = field(default_factory=tuple)


@dataclass
class RequestContext:
    """One request's view: its unit of work and where it is served from."""

    services: Services
    session: Session
    base_url: str
    """The FHIR base URL without a trailing slash, e.g. ``http://127.0.0.1:8000/fhir``."""
    policy: AccessPolicy
    """What the caller may do, built once from its token (``ehr.access.policy``)."""
    audit: AuditTrail = field(default_factory=AuditTrail)
    pending_references: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Resources written in this unit of work whose references are checked at its end."""
    written: dict[tuple[str, str], bool] = field(default_factory=dict)
    """What this unit of work stored (True) or deleted (False), by type and id. A reference
    to one of these is settled without asking the database: a bundle's entries mostly refer
    to each other, and the person index's ``refer`` links to the golden records it writes."""

    @property
    def store(self) -> GuardedStore:
        """Policy-applying, audited reads (the only way interactions read resources)."""
        from ehr.access.store import GuardedStore

        return GuardedStore(self)

    def as_exchange(self) -> RequestContext:
        """The exchange acting on its own in this unit of work (golden records, review tasks):
        an unrestricted policy, the same session and audit trail."""
        policy = AccessPolicy(None, self.policy.person_types, self.policy.cccd_system)
        return RequestContext(
            self.services,
            self.session,
            self.base_url,
            policy,
            audit=self.audit,
            written=self.written,
        )

    def finish(self) -> None:
        """End-of-unit work that must see every write of the unit: audit, then integrity."""
        from ehr.storage.references import verify_references

        self.audit.write_events(self)
        pending, self.pending_references = self.pending_references, []
        verify_references(self.session, pending, self.written)

    def discard_pending(self) -> None:
        """Forget what was noted of writes a savepoint rolled back (a failed batch entry)."""
        self.pending_references.clear()
        self.written.clear()

    @property
    def registry(self) -> SearchRegistry:
        return self.services.registry

    @property
    def settings(self) -> Settings:
        return self.services.settings
