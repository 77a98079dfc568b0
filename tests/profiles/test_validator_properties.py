"""Properties of the validator on any input: it never fails, and it is deterministic."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ehr.profiles.definitions import ProfileSet
from ehr.profiles.validator import validate

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(
            ["identifier", "system", "value", "name", "family", "address", "state", "coding",
             "code", "valueQuantity", "valueString", "subject", "reference", "meta", "profile",
             "category", "managingOrganization", "contained", "id", "resourceType", "use"]
        ),
        inner,
        max_size=5,
    ),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    res_type=st.sampled_from(["Patient", "Observation", "Organization", "Encounter"]),
    body=st.dictionaries(st.text(max_size=20), json_values, max_size=6),
    shaped=st.dictionaries(
        st.sampled_from(["identifier", "name", "address", "valueQuantity", "category", "meta"]),
        json_values,
        max_size=4,
    ),
)
def test_the_validator_never_raises_and_repeats_itself(
    fixture_profiles: ProfileSet, res_type, body, shaped
):
    resource = {**body, **shaped, "resourceType": res_type}
    first = validate(resource, fixture_profiles)
    again = validate(resource, fixture_profiles)
    assert first.issues == again.issues
    for issue in first.issues:
        assert issue.severity in ("error", "warning")
        assert all(e.startswith(res_type) for e in issue.expression)
