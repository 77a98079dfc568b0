"""Hypothesis strategies for the accesses an AuditEvent records (who, and what was touched)."""

from __future__ import annotations

from hypothesis import strategies as st

from ehr.auth.principal import ROLES, Principal

ids = st.from_regex(r"[A-Za-z0-9\-.]{1,64}", fullmatch=True)
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
