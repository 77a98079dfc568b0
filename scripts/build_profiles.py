"""Generate the national conformance resources into ``fhir_profiles/`` (``ehr.conformance``).

Profiles, NamingSystems, CodeSystems (the registry's and the ICD-10, LOINC and CVX
fragments), ValueSets, the province ConceptMap, OperationDefinitions and one example per
profile, from their Python definitions and the ``seed/`` tables. Deterministic: a second
run writes nothing. ``tests/conformance/test_build.py`` fails when a committed file is
stale. Run after changing a definition or a seed table:

    .venv/bin/python scripts/build_profiles.py          # write what changed
    .venv/bin/python scripts/build_profiles.py --check  # exit 1 if anything is stale
"""

from __future__ import annotations

import argparse
import sys

from ehr.config import get_settings
from ehr.conformance.build import stale, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.check:
        names = stale(settings.seed_dir, settings.profiles_dir)
        for name in names:
            print(f"stale: {name}")
        return 1 if names else 0
    for name in write(settings.seed_dir, settings.profiles_dir):
        print(f"wrote {settings.profiles_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
