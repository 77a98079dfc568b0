"""The conformance resources of a profile directory, as ``ehr seed`` loads them into the store.

Every top-level ``*.json`` of ``fhir_profiles/`` whose ``resourceType`` is a conformance
type, whoever wrote it (generated here, or hand-written like the link-management
OperationDefinitions): so a new file is served after the next ``ehr seed`` without code.
Not loaded: the server's own data files (search parameters, resource types, matching
rules), ``compartments/`` (read by the access policy) and ``examples/`` (patient data).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

CONFORMANCE_TYPES = (
    "CodeSystem",
    "ValueSet",
    "ConceptMap",
    "NamingSystem",
    "StructureDefinition",
    "OperationDefinition",
    "SearchParameter",
    "Library",
    "Measure",
)
"""Loaded in this order (terminology first), then by file name."""
NOT_LOADED = frozenset({"search-parameters.json", "resource-types.json", "mpi-rules.json"})


def conformance_resources(profiles_dir: Path) -> list[dict[str, Any]]:
    """The conformance resources of ``profiles_dir`` (see the module docstring).

    A conformance file without an ``id`` is a mistake in the repository, not data to skip:
    ``ValueError`` names it.
    """
    found: list[tuple[int, str, dict[str, Any]]] = []
    for path in sorted(profiles_dir.glob("*.json")):
        if path.name in NOT_LOADED:
            continue
        resource = orjson.loads(path.read_bytes())
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        if kind not in CONFORMANCE_TYPES:
            continue
        if not isinstance(resource.get("id"), str) or not resource["id"]:
            raise ValueError(f"{path.name}: a conformance resource needs an id")
        found.append((CONFORMANCE_TYPES.index(kind), path.name, resource))
    return [resource for _, _, resource in sorted(found, key=lambda item: item[:2])]
