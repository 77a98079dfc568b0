"""The golden person record: one ``Patient`` per person, derived from its facility Patients.

Survivorship rules (which source wins, per element):

- ``identifier``: the national ID (CCCD) from a source that carries one, verified above
  all; then the secondary identifiers (BHYT, BHXH, CMND) of every source, once each.
  Facility record numbers stay on the facility Patients.
- ``name``, ``gender``, ``birthDate``: the most recent source that carries a national ID,
  else the most recent source; an element missing there comes from the next most recent.
- ``address``, ``telecom``: the most recent source that has them (people move and change
  numbers; the newest report is the best guess).
- ``link``: ``seealso`` to every facility Patient the person unites, ``replaces`` to every
  person merged into it. A person merged away keeps an inactive golden record with one
  ``replaced-by`` link to the survivor, so references to it still lead somewhere.

The golden record is tagged ``golden`` so that linking never treats it as a source.
"""

from __future__ import annotations

from typing import Any

from ehr.fhir.identifiers import BHXH, BHYT, CMND, CORE

GOLDEN_TAG = {"system": f"{CORE}/CodeSystem/mpi-record", "code": "golden", "display": "golden"}
_SECONDARY_SYSTEMS = (BHYT, BHXH, CMND)
_DEMOGRAPHICS = ("name", "gender", "birthDate")
_CONTACT = ("address", "telecom")


def is_golden(resource: dict[str, Any]) -> bool:
    tags = (resource.get("meta") or {}).get("tag") or []
    return any(
        isinstance(t, dict)
        and t.get("system") == GOLDEN_TAG["system"]
        and t.get("code") == "golden"
        for t in tags
    )


def golden_patient(
    person_id: str,
    sources: list[dict[str, Any]],
    cccd_system: str,
    replaces: list[str] | None = None,
) -> dict[str, Any]:
    """The golden Patient of ``person_id`` from its current facility Patients."""
    newest_first = sorted(sources, key=_updated, reverse=True)
    verified = [s for s in newest_first if _cccd(s, cccd_system)]
    golden: dict[str, Any] = {
        "resourceType": "Patient",
        "id": person_id,
        "meta": {"tag": [GOLDEN_TAG]},
        "active": True,
    }
    identifiers: list[dict[str, Any]] = []
    if verified:
        identifiers.append(_cccd(verified[0], cccd_system))  # type: ignore[arg-type]
    seen: set[tuple[str, str]] = set()
    for source in newest_first:
        for identifier in source.get("identifier") or []:
            key = (identifier.get("system"), identifier.get("value"))
            if key[0] in _SECONDARY_SYSTEMS and key[1] and key not in seen:
                seen.add(key)  # type: ignore[arg-type]
                identifiers.append({"system": key[0], "value": key[1]})
    if identifiers:
        golden["identifier"] = identifiers
    for element in _DEMOGRAPHICS:
        value = _first(verified, element) or _first(newest_first, element)
        if value is not None:
            golden[element] = value
    for element in _CONTACT:
        value = _first(newest_first, element)
        if value is not None:
            golden[element] = value
    golden["link"] = [
        {"other": {"reference": f"Patient/{s['id']}"}, "type": "seealso"}
        for s in sorted(sources, key=lambda s: s["id"])
    ] + [{"other": {"reference": f"Patient/{p}"}, "type": "replaces"} for p in replaces or ()]
    return golden


def replaced_golden(person_id: str, survivor: str) -> dict[str, Any]:
    """The inactive golden record of a person merged into ``survivor``."""
    return {
        "resourceType": "Patient",
        "id": person_id,
        "meta": {"tag": [GOLDEN_TAG]},
        "active": False,
        "link": [{"other": {"reference": f"Patient/{survivor}"}, "type": "replaced-by"}],
    }


def _updated(resource: dict[str, Any]) -> str:
    return str((resource.get("meta") or {}).get("lastUpdated") or "")


def _cccd(resource: dict[str, Any], cccd_system: str) -> dict[str, str] | None:
    for identifier in resource.get("identifier") or []:
        if identifier.get("system") == cccd_system and identifier.get("value"):
            return {"system": cccd_system, "value": identifier["value"]}
    return None


def _first(sources: list[dict[str, Any]], element: str) -> Any:
    for source in sources:
        if source.get(element):
            return source[element]
    return None
