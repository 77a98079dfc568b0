"""Review tasks for the admins' queue: what the index could not decide on its own.

Each is a FHIR ``Task`` (code system ``mpi-review``) focused on the facility Patient, with one
task per record and kind: pushing the record again does not open another, nor reopen one
a reviewer decided.

- ``identity-conflict``: the national ID disagrees with the record's sex or birth year
  (accepted and linked, never silently "fixed").
- ``possible-duplicate``: the record resembles known persons in the grey zone; it was given
  a new person, and the candidates are the task's inputs.
- ``national-id-conflict``: two different national IDs claim one person. An admin's link or
  merge that does this goes ahead and opens the task (focus: the person); the exchange never
  does it on its own, and when a national ID would make it merge such persons it keeps
  them apart and opens the task, with the other person as the candidate.

``$confirm`` and ``$reject`` (``ehr.interactions.review_decisions``) close a task:
``completed`` or ``rejected``, with the reason in ``statusReason``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ehr.mpi.candidates import PersonMatch

if TYPE_CHECKING:
    from ehr.context import RequestContext


REVIEW_SYSTEM = "http://fhir.hl7.org.vn/core/CodeSystem/mpi-review"


def open_identity_review(
    ctx: RequestContext, patient_id: str, person_id: str, flags: tuple[str, ...]
) -> None:
    """A review ``Task`` for the admins: the national ID disagrees with the record."""
    _open_task(
        ctx,
        f"mpi-review-{patient_id}",
        ("identity-conflict", "national ID disagrees with the record"),
        "; ".join(flags),
        patient_id,
        person_id,
    )


def open_duplicate_review(
    ctx: RequestContext, patient_id: str, person_id: str, review: tuple[PersonMatch, ...]
) -> None:
    """A review ``Task``: the record may be a person the exchange already knows."""
    candidates = [
        {
            "type": {"text": f"candidate ({m.score.grade}, score {m.score.score:.3f})"},
            "valueReference": {"reference": f"Patient/{m.person_id}"},
        }
        for m in review
    ]
    _open_task(
        ctx,
        f"mpi-duplicate-{patient_id}",
        ("possible-duplicate", "possibly the same person as a known one"),
        f"{len(review)} candidate person(s) in the grey zone",
        patient_id,
        person_id,
        candidates,
    )


def open_national_id_review(
    ctx: RequestContext,
    focus: str,
    person_id: str,
    description: str,
    other_person: str | None = None,
) -> None:
    """A review ``Task``: two national IDs claim one person (``other_person``: kept apart)."""
    candidates = []
    if other_person is not None:
        candidates.append(
            {
                "type": {"text": "candidate (kept apart: different national ID)"},
                "valueReference": {"reference": f"Patient/{other_person}"},
            }
        )
    _open_task(
        ctx,
        f"mpi-national-id-{focus}",
        ("national-id-conflict", "two national IDs claim one person"),
        description,
        focus,
        person_id,
        candidates,
    )


def _open_task(
    ctx: RequestContext,
    task_id: str,
    code: tuple[str, str],
    description: str,
    patient_id: str,
    person_id: str,
    inputs: list[dict[str, Any]] | None = None,
) -> None:
    """Write the task unless it is already open: pushing a record again changes nothing."""
    from ehr.storage.repository import read_current
    from ehr.storage.write import write_resource

    existing = read_current(ctx.session, "Task", task_id)
    if existing is not None and not existing.deleted:
        return  # open, or decided by a reviewer: the same question is not asked again
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": task_id,
        "status": "requested",
        "intent": "proposal",
        "code": {"coding": [{"system": REVIEW_SYSTEM, "code": code[0], "display": code[1]}]},
        "description": description,
        "focus": {"reference": f"Patient/{patient_id}"},
        "for": {"reference": f"Patient/{person_id}"},
    }
    if inputs:
        task["input"] = inputs
    write_resource(
        ctx.as_exchange(),
        method="PUT",
        res_type="Task",
        res_id=task_id,
        body=task,
        check_references=False,
    )
