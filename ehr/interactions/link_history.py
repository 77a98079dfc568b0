"""``GET Patient/{id}/$link-history``: every recorded link change of a record or a person.

For a facility Patient, each time it was linked, moved, merged or moved back; for a golden
person, each change that moved a record into or out of it or of a person merged into it,
and the not-duplicate marks it holds. Each ``entry`` says who, when, why, AUTO or MANUAL,
the score and the matcher's per-field explanation (levels and weights, no personal data),
before (``from``) and after (``to``), and the ``change`` id that ``Patient/$undo`` takes.

Oldest first, ``count`` entries a page (at most ``MAX_ENTRIES``); when more remain, the
``next`` parameter is the ``after`` value that asks for the following page. The
not-duplicate marks come with the first page.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from ehr.audit.trail import Access
from ehr.context import RequestContext
from ehr.db.schema import PersonDistinct, PersonLinkChange, PersonLinkHistory
from ehr.errors import NotFound
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.operation_parameters import Param, read_parameters, read_query
from ehr.mpi.persons import aliases
from ehr.search.dates import format_instant
from ehr.storage.repository import read_current

_HISTORY = PersonLinkHistory.__table__  # type: ignore[attr-defined]
_CHANGE = PersonLinkChange.__table__  # type: ignore[attr-defined]
_DISTINCT = PersonDistinct.__table__  # type: ignore[attr-defined]
MAX_ENTRIES = 1000
HISTORY_PARAMETERS = (
    Param("count", "integer", maximum=MAX_ENTRIES),
    Param("after", "integer", minimum=0),
)
"""What ``$link-history`` takes in its query string (its OperationDefinition)."""


def link_history(ctx: RequestContext, req: FhirRequest, res_type: str, res_id: str) -> FhirResponse:
    read_parameters(req.body, "$link-history", ())
    values = read_query(req.params, "$link-history", HISTORY_PARAMETERS)
    count, after = values.get("count", MAX_ENTRIES), values.get("after")
    if read_current(ctx.session, "Patient", res_id) is None:
        raise NotFound(f"Patient/{res_id} is not known")
    names = aliases(ctx, res_id)
    query = (
        select(_HISTORY, _CHANGE.c.undone_by, _CHANGE.c.action.label("change_action"))
        .join(_CHANGE, _CHANGE.c.change_id == _HISTORY.c.change_id, isouter=True)
        .where(
            or_(
                _HISTORY.c.patient_id == res_id,
                _HISTORY.c.person_id.in_(names),
                _HISTORY.c.previous_person_id.in_(names),
            )
        )
        .order_by(_HISTORY.c.hid)
        .limit(count + 1)
    )
    if after is not None:
        query = query.where(_HISTORY.c.hid > after)
    rows = ctx.session.execute(query).all()
    more, rows = len(rows) > count, rows[:count]
    marks = []
    if after is None:
        marks = ctx.session.execute(
            select(_DISTINCT).where(
                or_(_DISTINCT.c.person_a.in_(names), _DISTINCT.c.person_b.in_(names))
            )
        ).all()
    parameters = [_entry(row) for row in rows] + [_distinct(row, names) for row in marks]
    if more:
        parameters.append({"name": "next", "valueInteger": rows[-1].hid})
    touched = {res_id} | {row.patient_id for row in rows}
    ctx.audit.note(Access("$link-history", "Patient", target=f"Patient/{res_id}", patients=touched))
    return FhirResponse(status=200, body={"resourceType": "Parameters", "parameter": parameters})


def _entry(row: Any) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"name": "history", "valueInteger": row.hid},
        {"name": "at", "valueInstant": format_instant(row.at)},
        {"name": "actor", "valueString": row.actor},
        {"name": "action", "valueCode": row.action},
        {"name": "linkType", "valueCode": row.link_type},
        {"name": "patient", "valueReference": {"reference": f"Patient/{row.patient_id}"}},
    ]
    if row.change_id is not None:
        parts.insert(0, {"name": "change", "valueInteger": row.change_id})
    if row.undone_by is not None:
        parts.append({"name": "undoneBy", "valueInteger": row.undone_by})
    if row.reason:
        parts.append({"name": "reason", "valueString": row.reason})
    if row.previous_person_id:
        parts.append({"name": "from", "valueReference": _ref(row.previous_person_id)})
    if row.person_id:
        parts.append({"name": "to", "valueReference": _ref(row.person_id)})
    if row.score is not None:
        parts.append({"name": "score", "valueDecimal": round(row.score, 6)})
    if row.explanation:
        explanation = bytes(row.explanation).decode()
        parts.append({"name": "explanation", "valueString": explanation})
    return {"name": "entry", "part": parts}


def _distinct(row: Any, names: set[str]) -> dict[str, Any]:
    other = row.person_b if row.person_a in names else row.person_a
    return {
        "name": "notDuplicate",
        "part": [
            {"name": "change", "valueInteger": row.change_id},
            {"name": "person", "valueReference": _ref(other)},
        ],
    }


def _ref(person_id: str) -> dict[str, str]:
    return {"reference": f"Patient/{person_id}"}
