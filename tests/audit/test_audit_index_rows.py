"""The AuditEvent index rows built part by part are exactly those of ``extract_all``."""

from __future__ import annotations

from pathlib import Path

import pytest
from audit_strategies import recorded_events
from hypothesis import given, settings
from hypothesis import strategies as st

from ehr.audit.events import audit_event
from ehr.audit.index_rows import audit_index_rows
from ehr.search.extract import extract_all
from ehr.search.registry import SearchRegistry, load_registry
from ehr.storage.write import _stamped

PROFILES = Path(__file__).resolve().parents[2] / "fhir_profiles"

text = st.text(min_size=1, max_size=60).filter(str.strip)


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    return load_registry(PROFILES)


def _key(rows) -> list:  # type: ignore[no-untyped-def]
    return sorted(rows, key=repr)


@settings(max_examples=80, deadline=None)
@given(
    access=recorded_events(text),
    owner=st.one_of(st.none(), st.from_regex(r"[0-9]{5}", fullmatch=True)),
)
def test_audit_index_rows_equal_extract_all_of_the_stored_event(registry, access, owner):  # type: ignore[no-untyped-def]
    recorded, event = access
    stored = _stamped(event, "an-id", 1, recorded, owner)
    expected = extract_all(stored, registry)
    assert _key(audit_index_rows(stored, registry)) == _key(expected)
    # Twice: the second time from the remembered parts.
    assert _key(audit_index_rows(stored, registry)) == _key(expected)


def test_patient_entities_are_indexed_under_entity_and_patient(registry):
    event = audit_event(
        principal=None, interaction="read", recorded="2026-01-02T03:04:05Z", patients={"p1"}
    )
    rows = audit_index_rows(_stamped(event, "x", 1, 0, None), registry)
    references = {(code, value.target_id) for kind, code, value in rows if kind == "reference"}
    assert references == {("entity", "p1"), ("patient", "p1")}


def test_an_event_for_another_patient_is_indexed_from_the_remembered_parts(registry):
    """A read of any of millions of Patients: its entities are remembered without the id."""
    from ehr.audit.index_rows import _rows_of

    def event(patient: str) -> dict:
        body = audit_event(
            principal=None, interaction="read", recorded="2026-01-02T03:04:05Z", patients={patient}
        )
        return _stamped(body, f"event-{patient}", 1, 0, None)

    audit_index_rows(event("first"), registry)
    before = _rows_of.cache_info()
    rows = audit_index_rows(event("second"), registry)
    after = _rows_of.cache_info()
    assert after.misses == before.misses
    assert _key(rows) == _key(extract_all(event("second"), registry))
