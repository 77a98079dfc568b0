"""Care relationships: a facility that pushes an Encounter for a patient now treats them.

A write participant (``ehr.storage.participants``): in the same transaction as the
Encounter, it records (facility, patient) for every patient in the Encounter's
compartment. The access policy then lets the facility read that person's data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ehr.db.schema import CareRelationship
from ehr.db.upsert import insert_ignoring_duplicates
from ehr.storage.participants import Change

if TYPE_CHECKING:
    from ehr.context import RequestContext
    from ehr.storage.repository import StoredResource

_CARE = CareRelationship.__table__  # type: ignore[attr-defined]


class CareRelationships:
    """Records care relationships from Encounters written by facilities."""

    def before_store(self, ctx: RequestContext, change: Change) -> None:
        return None

    def after_store(self, ctx: RequestContext, change: Change, stored: StoredResource) -> None:
        facility = ctx.policy.facility
        if change.res_type != "Encounter" or change.body is None or facility is None:
            return
        if change.unchanged:
            return  # noted when the Encounter was stored (the rows are never removed)
        rows = [
            {"facility": facility, "patient_id": patient, "since": stored.last_updated}
            for patient in sorted(change.patients)
        ]
        insert_ignoring_duplicates(ctx.session, _CARE, rows)
