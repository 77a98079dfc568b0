"""Linking every facility Patient to exactly one golden person, inside the Patient's write.

A write participant (``ehr.storage.participants``). For each Patient a facility writes:

1. ``before_store``: read its identity (``ehr.mpi.patient_identity``; a malformed national
   ID rejects the write), find its person, and give the Patient a ``refer`` link to it.
   With a national ID the person is found deterministically: the keyed hash of the number
   is inserted into ``person_national_id`` *ignoring a duplicate* and read back, so two
   facilities pushing one CCCD at the same instant meet on a primary key and end with one
   person, never two (no read-then-write race). Without one, the Patient keeps the person
   it had, or gets a new person.
2. ``after_store``: record the link and its history, rebuild the golden record from all
   its sources (``ehr.mpi.golden``), and open a review ``Task`` for any conflict between the
   national ID and the Patient's sex or birth year.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import insert, select

from ehr.access.policy import AccessPolicy
from ehr.db.locks import serialize_on
from ehr.db.schema import PersonLink, PersonLinkHistory, PersonNationalId, Resource
from ehr.db.upsert import insert_ignoring_duplicates, upsert
from ehr.mpi.golden import golden_patient, is_golden
from ehr.mpi.national_id_hash import national_id_hmac
from ehr.mpi.patient_identity import PatientIdentity, identity_of
from ehr.storage.participants import Change

if TYPE_CHECKING:
    from ehr.context import RequestContext
    from ehr.storage.repository import StoredResource

_LINK = PersonLink.__table__  # type: ignore[attr-defined]
_HISTORY = PersonLinkHistory.__table__  # type: ignore[attr-defined]
_NATIONAL = PersonNationalId.__table__  # type: ignore[attr-defined]
_R = Resource.__table__  # type: ignore[attr-defined]


class PersonLinking:
    """Links facility Patients to golden persons (see the module docstring)."""

    def before_store(self, ctx: RequestContext, change: Change) -> None:
        if change.res_type != "Patient" or change.body is None or is_golden(change.body):
            return
        settings = ctx.settings
        identity = identity_of(change.body, settings.cccd_system, seed_dir=settings.seed_dir)
        current = linked_person(ctx, change.res_id)
        if identity.cccd is not None:
            person_id = _person_of_national_id(ctx, identity.cccd.number)
        else:
            person_id = current or new_person_id()
        links = [link for link in change.body.get("link") or [] if link.get("type") != "refer"]
        links.append({"other": {"reference": f"Patient/{person_id}"}, "type": "refer"})
        change.body["link"] = links
        change.notes["person"] = (person_id, current, identity)

    def after_store(self, ctx: RequestContext, change: Change, stored: StoredResource) -> None:
        if change.res_type != "Patient":
            return
        if change.body is None:
            previous = linked_person(ctx, change.res_id)
            if previous is not None:
                _unlink(ctx, change.res_id, previous)
                refresh_golden(ctx, previous)
            return
        if "person" not in change.notes:
            return
        person_id, previous, identity = change.notes["person"]
        if previous != person_id:
            _link(ctx, change.res_id, person_id, previous, identity)
        refresh_golden(ctx, person_id)
        if previous is not None and previous != person_id:
            refresh_golden(ctx, previous)
        if identity.review_flags:
            _open_review(ctx, change.res_id, person_id, identity)


def new_person_id() -> str:
    return str(uuid.uuid4())


def linked_person(ctx: RequestContext, patient_id: str) -> str | None:
    row = ctx.session.execute(
        select(_LINK.c.person_id).where(_LINK.c.patient_id == patient_id)
    ).first()
    return row.person_id if row else None


def _person_of_national_id(ctx: RequestContext, number: str) -> str:
    from ehr.storage.write import now_micros

    id_hash = national_id_hmac(ctx.services.national_id_secret, number)
    insert_ignoring_duplicates(
        ctx.session,
        _NATIONAL,
        [{"id_hash": id_hash, "person_id": new_person_id(), "created": now_micros()}],
    )
    return ctx.session.execute(
        select(_NATIONAL.c.person_id).where(_NATIONAL.c.id_hash == id_hash)
    ).scalar_one()


def _link(
    ctx: RequestContext,
    patient_id: str,
    person_id: str,
    previous: str | None,
    identity: PatientIdentity,
) -> None:
    from ehr.storage.write import now_micros

    now = now_micros()
    grade = "certain" if identity.cccd is not None else "possible"
    row = {
        "patient_id": patient_id,
        "person_id": person_id,
        "link_type": "AUTO",
        "grade": grade,
        "score": 1.0 if identity.cccd else None,
        "updated": now,
    }
    upsert(ctx.session, _LINK, row, ("patient_id",))
    reason = "same national ID" if identity.cccd is not None else "no match: new person"
    _history(ctx, patient_id, person_id, previous, "link", reason, now)


def _unlink(ctx: RequestContext, patient_id: str, person_id: str) -> None:
    from sqlalchemy import delete

    from ehr.storage.write import now_micros

    ctx.session.execute(delete(_LINK).where(_LINK.c.patient_id == patient_id))
    _history(
        ctx, patient_id, None, person_id, "unlink", "the facility Patient was deleted", now_micros()
    )


def _history(
    ctx: RequestContext,
    patient_id: str,
    person_id: str | None,
    previous: str | None,
    action: str,
    reason: str,
    at: int,
    explanation: Any = None,
) -> None:
    principal = ctx.policy.principal
    ctx.session.execute(
        insert(_HISTORY).values(
            patient_id=patient_id,
            person_id=person_id,
            previous_person_id=previous,
            action=action,
            link_type="AUTO",
            actor=principal.subject if principal else "ehr",
            reason=reason,
            explanation=json.dumps(explanation).encode() if explanation is not None else None,
            at=at,
        )
    )


def refresh_golden(ctx: RequestContext, person_id: str) -> None:
    """Rebuild the golden Patient of ``person_id`` from its sources (delete it if none left).

    Rebuilds of one person are serialised (``ehr.db.locks``): a rebuild waits for the one
    before it to commit, so it reads every source that transaction added.
    """
    from ehr.storage.write import write_resource

    serialize_on(ctx.session, f"person:{person_id}")
    members = select(_LINK.c.patient_id).where(_LINK.c.person_id == person_id)
    rows = ctx.session.execute(
        select(_R.c.content).where(
            _R.c.res_type == "Patient", _R.c.res_id.in_(members), _R.c.deleted.is_(False)
        )
    )
    sources = [orjson.loads(row.content) for row in rows]
    system = system_context(ctx)
    body = golden_patient(person_id, sources, ctx.settings.cccd_system) if sources else None
    write_resource(
        system,
        method="PUT" if body is not None else "DELETE",
        res_type="Patient",
        res_id=person_id,
        body=body,
        check_references=False,
    )


def system_context(ctx: RequestContext) -> RequestContext:
    """The exchange acting on its own in the caller's unit of work (golden records, tasks)."""
    from ehr.context import RequestContext

    policy = AccessPolicy(None, ctx.policy.person_types, ctx.policy.cccd_system)
    return RequestContext(ctx.services, ctx.session, ctx.base_url, policy, audit=ctx.audit)


def _open_review(
    ctx: RequestContext, patient_id: str, person_id: str, identity: PatientIdentity
) -> None:
    """A review ``Task`` for the admins: the national ID disagrees with the record."""
    from ehr.storage.repository import read_current
    from ehr.storage.write import write_resource

    task_id = f"mpi-review-{patient_id}"
    existing = read_current(ctx.session, "Task", task_id)
    if existing is not None and not existing.deleted:
        return  # one open review per record: pushing it again changes nothing
    task = {
        "resourceType": "Task",
        "id": task_id,
        "status": "requested",
        "intent": "proposal",
        "code": {
            "coding": [
                {
                    "system": "http://fhir.hl7.org.vn/core/CodeSystem/mpi-review",
                    "code": "identity-conflict",
                    "display": "national ID disagrees with the record",
                }
            ]
        },
        "description": "; ".join(identity.review_flags),
        "focus": {"reference": f"Patient/{patient_id}"},
        "for": {"reference": f"Patient/{person_id}"},
    }
    write_resource(
        system_context(ctx),
        method="PUT",
        res_type="Task",
        res_id=task_id,
        body=task,
        check_references=False,
    )
