"""Review tasks for the admins' queue: what the index could not decide on its own.

Each is a FHIR ``Task`` (code system ``mpi-review``) focused on the facility Patient, with one
open task per record and kind: pushing the record again does not open another.

- ``identity-conflict``: the national ID disagrees with the record's sex or birth year
  (accepted and linked, never silently "fixed").
- ``possible-duplicate``: the record resembles known persons in the grey zone; it was given
  a new person, and the candidates are the task's inputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ehr.mpi.candidates import PersonMatch

if TYPE_CHECKING:
    from ehr.context import RequestContext


def open_identity_review(
    ctx: RequestContext, patient_id: str, person_id: str, flags: tuple[str, ...]
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
        "description": "; ".join(flags),
        "focus": {"reference": f"Patient/{patient_id}"},
        "for": {"reference": f"Patient/{person_id}"},
    }
    write_resource(
        ctx.as_exchange(),
        method="PUT",
        res_type="Task",
        res_id=task_id,
        body=task,
        check_references=False,
    )


def open_duplicate_review(
    ctx: RequestContext, patient_id: str, person_id: str, review: tuple[PersonMatch, ...]
) -> None:
    """A review ``Task``: the record may be a person the exchange already knows."""
    from ehr.storage.repository import read_current
    from ehr.storage.write import write_resource

    task_id = f"mpi-duplicate-{patient_id}"
    existing = read_current(ctx.session, "Task", task_id)
    if existing is not None and not existing.deleted:
        return
    task = {
        "resourceType": "Task",
        "id": task_id,
        "status": "requested",
        "intent": "proposal",
        "code": {
            "coding": [
                {
                    "system": "http://fhir.hl7.org.vn/core/CodeSystem/mpi-review",
                    "code": "possible-duplicate",
                    "display": "possibly the same person as a known one",
                }
            ]
        },
        "description": f"{len(review)} candidate person(s) in the grey zone",
        "focus": {"reference": f"Patient/{patient_id}"},
        "for": {"reference": f"Patient/{person_id}"},
        "input": [
            {
                "type": {"text": f"candidate ({m.score.grade}, score {m.score.score:.3f})"},
                "valueReference": {"reference": f"Patient/{m.person_id}"},
            }
            for m in review
        ],
    }
    write_resource(
        ctx.as_exchange(),
        method="PUT",
        res_type="Task",
        res_id=task_id,
        body=task,
        check_references=False,
    )
