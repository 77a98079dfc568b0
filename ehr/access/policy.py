"""The access policy: built once per request from the caller, enforced in the queries.

PRODUCT.md section 5, as code. ``check`` is the type-level gate the router applies to every
interaction (role rules and SMART scopes); ``visible`` is a SQL condition on the
``resource`` table that the store adds to every read, search, include and history query,
so no handler filters rows itself and ``_include``/``_revinclude``/chains cannot leak.

- admin: everything (and it is audited like everyone else); alone may review and change
  the person index (``ADMIN_OPERATIONS``).
- ministry: no person-level resource at all, whatever its scopes say.
- patient: person-level data only in the compartment of their own Patient records (found
  by the national ID they signed in with); no writes.
- facility: writes as itself; reads person-level data it wrote, or of patients it has a
  care relationship with (it pushed an Encounter for them); with a break-glass reason it
  may read any person's data, flagged in the audit trail. Access logs (AuditEvent) only of
  its own accesses.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from functools import cached_property

from sqlalchemy import ColumnElement, FromClause, and_, exists, false, or_, select, true, union

from ehr.auth.principal import Principal
from ehr.auth.scopes import allows
from ehr.db.schema import CareRelationship, Compartment, PersonLink, Resource, SearchToken
from ehr.errors import Forbidden
from ehr.search.templates import SlottedVisibility, slot_value

INTERACTION_PERMISSION = {
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "search-type": "s",
    "history-type": "s",
    "history-system": "s",
    "create": "c",
    "update": "u",
    "patch": "u",
    "delete": "d",
    "$match": "s",
    "$everything": "r",
    "$validate": "r",
    "$link": "u",
    "$unlink": "u",
    "$merge": "u",
    "$not-duplicate": "u",
    "$undo": "u",
    "$confirm": "u",
    "$reject": "u",
    "$link-history": "r",
}
"""The SMART v2 permission letter each interaction needs (others need none)."""

TERMINOLOGY_OPERATIONS = frozenset({"$lookup"})
"""Operations any authenticated caller may use whatever its scopes: they read code
systems, never a person's data (``CodeSystem/$lookup``)."""

ADMIN_OPERATIONS = frozenset(
    {
        "$link",
        "$unlink",
        "$merge",
        "$not-duplicate",
        "$undo",
        "$link-history",
        "$confirm",
        "$reject",
    }
)
"""The person index's review and link operations: the admin's job (PRODUCT.md section 5)."""

_C = Compartment.__table__  # type: ignore[attr-defined]
_CARE = CareRelationship.__table__  # type: ignore[attr-defined]
_R = Resource.__table__  # type: ignore[attr-defined]
_T = SearchToken.__table__  # type: ignore[attr-defined]
_LINK = PersonLink.__table__  # type: ignore[attr-defined]


ANONYMOUS = Principal(subject="anonymous", role="ministry", scopes=())
"""The caller of public endpoints (the CapabilityStatement): no scopes, no person data."""


@dataclass(frozen=True)
class AccessPolicy:
    """What one caller may do; ``principal=None`` is the exchange itself (seeding, jobs)."""

    principal: Principal | None
    person_types: frozenset[str]
    cccd_system: str
    break_glass: str | None = None
    """The stated reason for emergency access, if the caller gave one."""

    @property
    def role(self) -> str:
        return "system" if self.principal is None else self.principal.role

    @property
    def facility(self) -> str | None:
        return self.principal.facility if self.principal is not None else None

    def check(self, interaction: str, res_type: str | None) -> None:
        """Refuse (403) an interaction the caller's role or scopes do not allow."""
        if interaction in TERMINOLOGY_OPERATIONS:
            return
        if interaction in ADMIN_OPERATIONS and self.role not in ("admin", "system"):
            raise Forbidden(f"{interaction} is for admins (the person index review)")
        permission = INTERACTION_PERMISSION.get(interaction)
        if self.principal is None or permission is None:
            return
        target = res_type or "*"
        if res_type == "AuditEvent" and permission in "cud":
            raise Forbidden("AuditEvents are written by the exchange only; they cannot be changed")
        if self.role == "ministry" and res_type in self.person_types:
            raise Forbidden(f"the ministry role has no access to person-level data ({res_type})")
        if self.role == "patient" and permission in "cud":
            raise Forbidden("a patient may read their records but not write them")
        if not allows(self.principal.scopes, target, permission):
            raise Forbidden(f"the granted scopes do not allow {interaction} on {target}")

    def check_modify(self, owner: str | None, res_type: str, res_id: str) -> None:
        """A facility changes only what it wrote itself (it never writes as another)."""
        if self.role == "facility" and owner != self.facility:
            raise Forbidden(f"{res_type}/{res_id} was not written by this facility")

    def visible(
        self, table: FromClause, types: Collection[str] | None = None
    ) -> ColumnElement[bool]:
        """The rows of ``table`` (the ``resource`` table or an alias) this caller may see.

        ``types``: the types those rows can be, where the query knows them. Then the
        condition says only what applies: none of them person-level, no condition at all;
        all of them, no "or not person-level" beside the person condition, which lets the
        database start from a patient's few rows instead of trying every row of the type.
        """
        if self.principal is None or self.role == "admin":
            return true()
        wanted = frozenset(types or ())
        if wanted and not wanted & self.person_types:
            return true()
        if wanted and wanted <= self.person_types:
            not_person: ColumnElement[bool] = false()
        else:
            not_person = table.c.res_type.not_in(self.person_types)
        if self.role == "ministry":
            return not_person
        if self.role == "patient":
            return or_(not_person, self._in_compartment_of_own_records(table))
        if self.role != "facility":
            return false()
        own_audit = and_(table.c.res_type == "AuditEvent", table.c.facility == self.facility)
        if self.break_glass:
            others = table.c.res_type != "AuditEvent"
        else:
            others = and_(
                table.c.res_type != "AuditEvent",
                or_(table.c.facility == self.facility, self._in_care_of_facility(table)),
            )
        return or_(not_person, own_audit, others)

    @cached_property
    def slotted_visibility(self) -> SlottedVisibility:
        """``visible`` in the form a search statement can be built once per shape of
        (``ehr.search.templates``): the caller's facility and identity are slots."""
        values: dict[str, str] = {}
        principal = self.principal
        if principal is not None:
            principal = Principal(
                subject="",
                role=principal.role,
                facility=slot_value("vis_facility", principal.facility, values),
                cccd=slot_value("vis_cccd", principal.cccd, values),
                patient=slot_value("vis_patient", principal.patient, values),
            )
        shaped = replace(self, principal=principal, break_glass="yes" if self.break_glass else None)
        return SlottedVisibility(self.visible, shaped.visible, key=shaped, values=values)

    def own_patient_ids(self):  # type: ignore[no-untyped-def]
        """Subquery: the Patient ids that are the signed-in patient (by national ID or launch)."""
        assert self.principal is not None
        conditions = []
        if self.principal.cccd:
            conditions.append(
                _R.c.rid.in_(
                    select(_T.c.rid).where(
                        _T.c.res_type == "Patient",
                        _T.c.param == "identifier",
                        _T.c.system == self.cccd_system,
                        _T.c.code == self.principal.cccd,
                    )
                )
            )
        if self.principal.patient:
            conditions.append(_R.c.res_id == self.principal.patient)
        if not conditions:
            conditions.append(false())
        return select(_R.c.res_id).where(
            _R.c.res_type == "Patient", _R.c.deleted.is_(False), or_(*conditions)
        )

    def _in_compartment_of_own_records(self, table: FromClause) -> ColumnElement[bool]:
        """A patient's records are few: the set of their rows, found once from their own
        Patients, drives the query (the row-by-row form of a facility would examine every
        row of the type asked for)."""
        own = _with_linked_records(self.own_patient_ids())
        return table.c.rid.in_(select(_C.c.rid).where(_C.c.patient_id.in_(own)))

    def _in_care_of_facility(self, table: FromClause) -> ColumnElement[bool]:
        facility = self.facility

        def treated(patient: ColumnElement[str]) -> ColumnElement[bool]:
            care = _CARE.alias()
            return exists(
                select(1).where(care.c.facility == facility, care.c.patient_id == patient)
            )

        return _in_compartment_of_person_of(table, treated)


def _with_linked_records(patient_ids):  # type: ignore[no-untyped-def]
    """``patient_ids`` widened to their persons: the golden records and every facility
    Patient linked to the same person (a person's records from every facility)."""
    # Two index lookups, not one OR of them: PostgreSQL scans the table for an OR and
    # guesses it thousands of rows, and then walks every row of a search instead of
    # starting from the patient's few.
    persons = union(
        select(_LINK.c.person_id).where(_LINK.c.patient_id.in_(patient_ids)),
        select(_LINK.c.person_id).where(_LINK.c.person_id.in_(patient_ids)),
    ).subquery("persons")
    return union(
        patient_ids,
        select(persons.c.person_id),
        select(_LINK.c.patient_id).where(_LINK.c.person_id.in_(select(persons.c.person_id))),
    )


def _in_compartment_of_person_of(
    table: FromClause, member: Callable[[ColumnElement[str]], ColumnElement[bool]]
) -> ColumnElement[bool]:
    """Whether a row of ``table`` is in the compartment of a Patient that is one of the
    ``member`` Patients or belongs to the same person as one (``_with_linked_records``,
    asked of one row).

    For a facility's care relationships, whose set may hold a hospital's hundreds of
    thousands of patients: each row costs a few primary-key and index probes (its
    compartment Patients, their links, the member test). As a set, PostgreSQL computed it
    again for every row a search examined (a facility's ``Patient?family=`` search ran for
    minutes on 25,000 treated people; docs/benchmarks.md, session 17), and SQLite built it
    whole for every statement.
    """
    compartment = _C.alias()
    patient = compartment.c.patient_id
    as_person = _LINK.alias()  # the row's Patient is a golden person: its linked records
    as_record = _LINK.alias()  # the row's Patient is a facility record: its person...
    sibling = _LINK.alias()  # ...and that person's other records
    of_person = exists(
        select(1).where(as_person.c.person_id == patient, member(as_person.c.patient_id))
    )
    of_siblings = exists(
        select(1).where(sibling.c.person_id == as_record.c.person_id, member(sibling.c.patient_id))
    )
    of_record = exists(
        select(1).where(
            as_record.c.patient_id == patient,
            or_(member(as_record.c.person_id), of_siblings),
        )
    )
    return exists(
        select(1).where(
            compartment.c.rid == table.c.rid, or_(member(patient), of_person, of_record)
        )
    )
