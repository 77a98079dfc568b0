"""The AuditEvents the exchange builds are valid R4, whatever the access they record.

The lean audit writer (``ehr.storage.write.append_trusted``) does not validate them on
every access, so this is where their validity is checked.
"""

from __future__ import annotations

from audit_strategies import ids, principals, targets
from hypothesis import given, settings
from hypothesis import strategies as st

from ehr.audit.events import ACTION, OUTCOME_DENIED, OUTCOME_SUCCESS, audit_event
from ehr.fhir.validate import validate_structure
from ehr.search.dates import format_instant

text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80).filter(
    str.strip
)


@settings(max_examples=60, deadline=None)
@given(
    principal=principals,
    interaction=st.sampled_from(sorted(ACTION)),
    recorded=st.integers(0, 4_000_000_000_000_000),
    patients=st.sets(ids, max_size=4),
    target=targets,
    query=st.one_of(st.none(), st.text(max_size=200)),
    denied=st.one_of(st.none(), text),
    break_glass=st.one_of(st.none(), text),
)
def test_every_audit_event_the_exchange_builds_is_valid_r4(
    principal, interaction, recorded, patients, target, query, denied, break_glass
):  # type: ignore[no-untyped-def]
    event = audit_event(
        principal=principal,
        interaction=interaction,
        recorded=format_instant(recorded),
        patients=patients,
        target=target,
        query=query,
        outcome=OUTCOME_DENIED if denied else OUTCOME_SUCCESS,
        outcome_text=denied,
        break_glass=break_glass,
    )
    validate_structure(event)
