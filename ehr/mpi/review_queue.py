"""Reading and closing the admins' review tasks (opened by ``ehr.mpi.review_tasks``).

Open tasks are ordinary search (``GET /fhir/Task?status=requested&code=<system>|<kind>``).
A task names its person in ``for`` and, for duplicates and national-ID conflicts, the other
persons as ``input`` candidates. Persons may have been merged since, so both are resolved
to their survivors before a decision. When a change answers a task's question (the persons
became one, or were marked not the same), the task is closed with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ehr.errors import Conflict, NotFound, Unprocessable
from ehr.fhir.identifiers import CORE
from ehr.mpi.persons import distinct_mark, resolve
from ehr.mpi.review_tasks import REVIEW_SYSTEM

if TYPE_CHECKING:
    from ehr.context import RequestContext

OPEN = "requested"
CLOSED_BY = f"{CORE}/CodeSystem/person-index-change"
"""``Task.businessStatus`` system of a closed review task: the code is the change id."""
PAIR_KINDS = ("possible-duplicate", "national-id-conflict")
"""The kinds of task that ask whether two persons are one."""


@dataclass(frozen=True)
class ReviewTask:
    task_id: str
    kind: str
    status: str
    focus: str | None
    """The facility Patient (or person) the task is about."""
    person: str | None
    """``Task.for``: the person the record was linked to."""
    candidates: tuple[str, ...]
    body: dict[str, Any]


def review_task(ctx: RequestContext, task_id: str) -> ReviewTask:
    """The review task ``task_id``: 404 if there is none, 422 if it is another kind of Task."""
    from ehr.storage.repository import read_current

    stored = read_current(ctx.session, "Task", task_id)
    if stored is None or stored.deleted or stored.content is None:
        raise NotFound(f"Task/{task_id} is not known")
    task = _parse(task_id, orjson.loads(stored.content))
    if task is None:
        raise Unprocessable(
            f"Task/{task_id} is not a person-index review task ({REVIEW_SYSTEM})",
            ("Task.code",),
            code="business-rule",
        )
    return task


def require_open(task: ReviewTask) -> None:
    if task.status != OPEN:
        raise Conflict(f"Task/{task.task_id} was already decided (status {task.status})")


def close_task(
    ctx: RequestContext, task: ReviewTask, status: str, note: str, change_id: int
) -> None:
    """Set the task's status (``completed`` or ``rejected``) with the reason, and name the
    person-index change that closed it in ``businessStatus`` (searchable as
    ``business-status``), so that undoing that change can reopen it."""
    body = dict(task.body)
    body["status"] = status
    body["statusReason"] = {"text": note[:500]}
    body["businessStatus"] = {"coding": [{"system": CLOSED_BY, "code": str(change_id)}]}
    _save(ctx, task.task_id, body)


def reopen_tasks_closed_by(ctx: RequestContext, change_id: int) -> list[str]:
    """Reopen the tasks ``change_id`` closed: undoing it makes their question open again."""
    from ehr.search.query import parse_search

    query = parse_search(
        "Task",
        [("business-status", f"{CLOSED_BY}|{change_id}"), ("_count", "1000")],
        ctx.registry,
        strict=True,
    )
    reopened = []
    for row in ctx.as_exchange().store.search(query, audit=False).matches:
        body = orjson.loads(row.content)
        for element in ("statusReason", "businessStatus"):
            body.pop(element, None)
        body["status"] = OPEN
        _save(ctx, row.res_id, body)
        reopened.append(row.res_id)
    return reopened


def _save(ctx: RequestContext, task_id: str, body: dict[str, Any]) -> None:
    from ehr.search.dates import format_instant
    from ehr.storage.write import now_micros, write_resource

    body["lastModified"] = format_instant(now_micros())
    write_resource(
        ctx.as_exchange(),
        method="PUT",
        res_type="Task",
        res_id=task_id,
        body=body,
        check_references=False,
    )


def close_answered_tasks(
    ctx: RequestContext, persons: set[str], note: str, change_id: int
) -> list[str]:
    """Close the open pair tasks about ``persons`` that a change has answered.

    Completed when the task's person and a candidate are now one person; rejected when
    every candidate is marked not the same as the task's person.
    """
    closed = []
    for task in open_pair_tasks(ctx, persons):
        if task.person is None or not task.candidates:
            continue
        mine = resolve(ctx, task.person)
        others = [resolve(ctx, c) for c in task.candidates]
        if mine in others:
            close_task(ctx, task, "completed", note, change_id)
        elif all(distinct_mark(ctx, mine, other) is not None for other in others):
            close_task(ctx, task, "rejected", note, change_id)
        else:
            continue
        closed.append(task.task_id)
    return closed


def open_pair_tasks(ctx: RequestContext, persons: set[str]) -> list[ReviewTask]:
    """Open duplicate and national-ID tasks whose ``for`` is one of ``persons``."""
    from ehr.search.query import parse_search

    if not persons:
        return []
    query = parse_search(
        "Task",
        [
            ("status", OPEN),
            ("code", ",".join(f"{REVIEW_SYSTEM}|{kind}" for kind in PAIR_KINDS)),
            ("subject", ",".join(f"Patient/{p}" for p in sorted(persons))),
            ("_count", "1000"),
        ],
        ctx.registry,
        strict=True,
    )
    page = ctx.as_exchange().store.search(query, audit=False)
    found = []
    for row in page.matches:
        task = _parse(row.res_id, orjson.loads(row.content))
        if task is not None:
            found.append(task)
    return found


def _parse(task_id: str, body: dict[str, Any]) -> ReviewTask | None:
    codings = (body.get("code") or {}).get("coding") or []
    kind = next((c.get("code") for c in codings if c.get("system") == REVIEW_SYSTEM), None)
    if not isinstance(kind, str):
        return None
    candidates = tuple(
        _patient_id(item.get("valueReference"))
        for item in body.get("input") or []
        if _patient_id(item.get("valueReference"))
    )
    return ReviewTask(
        task_id=task_id,
        kind=kind,
        status=str(body.get("status")),
        focus=_patient_id(body.get("focus")),
        person=_patient_id(body.get("for")),
        candidates=candidates,  # type: ignore[arg-type]
        body=body,
    )


def _patient_id(reference: Any) -> str | None:
    if not isinstance(reference, dict):
        return None
    value = reference.get("reference")
    if isinstance(value, str) and value.startswith("Patient/"):
        return value.removeprefix("Patient/")
    return None
