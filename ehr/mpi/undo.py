"""Undoing one recorded change of the person index: the partition before it comes back.

Every record the change moved goes back to the person it came from (a record the change
first linked gets a person of its own, as it would have had alone), a merge's source person
is no longer replaced, a not-duplicate mark is lifted, and the review tasks the change
closed are open again. The undo is itself a MANUAL
change, so the matcher leaves the records where the admin put them.

Only the latest word on a record can be undone: if a later change moved one of the
change's records again, or merged away a person it would restore, the undo is refused
(409) naming that change, so undoing never silently scrambles later decisions. An undo
cannot itself be undone; the admin performs the operation again instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from ehr.db.schema import PersonDistinct, PersonLinkChange, PersonLinkHistory, PersonReplaced
from ehr.errors import Conflict, NotFound
from ehr.mpi.link_changes import MANUAL, Move, mark_undone, record_move, start_change
from ehr.mpi.link_management import ChangeResult, new_person_id, settle
from ehr.mpi.persons import linked_person, replaced_by
from ehr.mpi.review_queue import reopen_tasks_closed_by

if TYPE_CHECKING:
    from ehr.context import RequestContext

_CHANGE = PersonLinkChange.__table__  # type: ignore[attr-defined]
_HISTORY = PersonLinkHistory.__table__  # type: ignore[attr-defined]
_REPLACED = PersonReplaced.__table__  # type: ignore[attr-defined]
_DISTINCT = PersonDistinct.__table__  # type: ignore[attr-defined]


def undo(ctx: RequestContext, change_id: int, reason: str) -> ChangeResult:
    change = ctx.session.execute(select(_CHANGE).where(_CHANGE.c.change_id == change_id)).first()
    if change is None:
        raise NotFound(f"person-index change {change_id} is not known")
    if change.undone_by is not None:
        raise Conflict(f"change {change_id} was already undone by change {change.undone_by}")
    if change.action == "undo":
        raise Conflict(f"change {change_id} is an undo; perform the operation again instead")
    moves = ctx.session.execute(
        select(_HISTORY).where(_HISTORY.c.change_id == change_id).order_by(_HISTORY.c.hid)
    ).all()
    _check_current(ctx, change_id, moves)
    result = ChangeResult(start_change(ctx, "undo", MANUAL, reason, undoes=change_id), reason)
    result.persons.update(
        ctx.session.execute(
            select(_REPLACED.c.person_id).where(_REPLACED.c.change_id == change_id)
        ).scalars()
    )
    ctx.session.execute(delete(_REPLACED).where(_REPLACED.c.change_id == change_id))
    ctx.session.execute(delete(_DISTINCT).where(_DISTINCT.c.change_id == change_id))
    for row in reversed(moves):
        back = row.previous_person_id or new_person_id()
        if back == row.person_id:
            continue  # a confirmation: nothing moved
        record_move(
            ctx, result.change_id, Move(row.patient_id, back, row.person_id), "undo", MANUAL, reason
        )
        result.moved[row.patient_id] = back
        result.persons |= {back, row.person_id}
    mark_undone(ctx, change_id, result.change_id)
    reopen_tasks_closed_by(ctx, change_id)
    return settle(ctx, result, refresh=bool(result.persons))


def _check_current(ctx: RequestContext, change_id: int, moves: list) -> None:
    """Refuse (409) when a later change has moved the change's records or persons again."""
    for row in moves:
        if row.person_id is None:
            raise Conflict(f"Patient/{row.patient_id} was deleted; change {change_id} stands")
        now = linked_person(ctx, row.patient_id)
        if now != row.person_id:
            raise Conflict(
                f"Patient/{row.patient_id} was moved again after change {change_id};"
                f" undo {_last_change(ctx, row.patient_id)} first"
            )
        if row.previous_person_id is not None:
            merged = replaced_by(ctx, row.previous_person_id)
            if merged is not None and merged.change_id != change_id:
                raise Conflict(
                    f"Patient/{row.previous_person_id} was merged away by change"
                    f" {merged.change_id}; undo that first"
                )


def _last_change(ctx: RequestContext, patient_id: str) -> int | None:
    return ctx.session.execute(
        select(_HISTORY.c.change_id)
        .where(_HISTORY.c.patient_id == patient_id)
        .order_by(_HISTORY.c.hid.desc())
        .limit(1)
    ).scalar()
