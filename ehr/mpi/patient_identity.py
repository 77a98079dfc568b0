"""What a pushed Patient says about who it is, read from its identifiers.

PRODUCT.md section 3 sorts a Patient's identifiers three ways, and this module is where
that sorting happens, before any matching:

- The CCCD (system ``Settings.cccd_system``) links deterministically, so it must be right:
  a malformed number, an unknown birth-province prefix or two different numbers on one
  Patient reject the resource (422) rather than link it to the wrong person or to nobody.
  The same number repeated is harmless and accepted.
- A CCCD that is well formed but disagrees with ``gender`` or the birth year is accepted
  and flagged for review, never corrected: either side may hold the typo.
- Secondary identifiers (BHYT, BHXH, CMND) only support matching, so a malformed one is
  flagged for review and otherwise ignored; rejecting a record for a mistyped insurance
  number would lose clinical data over something that does not decide identity.
- Any other identifier with a system and a value is a facility record number, kept as
  ``(system, value)`` for the facility's own lookups.

The system alone decides what an identifier is. Issues and flags name the element
(``Patient.identifier[2].value``), never the number, since both reach logs and screens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ehr.errors import Issue, Unprocessable
from ehr.fhir.identifiers import CCCD
from ehr.mpi.cccd import Cccd, InvalidIdentifier, conflicts, parse_cccd
from ehr.mpi.secondary_ids import SECONDARY_PARSERS, SecondaryId


@dataclass(frozen=True)
class PatientIdentity:
    """The identifiers of one Patient, sorted and parsed."""

    cccd: Cccd | None
    """The national ID, if the Patient carries one."""
    secondary: tuple[SecondaryId, ...]
    """Well-formed BHYT / BHXH / CMND numbers, distinct, in resource order."""
    facility_ids: tuple[tuple[str, str], ...]
    """Every other ``(system, value)``, distinct, in resource order."""
    review_flags: tuple[str, ...]
    """Reasons for a human to look at this Patient (conflicts, malformed secondary IDs)."""


@dataclass
class _Sorting:
    cccds: list[tuple[int, Cccd]]
    secondary: list[SecondaryId]
    facility_ids: list[tuple[str, str]]
    flags: list[str]
    issues: list[Issue]


def identity_of(
    patient: Mapping[str, Any],
    cccd_system: str = CCCD,
    today: date | None = None,
    *,
    seed_dir: Path | None = None,
) -> PatientIdentity:
    """Sort and parse ``patient``'s identifiers; raise ``Unprocessable`` for a bad CCCD.

    ``cccd_system`` is configurable (pass ``Settings.cccd_system``); ``today`` bounds the
    encoded birth year. All rejections are gathered and raised together, so a facility
    fixes everything in one round trip.
    """
    identifiers = patient.get("identifier") or []
    if not isinstance(identifiers, list):
        raise Unprocessable(
            "Patient.identifier must be an array", ("Patient.identifier",), code="structure"
        )
    sorting = _Sorting([], [], [], [], [])
    for index, identifier in enumerate(identifiers):
        _sort_one(sorting, index, identifier, cccd_system, today, seed_dir)
    _check_one_cccd(sorting)
    if sorting.issues:
        raise Unprocessable(sorting.issues[0].diagnostics, issues=sorting.issues)
    cccd = sorting.cccds[0][1] if sorting.cccds else None
    if cccd is not None:
        sorting.flags.extend(conflicts(cccd, patient.get("gender"), patient.get("birthDate")))
    return PatientIdentity(
        cccd=cccd,
        secondary=tuple(dict.fromkeys(sorting.secondary)),
        facility_ids=tuple(dict.fromkeys(sorting.facility_ids)),
        review_flags=tuple(sorting.flags),
    )


def _sort_one(
    sorting: _Sorting,
    index: int,
    identifier: object,
    cccd_system: str,
    today: date | None,
    seed_dir: Path | None,
) -> None:
    where = f"Patient.identifier[{index}]"
    if not isinstance(identifier, dict):
        sorting.issues.append(
            Issue("error", "structure", f"{where} must be an Identifier object", (where,))
        )
        return
    system, value = identifier.get("system"), identifier.get("value")
    if value is None:
        return  # FHIR allows an Identifier without a value (e.g. data-absent-reason)
    if system == cccd_system:
        try:
            sorting.cccds.append((index, parse_cccd(value, today, seed_dir=seed_dir)))
        except InvalidIdentifier as exc:
            sorting.issues.append(
                Issue(
                    "error",
                    "value",
                    f"{where}.value is not a valid CCCD number: {exc.reason}",
                    (f"{where}.value",),
                )
            )
    elif system in SECONDARY_PARSERS:
        try:
            sorting.secondary.append(SECONDARY_PARSERS[system](value))
        except InvalidIdentifier as exc:
            sorting.flags.append(f"{where}.value ({system}) is not valid: {exc.reason}")
    elif isinstance(system, str) and system and isinstance(value, str) and value:
        sorting.facility_ids.append((system, value))


def _check_one_cccd(sorting: _Sorting) -> None:
    """A person has one personal ID number for life, so two different ones cannot be linked."""
    first_seen: dict[str, int] = {}
    for index, cccd in sorting.cccds:
        first_seen.setdefault(cccd.number, index)
    if len(first_seen) > 1:
        where = ", ".join(f"identifier[{index}]" for index in first_seen.values())
        sorting.issues.append(
            Issue(
                "error",
                "business-rule",
                f"Patient carries {len(first_seen)} different CCCD numbers ({where});"
                " a person has exactly one",
                ("Patient.identifier",),
            )
        )
