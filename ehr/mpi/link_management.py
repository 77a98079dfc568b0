"""Changing the person index on purpose: link, unlink, merge, not-duplicate.

The admins' operations (``ehr.interactions.person_links``) and the linking participant's
national-ID merge call these. Each function checks its preconditions first and raises a
``FhirError`` before writing anything, then records one change (``ehr.mpi.link_changes``)
and settles what follows from it in the same unit of work: the facility Patients' ``refer``
links, the golden records of every person involved, and the review tasks the change
answered. What HAPI MDM calls a MANUAL link is sticky: the matcher never moves such a record
again until its national ID changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import insert

from ehr.db.schema import PersonDistinct, PersonReplaced
from ehr.errors import Conflict, NotFound, Unprocessable
from ehr.mpi.golden import is_golden
from ehr.mpi.link_changes import MANUAL, Move, record_move, set_link_type, start_change
from ehr.mpi.national_id_hash import national_id_hmac
from ehr.mpi.person_records import refresh_golden, relabel
from ehr.mpi.persons import (
    distinct_mark,
    golden_exists,
    linked_person,
    members,
    national_id_hashes,
    replaced_by,
)
from ehr.mpi.review_queue import close_answered_tasks
from ehr.mpi.review_tasks import open_national_id_review

if TYPE_CHECKING:
    from ehr.context import RequestContext

_REPLACED = PersonReplaced.__table__  # type: ignore[attr-defined]
_DISTINCT = PersonDistinct.__table__  # type: ignore[attr-defined]


@dataclass
class ChangeResult:
    """What a change did, for the response and the audit trail."""

    change_id: int
    reason: str = ""
    moved: dict[str, str] = field(default_factory=dict)
    """facility Patient -> its new person."""
    persons: set[str] = field(default_factory=set)
    """Every person whose golden record the change touched."""
    tasks: list[str] = field(default_factory=list)
    """Review tasks the change closed or opened."""


def new_person_id() -> str:
    from ehr.storage.write import new_id

    return new_id()


def require_facility_patient(ctx: RequestContext, patient_id: str) -> str:
    """The person of facility Patient ``patient_id``: 404 if unknown, 422 if golden."""
    from ehr.storage.repository import read_current

    stored = read_current(ctx.session, "Patient", patient_id)
    if stored is None or stored.deleted or stored.content is None:
        raise NotFound(f"Patient/{patient_id} is not known")
    if is_golden(orjson.loads(stored.content)):
        raise Unprocessable(
            f"Patient/{patient_id} is a golden person, not a facility record",
            code="business-rule",
        )
    person = linked_person(ctx, patient_id)
    if person is None:
        raise Conflict(f"Patient/{patient_id} is not linked to a person")
    return person


def require_person(ctx: RequestContext, person_id: str) -> None:
    """404 for an unknown golden person, 409 for one merged away (naming the survivor)."""
    merged = replaced_by(ctx, person_id)
    if merged is not None:
        raise Conflict(
            f"Patient/{person_id} was merged into Patient/{merged.replaced_by}"
            f" (change {merged.change_id})"
        )
    if not golden_exists(ctx, person_id):
        raise NotFound(f"Patient/{person_id} is not a golden person")


def link(ctx: RequestContext, patient_id: str, person_id: str, reason: str) -> ChangeResult:
    """Link a facility Patient to ``person_id`` (MANUAL, sticky)."""
    previous = require_facility_patient(ctx, patient_id)
    require_person(ctx, person_id)
    conflict = _national_id_conflict(ctx, person_id, patient_id)
    result = ChangeResult(start_change(ctx, "link", MANUAL, reason), reason)
    record_move(
        ctx, result.change_id, Move(patient_id, person_id, previous), "link", MANUAL, reason
    )
    result.moved[patient_id] = person_id
    result.persons |= {person_id, previous}
    if conflict:
        result.tasks.append(_conflict_task(ctx, person_id, patient_id))
    return settle(ctx, result)


def unlink(ctx: RequestContext, patient_id: str, reason: str) -> ChangeResult:
    """Move a facility Patient out of its person into a new person of its own (MANUAL)."""
    previous = require_facility_patient(ctx, patient_id)
    if members(ctx, previous) == [patient_id]:
        raise Conflict(f"Patient/{patient_id} is already the only record of its person")
    person_id = new_person_id()
    result = ChangeResult(start_change(ctx, "unlink", MANUAL, reason), reason)
    record_move(
        ctx, result.change_id, Move(patient_id, person_id, previous), "unlink", MANUAL, reason
    )
    result.moved[patient_id] = person_id
    result.persons |= {person_id, previous}
    return settle(ctx, result)


def merge(
    ctx: RequestContext, source: str, target: str, reason: str, link_type: str = MANUAL
) -> ChangeResult:
    """Merge golden person ``source`` into ``target`` (see ``merge_into``), checked first."""
    if source == target:
        raise Unprocessable("a person cannot be merged into itself", code="business-rule")
    require_person(ctx, source)
    require_person(ctx, target)
    mark = distinct_mark(ctx, source, target)
    if mark is not None:
        raise Conflict(
            f"Patient/{source} and Patient/{target} were marked not the same person"
            f" (change {mark}); undo that change first"
        )
    conflict = _national_id_conflict(ctx, target, None, also=source)
    result = ChangeResult(start_change(ctx, "merge", link_type, reason), reason)
    merge_into(ctx, result, source, target, link_type, reason)
    if conflict:
        result.tasks.append(_conflict_task(ctx, target, target))
    return settle(ctx, result)


def merge_into(
    ctx: RequestContext,
    result: ChangeResult,
    source: str,
    target: str,
    link_type: str,
    reason: str,
) -> None:
    """Every record of ``source`` moves to ``target``; ``source`` becomes replaced by it."""
    for patient_id in members(ctx, source):
        record_move(
            ctx, result.change_id, Move(patient_id, target, source), "merge", link_type, reason
        )
        result.moved[patient_id] = target
    ctx.session.execute(
        insert(_REPLACED).values(person_id=source, replaced_by=target, change_id=result.change_id)
    )
    result.persons |= {source, target}


def not_duplicate(ctx: RequestContext, person: str, others: list[str], reason: str) -> ChangeResult:
    """Mark ``person`` as not the same as each of ``others``: never merged automatically."""
    require_person(ctx, person)
    for other in others:
        if other == person:
            raise Unprocessable(
                "a person cannot be marked distinct from itself", code="business-rule"
            )
        require_person(ctx, other)
        mark = distinct_mark(ctx, person, other)
        if mark is not None:
            raise Conflict(
                f"Patient/{person} and Patient/{other} are already marked distinct (change {mark})"
            )
    result = ChangeResult(start_change(ctx, "not-duplicate", MANUAL, reason), reason)
    for other in others:
        low, high = sorted((person, other))
        ctx.session.execute(
            insert(_DISTINCT).values(person_a=low, person_b=high, change_id=result.change_id)
        )
        result.persons |= {person, other}
    return settle(ctx, result, refresh=False)


def review_only(ctx: RequestContext, reason: str, persons: set[str]) -> ChangeResult:
    """Record a reviewer's decision that moves nothing (a confirmed link, a dismissed flag)."""
    result = ChangeResult(start_change(ctx, "review", MANUAL, reason), reason)
    result.persons |= persons
    return result


def confirm_link(ctx: RequestContext, patient_id: str, reason: str) -> ChangeResult:
    """An admin confirms a record's current link: it becomes MANUAL (sticky)."""
    person_id = require_facility_patient(ctx, patient_id)
    result = ChangeResult(start_change(ctx, "review", MANUAL, reason), reason)
    record_move(
        ctx, result.change_id, Move(patient_id, person_id, person_id), "link", MANUAL, reason
    )
    set_link_type(ctx, patient_id, MANUAL)
    result.persons.add(person_id)
    return settle(ctx, result, refresh=False)


def settle(ctx: RequestContext, result: ChangeResult, *, refresh: bool = True) -> ChangeResult:
    """Relabel the moved records, rebuild the golden records, close answered tasks."""
    for patient_id, person_id in sorted(result.moved.items()):
        relabel(ctx, patient_id, person_id)
    if refresh:
        for person_id in sorted(result.persons):
            refresh_golden(ctx, person_id)
    note = f"{result.reason} (person-index change {result.change_id})"
    result.tasks.extend(close_answered_tasks(ctx, result.persons, note, result.change_id))
    return result


def _national_id_conflict(
    ctx: RequestContext, person_id: str, patient_id: str | None, also: str | None = None
) -> bool:
    """Whether bringing record ``patient_id`` (or person ``also``) into ``person_id`` puts
    two different national IDs in one person."""
    held = national_id_hashes(ctx, person_id, exclude_patient=patient_id)
    if patient_id is not None:
        incoming = _record_hashes(ctx, patient_id)
    else:
        incoming = national_id_hashes(ctx, also) if also is not None else set()
    return bool(held) and bool(incoming) and len(held | incoming) > 1


def _record_hashes(ctx: RequestContext, patient_id: str) -> set[str]:
    from ehr.storage.repository import read_current

    stored = read_current(ctx.session, "Patient", patient_id)
    if stored is None or stored.content is None:
        return set()
    system = ctx.settings.cccd_system
    return {
        national_id_hmac(ctx.services.national_id_secret, i["value"])
        for i in orjson.loads(stored.content).get("identifier") or []
        if isinstance(i, dict) and i.get("system") == system and isinstance(i.get("value"), str)
    }


def _conflict_task(ctx: RequestContext, person_id: str, focus: str) -> str:
    open_national_id_review(
        ctx,
        focus,
        person_id,
        "an admin's change put two different national IDs in one person; correct the"
        " record that carries the wrong one, or undo the change",
    )
    return f"mpi-national-id-{focus}"
