"""Hypothesis strategies for the accesses an AuditEvent records (who, and what was touched)."""

from __future__ import annotations

from hypothesis import strategies as st

from ehr.audit.events import ACTION, OUTCOME_DENIED, OUTCOME_SUCCESS, audit_event
from ehr.audit.index_rows import SLOT
from ehr.auth.principal import ROLES, Principal
from ehr.search.dates import format_instant

ids = st.one_of(
    st.from_regex(r"[A-Za-z0-9\-.]{1,64}", fullmatch=True),
    # The placeholder ``ehr.audit.index_rows`` remembers entities under, as an id itself.
    st.sampled_from([SLOT, f"{SLOT}-2", f"x{SLOT}"]),
)
principals = st.one_of(
    st.none(),
    st.builds(
        Principal,
        subject=ids,
        role=st.sampled_from(ROLES),
        facility=st.one_of(st.none(), st.from_regex(r"[0-9]{5}", fullmatch=True)),
        client_id=st.one_of(st.none(), ids),
    ),
)
targets = st.one_of(
    st.none(),
    st.builds(lambda t, i: f"{t}/{i}", st.sampled_from(["Patient", "Observation"]), ids),
    st.builds(
        lambda t, i, v: f"{t}/{i}/_history/{v}",
        st.sampled_from(["Patient", "Encounter"]),
        ids,
        st.integers(1, 99),
    ),
)


@st.composite
def recorded_events(draw: st.DrawFn, text: st.SearchStrategy[str]) -> tuple[int, dict]:
    """An access as the exchange records it: when (µs since the epoch) and its AuditEvent,
    with free ``text`` in the refusal reason and the break-glass reason."""
    recorded = draw(st.integers(0, 4_000_000_000_000_000))
    denied = draw(st.one_of(st.none(), text))
    event = audit_event(
        principal=draw(principals),
        interaction=draw(st.sampled_from(sorted(ACTION))),
        recorded=format_instant(recorded),
        patients=draw(st.sets(ids, max_size=4)),
        target=draw(targets),
        query=draw(st.one_of(st.none(), st.text(max_size=200))),
        outcome=OUTCOME_DENIED if denied else OUTCOME_SUCCESS,
        outcome_text=denied,
        break_glass=draw(st.one_of(st.none(), text)),
    )
    return recorded, event
