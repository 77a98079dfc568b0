"""The guarded store: the only way interactions read resources.

Every read goes through here, so the access policy is applied inside the query (the
``visible`` condition of ``ehr.access.policy``) and every read is noted for the audit
trail. A resource that exists but is not visible to the caller is a 403 that says how
emergency access works; the ``Forbidden`` carries the ``access`` so the HTTP layer can audit
the refusal after the rollback. Search simply never returns what the caller may not see.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from sqlalchemy import FromClause, select
from sqlalchemy.sql.elements import True_

from ehr.audit.pending import AUDIT_EVENT, catch_up
from ehr.audit.trail import Access
from ehr.db.schema import Resource
from ehr.errors import Forbidden
from ehr.search.execute import SearchPage, run_search
from ehr.search.query_model import SearchQuery
from ehr.storage.repository import StoredResource, read_current, read_version

if TYPE_CHECKING:
    from ehr.context import RequestContext


_R = Resource.__table__  # type: ignore[attr-defined]


def _types_seen(query: SearchQuery) -> tuple[str, ...]:
    """The resource types a search may return or filter by (empty: any type): its own, and
    those its includes, revincludes and chains may reach, unknown ones as any."""
    if not query.types:
        return ()
    types = set(query.types)
    for include in query.includes:
        if include.target_type is None:
            return ()
        types.add(include.target_type)
    for include in query.revincludes:
        if include.source_type is None:
            return ()
        types.add(include.source_type)
    pending = list(query.criteria)
    while pending:
        criterion = pending.pop()
        if criterion.chain is not None:
            if not criterion.target_types:
                return ()
            types.update(criterion.target_types)
            pending.append(criterion.chain)
    return tuple(sorted(types))


class GuardedStore:
    """Policy-applying, audited reads for one request."""

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx

    def current(
        self, res_type: str, res_id: str, interaction: str = "read", *, audit: bool = True
    ) -> StoredResource | None:
        """The current version, or ``None``; refuses one the caller may not see.

        ``audit=False`` is for reads that are part of a write (the write is audited).
        """
        self._catch_up_audit((res_type,))
        stored = read_current(self.ctx.session, res_type, res_id, with_patients=audit)
        if stored is not None:
            self._require_visible(stored, interaction)
            if audit and not stored.deleted:
                self._note(interaction, stored)
        return stored

    def version(self, res_type: str, res_id: str, version: int) -> StoredResource | None:
        """One version; visibility follows the resource's current version."""
        self._catch_up_audit((res_type,))
        current = read_current(self.ctx.session, res_type, res_id)
        if current is None:
            return None
        self._require_visible(current, "vread")
        found = read_version(self.ctx.session, res_type, res_id, version)
        if found is not None:
            self._note("vread", current)
        return found

    def search(
        self, query: SearchQuery, interaction: str = "search-type", audit: bool = True
    ) -> SearchPage:
        """Run ``query`` with the policy in its SQL (matches, chains and includes alike)."""
        self._catch_up_audit(_types_seen(query))
        page = run_search(
            self.ctx.session,
            self.ctx.registry,
            query,
            visible=self.ctx.policy.slotted_visibility,
            with_patients=audit,
        )
        if audit:
            rows = [*page.matches, *page.included]
            self.ctx.audit.note(
                Access(
                    interaction,
                    query.resource_type,
                    query=query.self_query,
                    patients=set().union(*(row.patients or () for row in rows)),
                )
            )
        return page

    def visible(self, table: FromClause, types: Collection[str] | None):  # type: ignore[no-untyped-def]
        """The policy's row condition, for queries built elsewhere, of rows of ``types``
        (``None``: of every type)."""
        self._catch_up_audit(tuple(types) if types is not None else ())
        return self.ctx.policy.visible(table, types=types)

    def _catch_up_audit(self, types: tuple[str, ...]) -> None:
        """Before reading ``types`` (empty: every type): if AuditEvents may be among them,
        index the events still pending (``ehr.audit.pending``), so the read sees them."""
        if types and AUDIT_EVENT not in types:
            return
        catch_up(self.ctx.session, self.ctx.services)

    def _note(self, interaction: str, stored: StoredResource) -> None:
        """Note an access to ``stored``, with the Patients it concerns if it was read with
        them (else the trail looks them up by ``rid``)."""
        known = stored.patients is not None
        self.ctx.audit.note(
            Access(
                interaction,
                stored.res_type,
                target=f"{stored.res_type}/{stored.res_id}",
                rids=() if known else (stored.rid,),
                patients=set(stored.patients or ()),
            )
        )

    def _require_visible(self, stored: StoredResource, interaction: str) -> None:
        condition = self.ctx.policy.visible(_R, types=(stored.res_type,))
        if isinstance(condition, True_):
            return  # an unrestricted caller (admin, the exchange) sees every row: no query
        query = select(_R.c.rid).where(_R.c.rid == stored.rid, condition)
        if self.ctx.session.execute(query).first() is None:
            denied = Forbidden(
                f"no access to {stored.res_type}/{stored.res_id}: no care relationship with this "
                "person; emergency access needs a reason in the X-Break-Glass-Reason header"
            )
            denied.access = Access(  # type: ignore[attr-defined]
                interaction,
                stored.res_type,
                target=f"{stored.res_type}/{stored.res_id}",
                rids=(stored.rid,),
            )
            raise denied
