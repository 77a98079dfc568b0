"""Fetch the official FHIR R4 definitions the server runs on and write them as data.

Run by hand (``.venv/bin/python scripts/fetch_fhir_definitions.py``); the outputs are
committed, so neither the service nor CI ever needs the network. The source is the
``hl7.fhir.r4.examples@4.0.1`` package, fetched with ``npm pack`` from the registry npm is
configured for; it holds every R4 conformance resource and every official example.

Writes, deterministically (sorted keys, sorted entries, so a re-run gives no diff):

- ``fhir_profiles/search-parameters.json``: a ``collection`` Bundle of the official
  SearchParameter resources, trimmed to the fields search needs;
- ``fhir_profiles/resource-types.json``: the concrete R4 resource type names;
- ``fhir_profiles/compartments/CompartmentDefinition-*.json``: the compartment
  definitions as published;
- ``tests/fixtures/r4-examples/``: the official examples of the resource types the
  product exchanges, for indexing tests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "hl7.fhir.r4.examples@4.0.1"
ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "fhir_profiles"
EXAMPLES = ROOT / "tests" / "fixtures" / "r4-examples"

KEPT_FIELDS = (
    "resourceType",
    "id",
    "url",
    "name",
    "code",
    "status",
    "type",
    "base",
    "expression",
    "target",
    "modifier",
    "comparator",
    "component",
    "multipleOr",
    "multipleAnd",
    "description",
)
EXAMPLE_TYPES = (
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "MedicationRequest",
    "Procedure",
    "AllergyIntolerance",
    "Immunization",
    "DiagnosticReport",
    "DocumentReference",
    "Organization",
    "Location",
    "Practitioner",
)
MAX_EXAMPLE_BYTES = 200 * 1024
# The package also carries three *example* SearchParameter resources (ids "example",
# "example-extension", "example-reference"); they illustrate the resource, are not part of
# the standard, and one would shadow Condition's real ``subject`` parameter.
_EXAMPLE_ID = re.compile(r"^example(-|$)")
_MULTI_LINE = re.compile(r"^\*\s*\[(?P<type>[A-Za-z]+)\]\([^)]*\):\s*(?P<text>.*)$")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        package = _fetch(Path(tmp))
        _write_bundle(PROFILES / "search-parameters.json", _search_parameters(package))
        _write_json(PROFILES / "resource-types.json", _resource_types(package))
        _copy_compartments(package)
        _copy_examples(package)
    return 0


def _fetch(tmp: Path) -> Path:
    """``npm pack`` the package into ``tmp`` and unpack it; returns its ``package`` dir."""
    subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=tmp, check=True)
    (tarball,) = tmp.glob("*.tgz")
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp, filter="data")
    return tmp / "package"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _search_parameters(package: Path) -> dict[str, Any]:
    entries = []
    for path in sorted(package.glob("SearchParameter-*.json")):
        resource = _load(path)
        if _EXAMPLE_ID.match(resource["id"]):
            continue
        trimmed = {key: resource[key] for key in KEPT_FIELDS if key in resource}
        if "description" in trimmed:
            trimmed["description"] = _short_description(trimmed["description"])
        entries.append({"fullUrl": resource["url"], "resource": trimmed})
    entries.sort(key=lambda entry: entry["resource"]["id"])
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _short_description(text: str) -> str:
    """The first sentence; for shared parameters one ``Type: text`` line per resource type.

    Shared definitions describe each base type on a markdown line of their own
    (``* [Patient](patient.html): ...``); keeping those lines lets the registry give
    every resource type its own description.
    """
    lines = [line.strip() for line in text.replace("\r", "").split("\n") if line.strip()]
    per_type = [m for m in (_MULTI_LINE.match(line) for line in lines) if m]
    if per_type:
        return "\n".join(f"{m['type']}: {_first_sentence(m['text'])}" for m in per_type)
    return _first_sentence(" ".join(lines))


def _first_sentence(text: str) -> str:
    match = re.match(r"^(.+?[.?!])(\s|$)", text)
    return (match.group(1) if match else text).strip()


def _resource_types(package: Path) -> list[str]:
    names = set()
    for path in package.glob("StructureDefinition-*.json"):
        definition = _load(path)
        if (
            definition.get("kind") == "resource"
            and definition.get("abstract") is False
            and definition.get("derivation") == "specialization"
        ):
            names.add(definition["type"])
    return sorted(names)


def _copy_compartments(package: Path) -> None:
    target = PROFILES / "compartments"
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(package.glob("CompartmentDefinition-*.json")):
        # ``CompartmentDefinition-example`` restates the Device compartment as an example.
        if not _EXAMPLE_ID.match(_load(path)["id"]):
            shutil.copyfile(path, target / path.name)


def _copy_examples(package: Path) -> None:
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    for resource_type in EXAMPLE_TYPES:
        for path in sorted(package.glob(f"{resource_type}-*.json")):
            if path.stat().st_size > MAX_EXAMPLE_BYTES:
                continue
            if _load(path).get("resourceType") != resource_type:
                continue
            shutil.copyfile(path, EXAMPLES / path.name)


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def _write_bundle(path: Path, bundle: dict[str, Any]) -> None:
    """One compact entry per line: a fifth smaller than indented JSON, and diffs per parameter."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = ",\n".join(
        json.dumps(entry, ensure_ascii=False, separators=(",", ":")) for entry in bundle["entry"]
    )
    head = f'{{"resourceType":"Bundle","type":"{bundle["type"]}","entry":[\n'
    path.write_text(head + entries + "\n]}\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
