"""The admins' link management on the person index, as ``$``-operations on Patient.

After HAPI MDM's ``$mdm-*`` operations and FHIR R5 ``Patient/$merge``; each has its
OperationDefinition in ``fhir_profiles/OperationDefinition-<name>.json``:

- ``POST Patient/{id}/$link``      link a facility Patient to the golden ``person`` (MANUAL);
- ``POST Patient/{id}/$unlink``    move it out of its person into a new one (MANUAL);
- ``POST Patient/$merge``          every record of golden ``source`` moves to ``target``; the
  source golden record stays, inactive, with a ``replaced-by`` link;
- ``POST Patient/$not-duplicate``  two persons are not the same: never merged automatically,
  their open duplicate tasks closed;
- ``POST Patient/$undo``           undo one recorded ``change`` (``ehr.mpi.undo``).

Only admins may call them (``ehr.access.policy``). The answer is a ``Parameters`` resource
naming the recorded change (for ``$undo`` and ``$link-history``), the records moved and the
tasks closed or opened. Each call is audited as one AuditEvent naming every record and
person it touched.
"""

from __future__ import annotations

from typing import Any

from ehr.audit.trail import Access
from ehr.context import RequestContext
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.operation_parameters import Param, read_parameters
from ehr.mpi import link_management
from ehr.mpi.link_management import ChangeResult
from ehr.mpi.undo import undo

REASON = Param("reason", "string")


def link_patient(ctx: RequestContext, req: FhirRequest, res_type: str, res_id: str) -> FhirResponse:
    values = read_parameters(req.body, "$link", (Param("person", "reference", True), REASON))
    reason = values.get("reason", "linked by an admin")
    result = link_management.link(ctx, res_id, values["person"], reason)
    return change_response(ctx, result, "$link", f"Patient/{res_id}")


def unlink_patient(
    ctx: RequestContext, req: FhirRequest, res_type: str, res_id: str
) -> FhirResponse:
    values = read_parameters(req.body, "$unlink", (REASON,))
    result = link_management.unlink(ctx, res_id, values.get("reason", "unlinked by an admin"))
    return change_response(ctx, result, "$unlink", f"Patient/{res_id}")


def merge_persons(ctx: RequestContext, req: FhirRequest, res_type: str) -> FhirResponse:
    declared = (Param("source", "reference", True), Param("target", "reference", True), REASON)
    values = read_parameters(req.body, "$merge", declared)
    reason = values.get("reason", "merged by an admin")
    result = link_management.merge(ctx, values["source"], values["target"], reason)
    return change_response(ctx, result, "$merge", f"Patient/{values['target']}")


def not_duplicate(ctx: RequestContext, req: FhirRequest, res_type: str) -> FhirResponse:
    declared = (Param("person", "reference", True), Param("other", "reference", True), REASON)
    values = read_parameters(req.body, "$not-duplicate", declared)
    reason = values.get("reason", "not the same person, said an admin")
    result = link_management.not_duplicate(ctx, values["person"], [values["other"]], reason)
    return change_response(ctx, result, "$not-duplicate", f"Patient/{values['person']}")


def undo_change(ctx: RequestContext, req: FhirRequest, res_type: str) -> FhirResponse:
    values = read_parameters(req.body, "$undo", (Param("change", "integer", True), REASON))
    result = undo(ctx, values["change"], values.get("reason", "undone by an admin"))
    return change_response(ctx, result, "$undo", None)


def change_response(
    ctx: RequestContext, result: ChangeResult, interaction: str, target: str | None
) -> FhirResponse:
    """The operation's answer, with its access noted for the audit trail."""
    touched = set(result.moved) | result.persons
    ctx.audit.note(Access(interaction, "Patient", target=target, patients=touched))
    parameters: list[dict[str, Any]] = [{"name": "change", "valueInteger": result.change_id}]
    for patient_id, person_id in sorted(result.moved.items()):
        parameters.append(
            {
                "name": "moved",
                "part": [
                    {"name": "patient", "valueReference": {"reference": f"Patient/{patient_id}"}},
                    {"name": "person", "valueReference": {"reference": f"Patient/{person_id}"}},
                ],
            }
        )
    for task_id in sorted(set(result.tasks)):
        parameters.append({"name": "task", "valueReference": {"reference": f"Task/{task_id}"}})
    return FhirResponse(status=200, body={"resourceType": "Parameters", "parameter": parameters})
