"""The build writes the committed ``fhir_profiles/`` files, and the same ones every time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ehr.config import REPO_ROOT, Settings
from ehr.conformance.build import generate, render, stale, write

SEED = Settings().seed_dir
PROFILES = Settings().profiles_dir


def test_the_committed_files_are_what_the_build_generates():
    """Stale? Run ``.venv/bin/python scripts/build_profiles.py``."""
    assert stale(SEED, PROFILES) == []


def test_building_twice_gives_identical_files(tmp_path: Path):
    written = write(SEED, tmp_path)
    assert sorted(written) == sorted(generate(SEED))
    first = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*.json")}
    assert write(SEED, tmp_path) == []
    second = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*.json")}
    assert first == second


def test_a_changed_file_is_stale_and_rewritten(tmp_path: Path):
    write(SEED, tmp_path)
    target = tmp_path / "ValueSet-province.json"
    target.write_text(target.read_text(encoding="utf-8").replace("34", "35"), encoding="utf-8")
    (tmp_path / "NamingSystem-cccd.json").unlink()
    assert sorted(stale(SEED, tmp_path)) == ["NamingSystem-cccd.json", "ValueSet-province.json"]
    assert sorted(write(SEED, tmp_path)) == ["NamingSystem-cccd.json", "ValueSet-province.json"]
    assert stale(SEED, tmp_path) == []


def test_the_text_form_is_sorted_indented_and_ends_with_a_newline():
    text = render({"resourceType": "ValueSet", "id": "x", "name": "Tỉnh"})
    assert text == '{\n  "id": "x",\n  "name": "Tỉnh",\n  "resourceType": "ValueSet"\n}\n'
    for name, resource in generate(SEED).items():
        committed = (PROFILES / name).read_text(encoding="utf-8")
        assert json.loads(committed) == resource
        assert committed.endswith("}\n") and not committed.endswith("\n\n")


def test_the_script_checks_without_writing():
    script = REPO_ROOT / "scripts" / "build_profiles.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""
