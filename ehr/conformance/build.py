"""Every generated conformance resource, by its file name in ``fhir_profiles/``.

``generate`` is pure (the same ``seed/`` gives the same files, byte for byte), ``render``
is the one text form (sorted keys, two-space indent, real Vietnamese letters, a final
newline), and ``write`` / ``stale`` are what ``scripts/build_profiles.py`` and the test
that keeps the committed files current use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ehr.conformance.clinical_profiles import clinical_profiles
from ehr.conformance.code_systems import fragments
from ehr.conformance.examples import examples
from ehr.conformance.naming_systems import naming_systems
from ehr.conformance.operations import operation_definitions
from ehr.conformance.profiles import admin_profiles, extensions
from ehr.conformance.value_sets import (
    province_concept_map,
    registry_value_sets,
    terminology_value_sets,
)
from ehr.registry.provinces import read_provinces
from ehr.registry.resources import code_systems

EXAMPLES_DIR = "examples"


def file_name(resource: dict[str, Any]) -> str:
    """``StructureDefinition-vn-core-patient.json``: type and id, as FHIR IGs name them."""
    return f"{resource['resourceType']}-{resource['id']}.json"


def conformance(seed_dir: Path) -> list[dict[str, Any]]:
    """The conformance resources (profiles, terminology, naming and operation definitions)."""
    provinces = read_provinces(seed_dir)
    return [
        *admin_profiles(),
        *clinical_profiles(),
        *extensions(),
        *naming_systems(),
        *code_systems(provinces),
        *fragments(seed_dir),
        *registry_value_sets(),
        *terminology_value_sets(seed_dir),
        province_concept_map(provinces),
        *operation_definitions(),
    ]


def generate(seed_dir: Path) -> dict[str, dict[str, Any]]:
    """Relative path -> resource, for every file this package owns in ``fhir_profiles/``."""
    files = {file_name(r): r for r in conformance(seed_dir)}
    files.update({f"{EXAMPLES_DIR}/{file_name(r)}": r for r in examples(seed_dir)})
    return files


def render(resource: dict[str, Any]) -> str:
    return json.dumps(resource, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def stale(seed_dir: Path, profiles_dir: Path) -> list[str]:
    """The generated files that are missing from ``profiles_dir`` or differ from it."""
    return [
        name
        for name, resource in generate(seed_dir).items()
        if not (path := profiles_dir / name).is_file()
        or path.read_text(encoding="utf-8") != render(resource)
    ]


def write(seed_dir: Path, profiles_dir: Path) -> list[str]:
    """Write every generated file that changed; the names written."""
    changed = stale(seed_dir, profiles_dir)
    resources = generate(seed_dir)
    for name in changed:
        path = profiles_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(resources[name]), encoding="utf-8")
    return changed
