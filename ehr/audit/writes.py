"""The write participant that notes every write of person-level data for the audit trail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ehr.audit.trail import METHOD_INTERACTION, Access
from ehr.storage.participants import Change

if TYPE_CHECKING:
    from ehr.context import RequestContext
    from ehr.storage.repository import StoredResource


class AuditWrites:
    """Notes creates, updates, patches and deletes; the trail writes their AuditEvents."""

    def before_store(self, ctx: RequestContext, change: Change) -> None:
        return None

    def after_store(self, ctx: RequestContext, change: Change, stored: StoredResource) -> None:
        if change.res_type == "AuditEvent" or ctx.policy.principal is None:
            # The exchange's own derived writes (golden records, review tasks) are covered by
            # the AuditEvent of the access that caused them.
            return
        ctx.audit.note(
            Access(
                METHOD_INTERACTION.get(change.method, "update"),
                change.res_type,
                target=f"{stored.res_type}/{stored.res_id}/_history/{stored.version}",
                patients=set(change.patients),
            )
        )
