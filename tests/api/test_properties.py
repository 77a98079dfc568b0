"""Property tests of the store through the API (hypothesis), on SQLite and PostgreSQL."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
)
API_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

names = st.text(alphabet=VIETNAMESE + VIETNAMESE.upper(), min_size=1, max_size=12)
dates = (
    st.dates()
    .map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}")
    .filter(lambda s: s >= "1001")
)
identifier_values = st.text(alphabet=string.digits, min_size=12, max_size=12)
genders = st.sampled_from(["male", "female", "other", "unknown"])


@st.composite
def patients(draw: st.DrawFn) -> dict:
    resource: dict = {
        "resourceType": "Patient",
        "identifier": [{"system": CCCD, "value": draw(identifier_values)}],
        "name": [{"family": draw(names), "given": draw(st.lists(names, min_size=1, max_size=3))}],
        "gender": draw(genders),
        "birthDate": draw(dates),
    }
    if draw(st.booleans()):
        resource["telecom"] = [{"system": "phone", "value": draw(identifier_values)[:10]}]
    if draw(st.booleans()):
        resource["address"] = [{"city": draw(names), "line": [draw(names)], "country": "VN"}]
    if draw(st.booleans()):
        resource["extension"] = [
            {"url": "http://example.org/fhir/StructureDefinition/note", "valueString": draw(names)}
        ]
    if draw(st.booleans()):
        resource["active"] = draw(st.booleans())
    return resource


def _ids(response) -> set[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return {e["resource"]["id"] for e in response.json().get("entry", [])}


@API_SETTINGS
@given(resource=patients())
def test_what_is_indexed_is_found_by_the_matching_search(client, resource):
    created = client.post("/fhir/Patient", json=resource).json()
    identifier = resource["identifier"][0]["value"]
    name = resource["name"][0]
    queries = [
        {"identifier": f"{CCCD}|{identifier}"},
        {"family": name["family"]},
        {"family:exact": name["family"]},
        {"given": name["given"][-1]},
        {"name": name["given"][0]},
        {"birthdate": resource["birthDate"]},
        {"birthdate": f"ge{resource['birthDate']}"},
        {"gender": resource["gender"]},
        {"_id": created["id"]},
    ]
    if "telecom" in resource:
        queries.append({"phone": resource["telecom"][0]["value"]})
    if "address" in resource:
        queries.append({"address-city": resource["address"][0]["city"]})
    for query in queries:
        found = _ids(client.get("/fhir/Patient", params={**query, "_count": 1000}))
        assert created["id"] in found, query


@API_SETTINGS
@given(resource=patients())
def test_a_resource_read_back_equals_what_was_stored_apart_from_meta(client, resource):
    created = client.post("/fhir/Patient", json=resource).json()
    read = client.get(f"/fhir/Patient/{created['id']}").json()
    assert read.pop("meta")["versionId"] == "1"
    assert read.pop("id") == created["id"]
    assert read == resource


@API_SETTINGS
@given(
    good=st.lists(patients(), min_size=1, max_size=5),
    position=st.integers(min_value=0, max_value=5),
    fault=st.sampled_from(
        [
            "invalid-element",
            "missing-reference",
            "duplicate-fullurl",
            "wrong-type",
            "stale-if-match",
        ]
    ),
)
def test_a_transaction_that_fails_in_any_entry_leaves_the_database_unchanged(
    client, store_counts, good, position, fault
):
    entries = [
        {
            "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{index:012d}",
            "resource": resource,
            "request": {"method": "POST", "url": "Patient"},
        }
        for index, resource in enumerate(good)
    ]
    bad: dict
    if fault == "invalid-element":
        bad = {
            "resource": {"resourceType": "Patient", "gender": "robot"},
            "request": {"method": "POST", "url": "Patient"},
        }
    elif fault == "missing-reference":
        bad = {
            "resource": {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": {"reference": "Patient/not-there"},
            },
            "request": {"method": "POST", "url": "Encounter"},
        }
    elif fault == "duplicate-fullurl":
        bad = {**entries[0], "resource": dict(entries[0]["resource"])}
    elif fault == "wrong-type":
        bad = {"resource": good[0], "request": {"method": "POST", "url": "Observation"}}
    else:
        bad = {
            "resource": {**good[0], "id": "stale"},
            "request": {"method": "PUT", "url": "Patient/stale", "ifMatch": 'W/"7"'},
        }
    entries.insert(min(position, len(entries)), bad)
    before = store_counts()
    response = client.post(
        "/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert store_counts() == before
