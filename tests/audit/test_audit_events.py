"""The AuditEvents the exchange builds are valid R4, whatever the access they record.

The lean audit writer (``ehr.storage.write.append_trusted``) does not validate them on
every access, so this is where their validity is checked.
"""

from __future__ import annotations

from audit_strategies import recorded_events
from hypothesis import given, settings
from hypothesis import strategies as st

from ehr.fhir.validate import validate_structure

text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80).filter(
    str.strip
)


@settings(max_examples=60, deadline=None)
@given(access=recorded_events(text))
def test_every_audit_event_the_exchange_builds_is_valid_r4(access):  # type: ignore[no-untyped-def]
    _, event = access
    validate_structure(event)
