"""Recording changes of the person index: one ``person_link_change`` per decision, one
``person_link_history`` row per record it moved.

Every change says who (the caller's subject, or ``ehr`` for the exchange itself), when,
why, and whether the matcher (``AUTO``) or an admin (``MANUAL``) decided, so that each can
be read back (``$link-history``) and undone (``ehr.mpi.undo``). Nothing here commits: the
rows join the unit of work of the write or operation that caused them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, update

from ehr.db.driver_write import DriverWrite, insert_of
from ehr.db.schema import PersonLink, PersonLinkChange, PersonLinkHistory
from ehr.db.upsert import upsert

if TYPE_CHECKING:
    from ehr.context import RequestContext

_LINK = PersonLink.__table__  # type: ignore[attr-defined]
_HISTORY = PersonLinkHistory.__table__  # type: ignore[attr-defined]
_CHANGE = PersonLinkChange.__table__  # type: ignore[attr-defined]
_INSERT_CHANGE = DriverWrite(
    insert_of(_CHANGE, ("action", "link_type", "actor", "reason", "at", "undoes")).returning(
        _CHANGE.c.change_id
    ),
    returning=(_CHANGE.c.change_id,),
)
_INSERT_HISTORY = DriverWrite(
    insert_of(
        _HISTORY,
        (
            "patient_id",
            "person_id",
            "previous_person_id",
            "action",
            "link_type",
            "actor",
            "reason",
            "score",
            "explanation",
            "at",
            "change_id",
        ),
    )
)
_DELETE_LINK = DriverWrite(delete(_LINK).where(_LINK.c.patient_id == bindparam("patient_id")))
"""Built once and run on the driver: every linked Patient write opens a change and records
a move (``ehr.db.driver_write``)."""
AUTO, MANUAL = "AUTO", "MANUAL"


@dataclass(frozen=True)
class Move:
    """A facility Patient moving into a person (``person_id=None``: out of the index)."""

    patient_id: str
    person_id: str | None
    previous: str | None
    grade: str = "certain"
    score: float | None = None
    explanation: Any = None


def actor(ctx: RequestContext) -> str:
    principal = ctx.policy.principal
    return principal.subject if principal else "ehr"


def start_change(
    ctx: RequestContext,
    action: str,
    link_type: str,
    reason: str,
    *,
    undoes: int | None = None,
) -> int:
    """Open a change and return its id; ``record_move`` attaches the records it moves."""
    from ehr.storage.write import now_micros

    returned = _INSERT_CHANGE.returned(
        ctx.session,
        {
            "action": action,
            "link_type": link_type,
            "actor": actor(ctx),
            "reason": reason[:512],
            "at": now_micros(),
            "undoes": undoes,
        },
    )
    return int(returned[0][0])


def record_move(
    ctx: RequestContext, change_id: int, move: Move, action: str, link_type: str, reason: str
) -> None:
    """Apply ``move`` to ``person_link`` and write its history row."""
    from ehr.storage.write import now_micros

    now = now_micros()
    if move.person_id is None:
        _DELETE_LINK.execute(ctx.session, {"patient_id": move.patient_id})
    else:
        row = {
            "patient_id": move.patient_id,
            "person_id": move.person_id,
            "link_type": link_type,
            "grade": move.grade,
            "score": move.score,
            "updated": now,
        }
        upsert(ctx.session, _LINK, row, ("patient_id",))
    explanation = move.explanation
    _INSERT_HISTORY.execute(
        ctx.session,
        {
            "patient_id": move.patient_id,
            "person_id": move.person_id,
            "previous_person_id": move.previous,
            "action": action,
            "link_type": link_type,
            "actor": actor(ctx),
            "reason": reason[:512],
            "score": move.score,
            "explanation": json.dumps(explanation).encode() if explanation is not None else None,
            "at": now,
            "change_id": change_id,
        },
    )


def set_link_type(ctx: RequestContext, patient_id: str, link_type: str) -> None:
    """Mark an existing link as decided by an admin (``MANUAL``) without moving it."""
    ctx.session.execute(
        update(_LINK).where(_LINK.c.patient_id == patient_id).values(link_type=link_type)
    )


def mark_undone(ctx: RequestContext, change_id: int, undone_by: int) -> None:
    ctx.session.execute(
        update(_CHANGE).where(_CHANGE.c.change_id == change_id).values(undone_by=undone_by)
    )
