"""The join points where capabilities take part in every write, inside its transaction.

The write path (``ehr.storage.write``) calls each registered participant for every
create, update, patch and delete, alone or inside a bundle, in the same unit of work:

- ``before_store`` may inspect and amend the resource about to be stored, or refuse the
  write by raising a ``FhirError`` (profile validation with ``reject`` policy).
- ``after_store`` sees the stored version and writes its own rows (patient linking to a
  golden person, profile flags, indicator counters, the AuditEvent). After an update that
  changed nothing (``Change.unchanged``) it sees the current version; only the audit has
  something to record then.

Participants never commit; a failure anywhere rolls the whole unit of work back, so a
record is never stored without its links and audit, nor audited without being stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ehr.context import RequestContext
    from ehr.storage.repository import StoredResource


@dataclass
class Change:
    """A write about to happen: the verb, the target, the new body and what it replaces."""

    method: str
    """POST, PUT, PATCH or DELETE."""
    res_type: str
    res_id: str
    body: dict[str, Any] | None
    """The resource to store (``None`` for a delete)."""
    previous: StoredResource | None
    patients: set[str] = field(default_factory=set)
    """Patients whose compartment holds the stored version (filled in before ``after_store``)."""
    entries: list[Any] = field(default_factory=list)
    """The search index values of the stored body (filled in before ``after_store``; none
    for a delete or an unchanged update): what a golden record built from it reuses."""
    notes: dict[str, Any] = field(default_factory=dict)
    """What a participant decided in ``before_store`` and acts on in ``after_store``."""
    unchanged: bool = False
    """Set before ``after_store`` when the update said what the current version says: nothing
    was stored, and ``after_store`` gets the current version (``ehr.storage.write``)."""


class WriteParticipant(Protocol):
    """A capability that joins every write (see the module docstring)."""

    def before_store(self, ctx: RequestContext, change: Change) -> None: ...

    def after_store(self, ctx: RequestContext, change: Change, stored: StoredResource) -> None: ...
