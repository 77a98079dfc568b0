"""Design rules that keep the code base honest, checked on the source itself."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ehr"


def _sources() -> dict[str, str]:
    return {
        str(path.relative_to(PACKAGE.parent)): path.read_text(encoding="utf-8")
        for path in PACKAGE.rglob("*.py")
    }


def test_only_the_unit_of_work_commits():
    """Releasing a batch entry's savepoint is not a commit; anything else is."""
    committing = {
        name
        for name, text in _sources().items()
        if re.search(r"(?<!savepoint)\.commit\(\)", text) and "migrations" not in name
    }
    assert committing == {"ehr/db/unit_of_work.py"}


def test_only_one_module_imports_the_fhir_models():
    importing = {
        name
        for name, text in _sources().items()
        if re.search(r"^\s*(from|import) fhir\.", text, re.M)
    }
    assert importing == {"ehr/fhir/models.py"}


def test_only_the_write_path_stores_versions():
    storing = {
        name
        for name, text in _sources().items()
        if re.search(r"save_version\(|insert_new(_many)?\(", text)
    }
    # AuditEvents are written whole with their access and stored as resources in bulk
    # (ehr.audit.pending): the same rows, tested in tests/audit/test_pending.py.
    assert storing == {"ehr/storage/write.py", "ehr/storage/repository.py", "ehr/audit/pending.py"}
