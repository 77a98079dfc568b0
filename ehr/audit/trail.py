"""Collecting the accesses of a unit of work and writing their AuditEvents inside it.

The guarded store (reads, searches) and the write path (creates, updates, deletes) note
each access here; ``write_events`` runs at the end of the unit of work and writes one
AuditEvent per interaction that touched person-level data, in the same transaction (whole,
as one row; ``ehr.audit.pending`` makes it searchable): an access that commits is audited,
one that rolls back leaves no event. A *denied* access
rolls its unit of work back, so ``record_denial`` writes its event in a unit of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select

from ehr.audit.events import OUTCOME_DENIED, audit_event
from ehr.audit.pending import log_event
from ehr.db.schema import Compartment
from ehr.search.dates import format_instant

if TYPE_CHECKING:
    from ehr.context import RequestContext

_C = Compartment.__table__  # type: ignore[attr-defined]
METHOD_INTERACTION = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass
class Access:
    interaction: str
    res_type: str | None
    target: str | None = None
    query: str | None = None
    rids: tuple[int, ...] = ()
    patients: set[str] = field(default_factory=set)


@dataclass
class AuditTrail:
    """The accesses of one unit of work, waiting to be written as AuditEvents."""

    accesses: list[Access] = field(default_factory=list)

    def note(self, access: Access) -> None:
        self.accesses.append(access)

    def write_events(self, ctx: RequestContext) -> None:
        """Write one AuditEvent per noted access to person-level data."""
        accesses, self.accesses = self.accesses, []
        person_types = ctx.policy.person_types
        for access in accesses:
            patients = access.patients | _patients_of(ctx, access.rids)
            if access.res_type not in person_types and not patients:
                continue
            _write(ctx, access, patients)


def record_denial(ctx: RequestContext, access: Access, reason: str) -> None:
    """Write the AuditEvent of a refused access (``ctx`` is a fresh unit of work)."""
    _write(ctx, access, access.patients | _patients_of(ctx, access.rids), reason)


def _write(ctx: RequestContext, access: Access, patients: set[str], denied: str = "") -> None:
    from ehr.storage.write import now_micros

    recorded = now_micros()
    event = audit_event(
        principal=ctx.policy.principal,
        interaction=access.interaction,
        recorded=format_instant(recorded),
        patients=patients,
        target=access.target,
        query=access.query,
        outcome=OUTCOME_DENIED if denied else "0",
        outcome_text=denied or None,
        break_glass=ctx.policy.break_glass,
    )
    log_event(ctx, event, recorded)


_PATIENTS_OF = select(_C.c.patient_id).where(_C.c.rid.in_(bindparam("rids", expanding=True)))
"""Built once (every audited read runs it); ``rids`` expands to the chunk's values."""


def _patients_of(ctx: RequestContext, rids: tuple[int, ...]) -> set[str]:
    patients: set[str] = set()
    for start in range(0, len(rids), 500):
        rows = ctx.session.execute(_PATIENTS_OF, {"rids": list(rids[start : start + 500])})
        patients.update(row.patient_id for row in rows)
    return patients
