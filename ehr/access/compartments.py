"""The Patient compartment, as data: which resources are a person's data, and whose.

The R4 ``CompartmentDefinition/patient`` (in ``fhir_profiles/compartments``) lists, per
resource type, the search parameters that put a resource in a patient's compartment
(``Observation``: ``subject``, ``performer``). A type listed with parameters, and ``Patient``
itself, holds *person-level data*: the types the ministry may never see and that the
access policy filters by compartment. Membership is computed on write from the index
values already extracted, and stored in the ``compartment`` table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ehr.search.values import IndexValue, ReferenceValue


@dataclass(frozen=True)
class PatientCompartment:
    """The compartment definition: membership parameters per resource type."""

    params: dict[str, frozenset[str]]

    @property
    def person_types(self) -> frozenset[str]:
        """Types whose resources are a person's data (``Patient`` included)."""
        return frozenset(self.params) | {"Patient"}

    def patients_of(
        self, res_type: str, res_id: str, entries: Iterable[tuple[str, str, IndexValue]]
    ) -> set[str]:
        """The ids of the patients whose compartment holds ``res_type/res_id``."""
        members = {res_id} if res_type == "Patient" else set()
        wanted = self.params.get(res_type, frozenset())
        for _param_type, code, value in entries:
            if (
                code in wanted
                and isinstance(value, ReferenceValue)
                and value.target_type == "Patient"
                and value.target_id
            ):
                members.add(value.target_id)
        return members


@cache
def load_patient_compartment(profiles_dir: Path) -> PatientCompartment:
    path = profiles_dir / "compartments" / "CompartmentDefinition-patient.json"
    definition = json.loads(path.read_text(encoding="utf-8"))
    params = {
        entry["code"]: frozenset(entry["param"])
        for entry in definition.get("resource", [])
        if entry.get("param")
    }
    return PatientCompartment(params=params)
