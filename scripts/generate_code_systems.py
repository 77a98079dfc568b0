"""Write the registry's CodeSystems into ``fhir_profiles/`` from their one source of truth.

The facility levels and kinds are defined in ``ehr.registry.facilities``, the provinces
in ``seed/provinces_34.csv``; the JSON files are generated from them so they cannot
drift (``tests/registry/test_code_systems.py`` fails when a file is stale). Run after
changing either source:

    .venv/bin/python scripts/generate_code_systems.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ehr.config import get_settings
from ehr.registry.provinces import read_provinces
from ehr.registry.resources import code_systems


def render(resource: dict) -> str:
    """Stable text: two-space indent, real Vietnamese letters, a final newline."""
    return json.dumps(resource, ensure_ascii=False, indent=2) + "\n"


def main() -> int:
    settings = get_settings()
    for system in code_systems(read_provinces(settings.seed_dir)):
        path = Path(settings.profiles_dir) / f"CodeSystem-{system['id']}.json"
        path.write_text(render(system), encoding="utf-8")
        print(f"wrote {path} ({system['count']} codes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
