"""Building ``AuditEvent`` resources in the style of IHE Basic Audit Log Patterns (BALP).

One event per interaction that touches person-level data: who (the client and its
facility), what (the interaction, the resource or the query), whose data (one entity per
patient, which is what puts the event in each patient's compartment, so the patient can
read it), why (treatment, or emergency treatment with the stated break-glass reason,
flagged ``BTG`` in ``meta.security``), and how it ended.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from ehr.auth.principal import Principal
from ehr.fhir.identifiers import FACILITY_CODE

ACTION = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "history-instance": "R",
    "search-type": "E",
    "history-type": "E",
    "history-system": "E",
    "update": "U",
    "patch": "U",
    "delete": "D",
}
OUTCOME_SUCCESS = "0"
OUTCOME_DENIED = "8"
BREAK_GLASS = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
    "code": "BTG",
    "display": "break the glass",
}
_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


def audit_event(
    *,
    principal: Principal | None,
    interaction: str,
    recorded: str,
    patients: Iterable[str],
    target: str | None = None,
    query: str | None = None,
    outcome: str = OUTCOME_SUCCESS,
    outcome_text: str | None = None,
    break_glass: str | None = None,
) -> dict[str, Any]:
    """The AuditEvent of one interaction (``target`` = ``Type/id``; ``query`` for searches)."""
    event: dict[str, Any] = {"resourceType": "AuditEvent"}
    if break_glass:
        event["meta"] = {"security": [BREAK_GLASS]}
    event |= {
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "Restful Operation",
        },
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": interaction}],
        "action": ACTION.get(interaction, "E"),
        "recorded": recorded,
        "outcome": outcome,
    }
    if outcome_text:
        event["outcomeDesc"] = outcome_text
    reason = {"coding": [{"system": _ACT_REASON, "code": "ETREAT" if break_glass else "TREAT"}]}
    if break_glass:
        reason["text"] = break_glass
    event["purposeOfEvent"] = [reason]
    event["agent"] = _agents(principal)
    event["source"] = {
        "site": "ehr",
        "observer": {"display": "ehr national exchange"},
        "type": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                "code": "4",
                "display": "Application Server",
            }
        ],
    }
    entities = [_patient_entity(patient) for patient in sorted(set(patients))]
    if target:
        entities.append(_object_entity(target))
    if query is not None:
        entities.append(_query_entity(query))
    if entities:
        event["entity"] = entities
    return event


def _agents(principal: Principal | None) -> list[dict[str, Any]]:
    if principal is None:
        return [{"name": "ehr exchange", "requestor": False, "altId": "ehr"}]
    client: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://dicom.nema.org/resources/ontology/DCM",
                    "code": "110153",
                    "display": "Source Role ID",
                }
            ]
        },
        "role": [{"text": principal.role}],
        "altId": principal.subject,
        "name": principal.client_id or principal.subject,
        "requestor": True,
    }
    agents = [client]
    if principal.facility:
        agents.append(
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass",
                            "code": "PROV",
                            "display": "healthcare provider",
                        }
                    ]
                },
                "who": {"identifier": {"system": FACILITY_CODE, "value": principal.facility}},
                "altId": principal.facility,
                "requestor": False,
            }
        )
    return agents


def _patient_entity(patient_id: str) -> dict[str, Any]:
    return {
        "what": {"reference": f"Patient/{patient_id}"},
        **_entity(("1", "Person"), ("1", "Patient")),
    }


def _object_entity(target: str) -> dict[str, Any]:
    return {
        "what": {"reference": target},
        **_entity(("2", "System Object"), ("4", "Domain Resource")),
    }


def _query_entity(query: str) -> dict[str, Any]:
    return {
        **_entity(("2", "System Object"), ("24", "Query")),
        "query": base64.b64encode(query.encode("utf-8")).decode("ascii"),
    }


def _entity(kind: tuple[str, str], role: tuple[str, str]) -> dict[str, Any]:
    """The ``type`` (audit-entity-type) and ``role`` (object-role) codings of an entity."""
    return {
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
            "code": kind[0],
            "display": kind[1],
        },
        "role": {
            "system": "http://terminology.hl7.org/CodeSystem/object-role",
            "code": role[0],
            "display": role[1],
        },
    }
