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

from ehr.db.locks import serialize_on
from ehr.db.schema import PersonLink, PersonLinkHistory, PersonNationalId, Resource
from ehr.db.upsert import insert_ignoring_duplicates, upsert
from ehr.mpi.candidates import (
    Matching,
    candidates,
    decide,
    record_keys,
    record_of,
    replace_blocking_keys,
)
from ehr.mpi.golden import golden_patient, is_golden
from ehr.mpi.national_id_hash import national_id_hmac
from ehr.mpi.patient_identity import PatientIdentity, identity_of
from ehr.mpi.review_tasks import open_duplicate_review, open_identity_review
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
        record = record_of(ctx, change.body)
        matching = Matching(link_to=None, review=())
        if identity.cccd is not None:
            person_id = _person_of_national_id(ctx, identity.cccd.number)
        elif current is not None:
            person_id = current  # a record keeps its person until evidence or a reviewer moves it
        else:
            matching = decide(candidates(ctx, record, exclude=change.res_id))
            person_id = matching.link_to.person_id if matching.link_to else new_person_id()
        links = [link for link in change.body.get("link") or [] if link.get("type") != "refer"]
        links.append({"other": {"reference": f"Patient/{person_id}"}, "type": "refer"})
        change.body["link"] = links
        change.notes["person"] = (person_id, current, identity, matching)
        change.notes["keys"] = record_keys(ctx, record)

    def after_store(self, ctx: RequestContext, change: Change, stored: StoredResource) -> None:
        if change.res_type != "Patient":
            return
        if change.body is None:
            replace_blocking_keys(ctx, change.res_id, set())
            previous = linked_person(ctx, change.res_id)
            if previous is not None:
                _unlink(ctx, change.res_id, previous)
                refresh_golden(ctx, previous)
            return
        if "person" not in change.notes:
            return
        person_id, previous, identity, matching = change.notes["person"]
        replace_blocking_keys(ctx, change.res_id, change.notes["keys"])
        if previous != person_id:
            _link(ctx, change.res_id, person_id, previous, identity, matching)
        refresh_golden(ctx, person_id)
        if previous is not None and previous != person_id:
            refresh_golden(ctx, previous)
        if identity.review_flags:
            open_identity_review(ctx, change.res_id, person_id, identity.review_flags)
        if matching.review:
            open_duplicate_review(ctx, change.res_id, person_id, matching.review)


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
    matching: Matching,
) -> None:
    """Record the link with its grade, score and, for a match, the per-field explanation.

    Grades: ``certain`` (same national ID, or a new person nobody resembles), ``probable``
    (auto-linked by the matcher), ``possible`` (a new person in the grey zone, under review).
    """
    from ehr.storage.write import now_micros

    now = now_micros()
    explanation: Any = None
    value: float | None = None
    if identity.cccd is not None:
        grade, value, reason = "certain", 1.0, "same national ID"
    elif matching.link_to is not None:
        grade, value, reason = "probable", matching.link_to.score.score, "probabilistic match"
        explanation = matching.link_to.score.to_json()
    elif matching.review:
        grade, reason = "possible", "grey zone: new person, review opened"
        explanation = [m.score.to_json() for m in matching.review]
    else:
        grade, reason = "certain", "no candidate: new person"
    row = {
        "patient_id": patient_id,
        "person_id": person_id,
        "link_type": "AUTO",
        "grade": grade,
        "score": value,
        "updated": now,
    }
    upsert(ctx.session, _LINK, row, ("patient_id",))
    _history(ctx, patient_id, person_id, previous, "link", reason, now, explanation, value)


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
    score: float | None = None,
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
            score=score,
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
    system = ctx.as_exchange()
    body = golden_patient(person_id, sources, ctx.settings.cccd_system) if sources else None
    write_resource(
        system,
        method="PUT" if body is not None else "DELETE",
        res_type="Patient",
        res_id=person_id,
        body=body,
        check_references=False,
    )
