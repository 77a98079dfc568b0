"""Deciding a review task: ``POST Task/{id}/$confirm`` and ``POST Task/{id}/$reject``.

The tasks come from ``ehr.mpi.review_tasks``; open ones are listed by ordinary search
(``GET Task?status=requested&code=<mpi-review>|possible-duplicate``).

- ``possible-duplicate`` and ``national-id-conflict`` with a candidate: ``$confirm`` merges the
  task's person into the candidate (``person`` picks one when there are several; default
  the first), ``$reject`` marks them not the same (``$not-duplicate``) for every candidate.
- ``identity-conflict``, and a national-ID conflict an admin's change made: ``$confirm``
  accepts the link as it is (the record's link becomes MANUAL); ``$reject`` dismisses
  the flag. To move the record, use ``Patient/{id}/$unlink`` or ``$link``.

The task ends ``completed`` or ``rejected`` with the reason, in the same unit of work as the
change it caused; a task already decided is a 409.
"""

from __future__ import annotations

from ehr.context import RequestContext
from ehr.errors import Conflict, Unprocessable
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.operation_parameters import Param, read_parameters
from ehr.interactions.person_links import REASON, change_response
from ehr.mpi import link_management
from ehr.mpi.link_management import ChangeResult
from ehr.mpi.persons import resolve
from ehr.mpi.review_queue import ReviewTask, close_task, require_open, review_task


def confirm(ctx: RequestContext, req: FhirRequest, res_type: str, res_id: str) -> FhirResponse:
    values = read_parameters(req.body, "$confirm", (Param("person", "reference"), REASON))
    task = review_task(ctx, res_id)
    require_open(task)
    reason = values.get("reason", f"Task/{res_id} confirmed by an admin")
    if task.candidates and task.person is not None:
        candidate = values.get("person", task.candidates[0])
        if candidate not in task.candidates:
            raise Unprocessable(
                f"Patient/{candidate} is not a candidate of Task/{res_id}",
                ("Parameters.parameter",),
                code="business-rule",
            )
        source, target = resolve(ctx, task.person), resolve(ctx, candidate)
        if source == target:
            raise Conflict(f"Task/{res_id}: the persons are already one")
        result = link_management.merge(ctx, source, target, reason)
    elif task.kind == "identity-conflict" and task.focus is not None:
        result = link_management.confirm_link(ctx, task.focus, reason)
    else:
        result = link_management.review_only(ctx, reason, _persons(task))
    _close(ctx, task, result, "completed", reason)
    return change_response(ctx, result, "$confirm", f"Task/{res_id}")


def reject(ctx: RequestContext, req: FhirRequest, res_type: str, res_id: str) -> FhirResponse:
    values = read_parameters(req.body, "$reject", (REASON,))
    task = review_task(ctx, res_id)
    require_open(task)
    reason = values.get("reason", f"Task/{res_id} rejected by an admin")
    result: ChangeResult | None = None
    if task.candidates and task.person is not None:
        person = resolve(ctx, task.person)
        others = sorted({resolve(ctx, c) for c in task.candidates} - {person})
        if others:
            result = link_management.not_duplicate(ctx, person, others, reason)
    if result is None:
        result = link_management.review_only(ctx, reason, _persons(task))
    _close(ctx, task, result, "rejected", reason)
    return change_response(ctx, result, "$reject", f"Task/{res_id}")


def _persons(task: ReviewTask) -> set[str]:
    return {p for p in (task.person, task.focus, *task.candidates) if p is not None}


def _close(
    ctx: RequestContext, task: ReviewTask, result: ChangeResult, status: str, reason: str
) -> None:
    """Close ``task`` unless the change already did (it answered the task's question)."""
    if task.task_id in result.tasks:
        return
    note = f"{reason} (person-index change {result.change_id})"
    close_task(ctx, task, status, note, result.change_id)
    result.tasks.append(task.task_id)
