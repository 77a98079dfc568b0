"""No request a client can send gets a 500 or leaves partial data (the product rule).

Hypothesis sends random and adversarial requests to the real app, on SQLite and
PostgreSQL: random JSON as bodies of creates, updates, patches and bundles; bundles with
random entry shapes, methods, URLs, fullUrls and odd references; random search query
strings (modifiers, chains, prefixes, escapes, result parameters, forged cursors); random
paths; odd headers; random JSON Patches. Whatever comes in, the answer is below 500, every
4xx is an ``OperationOutcome`` served as FHIR JSON, and a failed request leaves the store
as it was. Regressions, one per bug the fuzzing found, follow the fuzz tests.

Each run draws fresh examples (a failure is replayed first on the next local run, from
hypothesis' example database); the hand-picked regressions are deterministic. For a longer
hunt, scale the number of examples: ``EHR_FUZZ_SCALE=20 ./scripts/test -k fuzz
tests/api/test_no_server_errors.py``.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import orjson
import pytest
from fhir_helpers import FHIR_JSON, outcome_issue, patient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ehr.api.wire import parse_json
from ehr.db.schema import SEARCH_TABLES
from ehr.errors import FhirError
from ehr.fhir.validate import validate_structure
from ehr.interactions.router import ROUTES
from ehr.search.extract import extract_all
from ehr.search.registry import load_registry

_SCALE = int(os.environ.get("EHR_FUZZ_SCALE", "1"))


def _fuzz(examples: int) -> hypothesis_settings:
    return hypothesis_settings(
        max_examples=examples * _SCALE,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


BASE = "http://testserver"
TYPES = ("Patient", "Observation", "Encounter")
UUID_A = "urn:uuid:0b6a3c3e-8f1e-4a53-9d6c-3c3a2f5d0001"
UUID_B = "urn:uuid:0b6a3c3e-8f1e-4a53-9d6c-3c3a2f5d0002"
ODD_REFERENCES = (
    "Patient/",
    "/Patient/x",
    "Patient?",
    "?x=y",
    "Patient?name=",
    "Patient?identifier=a|b",
    "Patient?_count=1",
    "Patient?bogus=1",
    "urn:uuid:",
    UUID_A,
    UUID_B,
    "urn:oid:1.2.3",
    "Patient/x/_history/",
    "Patient/x/_history/1",
    "Patient//x",
    "Patient/x y",
    "Patient/x\n",
    "Patient/" + "x" * 65,
    "A" * 100 + "/x",
    "http://other.example/fhir/Patient/1",
    "http://testserver/fhir/Patient/nope",
    "http://testserver/fhir/" + "B" * 90 + "/x",
    "#",
    "#missing",
    "",
    " ",
    "Pàtient/ü",
    "Nguyễn/Văn",
    "Patient/\x00",
)
ODD_TEXT = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\\",
    "%",
    "%00",
    "%zz",
    "é",
    "Nguyễn Văn An",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "\u202e",
    "x" * 70,
    "y" * 1100,
    "9999-12-31T23:59:59Z",
    "0000",
    "1e309",
    "-0",
    "²",
)
ELEMENTS = (
    "resourceType",
    "id",
    "meta",
    "text",
    "contained",
    "extension",
    "modifierExtension",
    "identifier",
    "name",
    "family",
    "given",
    "gender",
    "birthDate",
    "active",
    "telecom",
    "address",
    "subject",
    "patient",
    "encounter",
    "reference",
    "code",
    "coding",
    "system",
    "value",
    "valueQuantity",
    "valueString",
    "valueInteger",
    "valueCodeableConcept",
    "status",
    "class",
    "period",
    "start",
    "end",
    "effectiveDateTime",
    "effectivePeriod",
    "issued",
    "performer",
    "generalPractitioner",
    "managingOrganization",
    "link",
    "url",
    "unit",
    "comparator",
    "div",
    "_gender",
    "_birthDate",
    "_active",
    "_given",
)

odd_text = st.one_of(st.sampled_from(ODD_TEXT), st.text(max_size=12))
keys = st.one_of(st.sampled_from(ELEMENTS), st.text(max_size=8))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    odd_text,
    st.sampled_from(ODD_REFERENCES),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=4),
    max_leaves=16,
)
references = st.one_of(st.sampled_from(ODD_REFERENCES), st.text(max_size=16))
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 1.7976931348623157e308, 5e-324, 0.1]),
)
dates = st.one_of(
    st.sampled_from(
        [
            "0001-01-01",
            "9999-12-31",
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00+14:00",
            "2020-02-30",
            "2020",
            "2020-13",
            "2020-01-01T10:00:00.123456789Z",
        ]
    ),
    odd_text,
)
fhirish_values = st.one_of(
    json_values,
    st.builds(lambda r: {"reference": r}, references),
    st.builds(lambda r: [{"reference": r}], references),
    st.builds(
        lambda v, u, c, s: {"value": v, "unit": u, "code": c, "system": s},
        numbers,
        odd_text,
        odd_text,
        odd_text,
    ),
    st.builds(lambda f, g: [{"family": f, "given": [g]}], odd_text, odd_text),
    st.builds(lambda s, e: {"start": s, "end": e}, dates, dates),
    dates,
    st.builds(
        lambda t: [{"resourceType": t, "id": "c1"}],
        st.sampled_from(["", "Foo", "Patient", "Resource", "HumanName", "Patient "]) | json_scalars,
    ),
    st.builds(lambda u: [{"url": u, "valueString": "x"}], json_scalars),
)


TEMPLATES: dict[str, dict[str, Any]] = {
    "Patient": patient(
        identifier=[{"system": "http://fhir.hl7.org.vn/core/sid/cccd", "value": "001090000101"}],
        telecom=[{"system": "phone", "value": "0900000000"}],
        address=[{"city": "Hà Nội", "line": ["1 Tràng Tiền"], "country": "VN"}],
        generalPractitioner=[{"reference": "http://other.example/fhir/Practitioner/1"}],
    ),
    "Observation": {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://x.example/cat", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "SBP"}]},
        "effectiveDateTime": "2026-01-10T08:00:00+07:00",
        "valueQuantity": {
            "value": 120.5,
            "comparator": "<",
            "unit": "mmHg",
            "system": "http://unitsofmeasure.org",
            "code": "mm[Hg]",
        },
        "component": [{"code": {"text": "nhịp tim"}, "valueQuantity": {"value": 72}}],
    },
    "Encounter": {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://x.example/act", "code": "AMB"},
        "type": [{"coding": [{"system": "http://x.example/type", "code": "checkup"}]}],
        "period": {"start": "2026-01-01T08:00:00Z", "end": "2026-01-01T09:00:00Z"},
        "length": {"value": 60, "unit": "min", "system": "http://unitsofmeasure.org"},
    },
}


EXAMPLES = {
    path.name: json.loads(path.read_text("utf-8"))
    for path in sorted(
        (Path(__file__).resolve().parents[1] / "fixtures" / "r4-examples").glob("*.json")
    )
}


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() if k != "resourceType" for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


@st.composite
def mutated(draw: st.DrawFn, res_type: str | None = None) -> dict[str, Any]:
    """A valid resource (``res_type``'s template, else an R4 example) with one or two
    leaves replaced by something odd: such bodies get past parsing, deep into the store."""
    if res_type is None:
        body = json.loads(json.dumps(EXAMPLES[draw(st.sampled_from(sorted(EXAMPLES)))]))
        res_type = body["resourceType"]
    else:
        body = json.loads(json.dumps(TEMPLATES[res_type]))
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(_leaves(body)))
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        old = parent[path[-1]]
        if isinstance(old, str):
            new = draw(st.one_of(odd_text, references, st.text(min_size=250, max_size=1100)))
        elif isinstance(old, bool) or old is None:
            new = draw(json_values)
        elif isinstance(old, int | float):
            new = draw(numbers)
        else:
            new = draw(json_values)
        parent[path[-1]] = new
    if draw(st.booleans()):
        reference = draw(references)
        if res_type == "Patient":
            body["managingOrganization"] = {"reference": reference}
        else:
            body["subject"] = {"reference": reference}
    return body


@st.composite
def loose_resources(draw: st.DrawFn, res_type: str) -> dict[str, Any]:
    """Random elements with random values under a resourceType: mostly invalid."""
    body: dict[str, Any] = {"resourceType": res_type}
    reference = {"reference": draw(references)}
    if draw(st.booleans()):
        body["generalPractitioner" if res_type == "Patient" else "subject"] = reference
    body.update(draw(st.dictionaries(keys, fhirish_values, max_size=3)))
    return body


def resources(res_type: str | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Something shaped like a resource (of ``res_type``), valid or not."""
    kinds = st.just(res_type) if res_type else st.sampled_from(TYPES)
    return kinds.flatmap(
        lambda kind: st.one_of(mutated(kind), mutated(kind), loose_resources(kind))
    )


@pytest.fixture
def _without_person_linking() -> None:
    """Overrides the FHIR core tests' fixture: fuzz the real app, person linking included."""


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """The app's settings without the rate limit: fuzzing sends many requests a minute."""
    return settings.model_copy(update={"rate_limit_per_minute": 0})


@pytest.fixture
def seeded(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A Patient, an Encounter and an Observation that refer to each other."""
    pid = client.post("/fhir/Patient", json=patient()).json()["id"]
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": f"Patient/{pid}"},
    }
    eid = client.post("/fhir/Encounter", json=encounter).json()["id"]
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "encounter": {"reference": f"Encounter/{eid}"},
        "effectiveDateTime": "2026-01-10",
        "valueQuantity": {"value": 120, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
    }
    oid = client.post("/fhir/Observation", json=observation).json()["id"]
    return {"Patient": pid, "Encounter": eid, "Observation": oid}


def _send(client, method: str, url: str, body: Any = None, **headers: Any) -> httpx.Response:  # type: ignore[no-untyped-def]
    """``url`` as given (a path with its query), ``body`` JSON-encoded unless it is bytes."""
    content: bytes | None = None
    if isinstance(body, bytes):
        content = body
    elif body is not None:
        content = json.dumps(body).encode()  # stdlib json: integers of any size, \ud800 escaped
        headers.setdefault("Content-Type", FHIR_JSON)
    return client.request(method, httpx.URL(BASE + url), content=content, headers=headers)


def _query(pairs: list[tuple[str, str]]) -> str:
    """A query string; lone surrogates go out as their (invalid) UTF-8 bytes."""
    return urlencode(pairs, errors="surrogatepass")


def assert_no_server_error(response: httpx.Response, store_counts=None, before=None) -> None:  # type: ignore[no-untyped-def]
    """Below 500; a 4xx is an OperationOutcome; a failed request wrote nothing."""
    request = response.request
    where = f"{request.method} {request.url} -> {response.status_code}: {response.text[:500]}"
    assert response.status_code < 500, where
    if response.status_code >= 400 and request.method != "HEAD":  # HEAD answers have no body
        assert response.headers["content-type"].startswith(FHIR_JSON), where
        body = response.json()
        assert body["resourceType"] == "OperationOutcome" and body["issue"], where
        # A refused access (403) is audited by design, in a unit of work of its own.
        if store_counts is not None and response.status_code != 403:
            assert store_counts() == before, where


def _check_bundle_response(response: httpx.Response) -> None:
    if response.status_code != 200 or response.request.method != "POST":
        return
    body = response.json()
    if body.get("resourceType") != "Bundle":
        return
    for entry in body.get("entry", []):
        status = int(entry["response"]["status"].split()[0])
        assert status < 500, entry
        if status >= 400:
            assert entry["response"]["outcome"]["resourceType"] == "OperationOutcome", entry


# --- bodies of creates, updates and patches ------------------------------------------------

content_types = st.sampled_from(
    [
        FHIR_JSON,
        "application/json",
        "application/json-patch+json",
        "text/json",
        "application/fhir+json; charset=utf-8",
        "application/fhir+json; charset=latin-1",
        "application/fhir+xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "",
        ";",
        "application/fhir+json;;;=",
        "*/*",
    ]
)
raw_bodies = st.one_of(
    st.sampled_from(
        [
            b"",
            b" ",
            b"{",
            b"[]",
            b"null",
            b"\xff\xfe",
            b'{"resourceType": "Patient"',
            b'{"resourceType": "Patient", "name": [{"family": "\\ud800"}]}',
            b'{"resourceType": "Patient", "id": 1e999}',
            b'{"resourceType": "Patient", "multipleBirthInteger": 123456789012345678901234567890}',
            b"[" * 70 + b"]" * 70,
            b'{"resourceType":"Patient","a":' * 40 + b"1" + b"}" * 40,
            b"name=x&gender=male",
        ]
    ),
    st.binary(max_size=40),
)


@_fuzz(60)
@given(data=st.data())
def test_fuzz_random_bodies_for_create_update_and_patch(client, store_counts, seeded, data):
    method = data.draw(st.sampled_from(["POST", "PUT", "PATCH", "POST", "PUT"]))
    res_type = data.draw(st.sampled_from(TYPES))
    res_id = data.draw(st.sampled_from([seeded[res_type], "new-1", "x" * 64, "a.b-c"]))
    body: Any = data.draw(
        st.one_of(resources(res_type), resources(), json_values, raw_bodies), label="body"
    )
    if method == "PUT" and isinstance(body, dict) and data.draw(st.booleans()):
        body["id"] = res_id
    url = f"/fhir/{res_type}" if method == "POST" else f"/fhir/{res_type}/{res_id}"
    headers = {"Content-Type": data.draw(content_types)}
    before = store_counts()
    response = _send(client, method, url, body, **headers)
    assert_no_server_error(response, store_counts, before)


@_fuzz(60)
@given(body=mutated())
def test_fuzz_mutated_r4_examples_are_stored_or_refused(client, store_counts, body):
    before = store_counts()
    method, url = "POST", f"/fhir/{body['resourceType']}"
    if isinstance(body.get("id"), str) and body["id"]:
        method, url = (
            "PUT",
            f"/fhir/{body['resourceType']}/{quote(body['id'], safe='', errors='surrogatepass')}",
        )
    assert_no_server_error(_send(client, method, url, body), store_counts, before)


# In process, without HTTP: what validation lets through must index into the columns. Fast,
# so many more examples than through the app.

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = load_registry(ROOT / "fhir_profiles")
COLUMN_LENGTHS = {
    (kind, column.name): column.type.length
    for kind, model in SEARCH_TABLES.items()
    for column in model.__table__.columns  # type: ignore[attr-defined]
    if getattr(column.type, "length", None)
}


@_fuzz(200)
@given(value=st.one_of(mutated(), resources()))
def test_fuzz_what_validates_also_indexes_within_the_columns(value):
    try:
        body = parse_json(json.dumps(value).encode(), max_depth=64)  # as the server reads it
        validate_structure(body)
    except FhirError as error:
        assert 400 <= error.status < 500
        return
    orjson.dumps(body)
    for kind, code, value in extract_all(body, REGISTRY):
        for column, item in vars(value).items():
            if isinstance(item, str):
                assert "\x00" not in item, (kind, code, column)
                limit = COLUMN_LENGTHS.get((kind, column), len(item))
                assert len(item) <= limit, (kind, code, column, item[:80])


@_fuzz(40)
@given(data=st.data())
def test_fuzz_patient_match_parameters(client, store_counts, seeded, data):
    parameter = st.one_of(
        st.builds(lambda r: {"name": "resource", "resource": r}, resources("Patient")),
        st.builds(lambda v: {"name": "count", "valueInteger": v}, json_scalars),
        st.builds(lambda v: {"name": "onlyCertainMatches", "valueBoolean": v}, json_scalars),
        json_values,
    )
    parameters = data.draw(st.one_of(st.lists(parameter, max_size=3), json_values), label="p")
    body = data.draw(
        st.one_of(
            st.just({"resourceType": "Parameters", "parameter": parameters}),
            resources("Patient"),
            json_values,
        ),
        label="body",
    )
    before = store_counts()
    response = _send(client, "POST", "/fhir/Patient/$match", body)
    assert_no_server_error(response, store_counts, before)


OPERATION_ROUTES = tuple(route for route in ROUTES if route.interaction.startswith("$"))
PARAMETER_NAMES = (
    "resource",
    "person",
    "source",
    "target",
    "other",
    "change",
    "reason",
    "profile",
    "mode",
    "system",
    "code",
    "version",
    "displayLanguage",
    "count",
    "onlyCertainMatches",
)
VALUE_KEYS = (
    "valueReference",
    "valueString",
    "valueInteger",
    "valueBoolean",
    "valueCode",
    "valueUri",
    "valueCanonical",
    "valueCoding",
    "resource",
)


@_fuzz(60)
@given(data=st.data())
def test_fuzz_every_operation_with_random_parameters(client, store_counts, seeded, data):
    """Every ``$``-operation the router knows (person index, validation, lookup, match), at
    type and instance level, with Parameters bodies of any names, types and values,
    references to real and unknown records, and random query strings."""
    route = data.draw(st.sampled_from(OPERATION_ROUTES), label="route")
    res_type = data.draw(st.sampled_from(route.types or TYPES), label="type")
    segments = []
    for part in route.shape:
        if part == "{type}":
            segments.append(res_type)
        elif part == "{id}":
            known = seeded.get(res_type, "unknown-id")
            segments.append(data.draw(st.sampled_from([known, "unknown-id", "a" * 64])))
        else:
            segments.append(part)
    patient = client.get(f"/fhir/Patient/{seeded['Patient']}").json()
    persons = [link["other"]["reference"] for link in patient.get("link", [])]
    reference = st.one_of(
        st.sampled_from([f"{t}/{i}" for t, i in seeded.items()] + persons),
        st.sampled_from(["Patient/unknown-id", "Patient/", "Task/x", "", "Patient/a b"]),
        st.text(max_size=12),
    )
    value = st.one_of(
        json_values,
        st.builds(lambda r: {"reference": r}, reference),
        resources(),
        st.builds(lambda s, c: {"system": s, "code": c}, st.text(max_size=8), st.text(max_size=8)),
    )
    parameter = st.builds(
        lambda name, key, v: {"name": name, key: v},
        st.one_of(st.sampled_from(PARAMETER_NAMES), st.text(max_size=8)),
        st.sampled_from(VALUE_KEYS),
        value,
    )
    parameters = st.one_of(st.lists(parameter, max_size=4), json_values)
    body = data.draw(
        st.one_of(
            st.builds(lambda p: {"resourceType": "Parameters", "parameter": p}, parameters),
            resources(),
            json_values,
            st.none(),
        ),
        label="body",
    )
    pairs = data.draw(
        st.lists(st.tuples(st.sampled_from(PARAMETER_NAMES), st.text(max_size=12)), max_size=3),
        label="query",
    )
    url = "/fhir/" + "/".join(segments) + (f"?{_query(pairs)}" if pairs else "")
    before = store_counts()
    response = _send(client, route.method, url, body)
    assert_no_server_error(response, store_counts, before)


# --- batch and transaction bundles -----------------------------------------------------------

entry_urls = st.one_of(
    st.sampled_from(
        [
            "Patient",
            "Observation",
            "Encounter",
            "Patient/new-2",
            "Patient?name=Trần",
            "Patient?identifier=",
            "Patient?_count=1",
            "Patient?bogus=1",
            "Patient/$foo",
            "metadata",
            "_history",
            "/",
            "?x=y",
            "//[x",
            "//x/Patient",
            "http://other.example/fhir/Patient",
            "http://testserver/fhir/Patient",
            "Patient/x/_history/1",
            "Patient/" + "a" * 65,
            "Patient?_count=abc",
            "Spaceship",
            "Patient/%00",
            "Patient/a b",
            "Patient#x",
        ]
    ),
    st.text(max_size=12),
)
methods = st.one_of(
    st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
    st.sampled_from(["get", "", "OPTIONS", None, 5, ["POST"]]),
)
full_urls = st.one_of(
    st.sampled_from(
        [None, UUID_A, UUID_B, "urn:uuid:", "Patient/x", "", "urn:oid:1.2", 5, ["x"], {}]
    ),
    st.sampled_from(ODD_REFERENCES),
    st.text(max_size=10),
)
conditions = st.one_of(
    st.sampled_from(
        ["name=Trần", "identifier=", "_count=1", "bogus=1", "%%%", "=", "_id=x", "name:foo=x"]
    ),
    st.text(max_size=10),
)


def _binary(payload: Any) -> dict[str, Any]:
    return {"resourceType": "Binary", "data": payload}


binary_patches = st.one_of(
    st.builds(lambda v: _binary(base64.b64encode(json.dumps(v).encode()).decode()), json_values),
    st.builds(_binary, json_values),
)


@st.composite
def bundle_entries(draw: st.DrawFn, seeded: dict[str, str]) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    method = draw(st.one_of(st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET"]), methods))
    res_type = draw(st.sampled_from(TYPES))
    url = draw(
        st.one_of(
            st.sampled_from([res_type, f"{res_type}/{seeded[res_type]}", f"{res_type}?_id=x"]),
            entry_urls,
        )
    )
    request: dict[str, Any] = {"method": method, "url": url}
    for name in ("ifNoneExist", "ifMatch", "ifNoneMatch", "ifModifiedSince"):
        if draw(st.integers(0, 5)) == 0:
            request[name] = draw(st.one_of(conditions, json_values))
    entry: dict[str, Any] = {"request": request}
    if draw(st.integers(0, 9)) == 0:
        entry["request"] = draw(json_values)
    full_url = draw(full_urls)
    if full_url is not None:
        entry["fullUrl"] = full_url
    if method == "PATCH":
        resource = draw(st.one_of(binary_patches, json_values))
    else:
        resource = draw(st.one_of(resources(res_type), resources(), json_values))
    if resource is not None:
        entry["resource"] = resource
    return entry


@_fuzz(60)
@given(data=st.data())
def test_fuzz_random_bundles(client, store_counts, seeded, data):
    body = {
        "resourceType": data.draw(st.sampled_from(["Bundle"] * 6 + ["Patient", None])),
        "type": data.draw(st.sampled_from(["batch", "transaction"] * 3 + ["collection", None])),
        "entry": data.draw(st.lists(bundle_entries(seeded), max_size=4), label="entries"),
    }
    before = store_counts()
    response = _send(client, "POST", "/fhir", body)
    assert_no_server_error(response, store_counts, before)
    _check_bundle_response(response)


# --- search query strings --------------------------------------------------------------------

SEARCH_PARAMS = {
    "Patient": (
        "name",
        "family",
        "given",
        "birthdate",
        "gender",
        "identifier",
        "general-practitioner",
        "organization",
        "link",
        "phone",
        "address-city",
        "active",
        "death-date",
    ),
    "Observation": (
        "subject",
        "patient",
        "code",
        "date",
        "value-quantity",
        "status",
        "encounter",
        "performer",
        "category",
        "value-string",
        "combo-code",
        "code-value-quantity",
    ),
    "Encounter": (
        "subject",
        "patient",
        "class",
        "date",
        "status",
        "type",
        "participant",
        "length",
        "service-provider",
        "location",
    ),
}
COMMON_PARAMS = ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_text", "_content")
MODIFIERS = (
    "",
    ":exact",
    ":contains",
    ":missing",
    ":not",
    ":text",
    ":below",
    ":above",
    ":in",
    ":identifier",
    ":Patient",
    ":Practitioner",
    ":foo",
    ":",
    "::",
)
CHAINS = (
    "",
    ".name",
    ".family",
    ".x.y",
    ".birthdate",
    ".organization.name",
    "._id",
    ".",
    ".gender:not",
)
PREFIXES = ("", "", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap", "zz", "e")
ATOMS = (
    "",
    "1",
    "-1",
    "0",
    "1.50",
    "1e309",
    "1e-400",
    "1.5e2",
    "99999999999999999999",
    "9999-12-31T23:59:59Z",
    "9999-12-31",
    "0000",
    "0001",
    "2020",
    "2020-02-30",
    "2020-13",
    "2020-01-01T25:00",
    "2020-01-01T10:00:00+15:00",
    "2026-01-10T00:00:00.1234567Z",
    "true",
    "false",
    "male",
    "Patient/x",
    "Patient/",
    "/Patient/x",
    "Patient?",
    "?x=y",
    "urn:uuid:",
    "http://loinc.org|8480-6",
    "120|http://unitsofmeasure.org|mm[Hg]",
    "120||mm[Hg]",
    "|",
    "||",
    "a|",
    "|b",
    "\\",
    "\\,",
    "\\|",
    "\\\\",
    "%",
    "%25",
    "_",
    "*",
    "é",
    "Nguyễn",
    "Trần",
    "x" * 70,
)
atoms = st.one_of(st.sampled_from(ATOMS), st.sampled_from(ODD_TEXT), st.text(max_size=8))
search_values = st.lists(
    st.builds(lambda p, a: p + a, st.sampled_from(PREFIXES), atoms), min_size=1, max_size=3
).map(",".join)


@st.composite
def cursors(draw: st.DrawFn) -> str:
    """Forged ``_cursor`` tokens: garbage, and well-formed encodings of odd payloads."""
    if draw(st.booleans()):
        return draw(st.one_of(st.sampled_from(["", "=", "eyJ", "W10", "!!!", "a" * 9000]), atoms))
    keys = draw(st.lists(st.one_of(json_scalars, st.integers(-(2**80), 2**80)), max_size=3))
    rid = draw(st.one_of(st.integers(-(2**80), 2**80), json_scalars))
    version = draw(st.sampled_from([1, 1, 2, "1"]))
    direction = draw(st.sampled_from(["n", "p", "x"]))
    signature = draw(st.sampled_from(["", "family", "-date", "_id", "birthdate,-_lastUpdated"]))
    payload = json.dumps([version, direction, signature, keys, rid]).encode()
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


@st.composite
def search_pairs(draw: st.DrawFn, res_type: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(
            st.one_of(
                st.sampled_from(SEARCH_PARAMS[res_type]),
                st.sampled_from(COMMON_PARAMS),
                st.sampled_from(SEARCH_PARAMS["Patient"]),
                st.text(max_size=8),
            )
        )
        name += draw(st.sampled_from(MODIFIERS)) + draw(st.sampled_from(CHAINS))
        pairs.append((name, draw(search_values)))
    sort_keys = st.one_of(
        st.sampled_from(SEARCH_PARAMS[res_type] + COMMON_PARAMS + ("", "-", "--x", "a:b")),
        st.text(max_size=6),
    )
    result = {
        "_sort": st.lists(
            st.builds(lambda d, k: d + k, st.sampled_from(["", "-"]), sort_keys), max_size=4
        ).map(",".join),
        "_count": st.sampled_from(["-1", "0", "1", "1000", "1001", "99999999999", "1e3", "²", ""]),
        "_include": st.sampled_from(
            [
                "Observation:subject",
                "Observation:subject:Patient",
                "Observation:subject:Spaceship",
                "Encounter:*",
                "Patient:*:Foo",
                "*",
                ":",
                "Foo:bar",
                "Patient:general-practitioner",
                "Patient:name",
            ]
        )
        | atoms,
        "_revinclude": st.sampled_from(
            ["Observation:subject", "Observation:*", "Encounter:patient:Patient", "*", "x:y:z:w"]
        )
        | atoms,
        "_include:iterate": atoms,
        "_cursor": cursors(),
        "_since": st.sampled_from(ATOMS),
        "_summary": st.sampled_from(["true", "false", "count", "text", "data", "x"]),
        "_elements": st.sampled_from(["name", "name,gender", "a.b", "1x", ",", "*"]) | atoms,
        "_total": st.sampled_from(["none", "estimate", "accurate", "x"]),
        "_format": st.sampled_from(["json", "application/fhir+json", "xml", "x"]),
        "_pretty": st.sampled_from(["true", "false", "1"]),
        "_type": st.sampled_from(["Patient", "Patient,Observation", "x"]),
        "_has:Observation:subject:code": atoms,
    }
    for name in draw(st.lists(st.sampled_from(sorted(result)), max_size=4)):
        pairs.append((name, draw(result[name])))
    return draw(st.permutations(pairs))


raw_query_tails = st.sampled_from(
    ["", "", "", "&%zz=1", "&a=%ED%A0%80", "&=", "&&", "&x", "&%00=1", "&name=%00", "&;", "&_count"]
)


@_fuzz(80)
@given(data=st.data())
def test_fuzz_random_search_query_strings(client, seeded, data):
    res_type = data.draw(st.sampled_from(TYPES))
    pairs = data.draw(search_pairs(res_type), label="params")
    headers = {"Prefer": "handling=strict"} if data.draw(st.booleans()) else {}
    if data.draw(st.integers(0, 4)) == 0:
        response = _send(
            client,
            "POST",
            f"/fhir/{res_type}/_search",
            _query(pairs).encode(),
            **headers,
            **{"Content-Type": "application/x-www-form-urlencoded"},
        )
    else:
        tail = data.draw(raw_query_tails)
        response = _send(client, "GET", f"/fhir/{res_type}?{_query(pairs)}{tail}", **headers)
    assert_no_server_error(response)
    if response.status_code == 200 and data.draw(st.booleans()):
        # Follow the paging links the server made: they must work too.
        for link in response.json().get("link", []):
            if link["relation"] in ("next", "previous"):
                assert_no_server_error(client.get(link["url"]))


@_fuzz(30)
@given(res_type=st.sampled_from([*TYPES, None]), params=st.data())
def test_fuzz_history_parameters(client, seeded, res_type, params):
    pairs = [
        (name, params.draw(st.one_of(atoms, cursors()), label=name))
        for name in params.draw(st.lists(st.sampled_from(["_count", "_since", "_cursor", "_x"])))
    ]
    path = "/fhir/_history" if res_type is None else f"/fhir/{res_type}/_history"
    if res_type is not None and params.draw(st.booleans()):
        path = f"/fhir/{res_type}/{seeded[res_type]}/_history"
    assert_no_server_error(_send(client, "GET", f"{path}?{_query(pairs)}"))


# --- paths -------------------------------------------------------------------------------------

SEGMENTS = (
    "Patient",
    "Observation",
    "Encounter",
    "Spaceship",
    "patient",
    "_history",
    "_search",
    "$foo",
    "$everything",
    "$match",
    "$",
    "_",
    "metadata",
    "fhir",
    "x",
    "1",
    "²",
    "%00",
    "%2F",
    "%ED%A0%80",
    "%zz",
    "%20",
    "a" * 64,
    "a" * 65,
    "..",
    ".",
    "-",
    "Patient%2Fx",
    "abc",
    "99999999999999999999999",
)


@_fuzz(60)
@given(data=st.data())
def test_fuzz_random_paths(client, store_counts, seeded, data):
    res_type = data.draw(st.sampled_from(TYPES))
    odd = st.one_of(st.sampled_from(SEGMENTS), st.text(max_size=6).map(lambda s: quote(s, safe="")))
    res_id = st.one_of(st.just(seeded[res_type]), odd)
    shaped = st.sampled_from(
        [
            [res_type, res_id],
            [res_type, res_id, st.just("_history"), odd],
            [res_type, res_id, st.just("_history")],
            [res_type, odd],
            [res_type, res_id, odd],
            [odd, odd, odd],
        ]
    ).flatmap(lambda shape: st.tuples(*(st.just(p) if isinstance(p, str) else p for p in shape)))
    segments = data.draw(st.one_of(shaped, st.lists(odd, max_size=5)), label="segments")
    separator = data.draw(st.sampled_from(["/", "/", "//"]))
    path = data.draw(st.sampled_from(["/fhir/", "/fhir//", "//fhir//", "/fhir"])) + separator.join(
        segments
    )
    method = data.draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]))
    body = None
    if method in ("POST", "PUT", "PATCH"):
        body = data.draw(st.one_of(st.none(), resources(), st.just([])))
    before = store_counts()
    response = _send(client, method, path, body)
    assert_no_server_error(response, store_counts, before)


# --- headers -----------------------------------------------------------------------------------

header_text = st.one_of(
    st.sampled_from(
        [
            "",
            "*",
            'W/"1"',
            'W/"0"',
            'W/""',
            'W/"²"',
            'W/"' + "9" * 5000 + '"',
            '"1"',
            "1",
            "W/1",
            "w/'1'",
            "-1",
            "name=Trần",
            "identifier=",
            "_count=1",
            "bogus=1",
            "name:foo=x",
            "%%%",
            "=",
            "?",
            "Patient?name=x",
            "return=minimal",
            "return=representation",
            "return=OperationOutcome",
            "handling=strict",
            "handling=lenient, return=minimal",
            "respond-async",
            ";;,,==",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Mon, 01 Jan 99999 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "application/fhir+xml",
            "application/xml, text/xml",
            "application/fhir+json; fhirVersion=4.0",
            "text/html;q=0.1, */*;q=0",
        ]
    ),
    # Any Latin-1 text a header can carry (no control characters).
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
        max_size=20,
    ),
)
HEADERS = (
    "If-Match",
    "If-Match",
    "If-None-Match",
    "If-None-Exist",
    "If-None-Exist",
    "If-Modified-Since",
    "Prefer",
    "Content-Type",
    "Accept",
    "Content-Length",
    "X-Break-Glass-Reason",
)


@_fuzz(60)
@given(data=st.data())
def test_fuzz_odd_headers(client, store_counts, seeded, data):
    res_type = data.draw(st.sampled_from(TYPES))
    res_id = seeded[res_type]
    kind = data.draw(st.sampled_from(["read", "create", "update", "delete", "search", "patch"]))
    method, url, body = {
        "read": ("GET", f"/fhir/{res_type}/{res_id}", None),
        "create": ("POST", f"/fhir/{res_type}", data.draw(resources(res_type))),
        "update": ("PUT", f"/fhir/{res_type}/{res_id}", None),
        "delete": ("DELETE", f"/fhir/{res_type}/{res_id}", None),
        "search": ("GET", f"/fhir/{res_type}?_count=2", None),
        "patch": (
            "PATCH",
            f"/fhir/{res_type}/{res_id}",
            [{"op": "add", "path": "/id", "value": res_id}],
        ),
    }[kind]
    if kind == "update":
        fallback = data.draw(
            resources(res_type)
        )  # drawn always: draws must not depend on the store
        current = client.get(f"/fhir/{res_type}/{res_id}")
        body = current.json() if current.status_code == 200 else fallback
        body["id"] = res_id
    names = data.draw(st.sets(st.sampled_from(HEADERS), min_size=1, max_size=3))
    # As bytes, Latin-1 (what HTTP servers decode) or UTF-8 (what clients also send).
    encoding = data.draw(st.sampled_from(["latin-1", "utf-8"]))
    headers = {
        name: data.draw(header_text, label=name).encode(encoding, errors="replace")
        for name in names
    }
    content = json.dumps(body).encode() if body is not None else None
    if content is not None and "Content-Type" not in headers:
        headers["Content-Type"] = FHIR_JSON.encode()
    before = store_counts()
    try:
        response = client.request(method, httpx.URL(BASE + url), content=content, headers=headers)
    except (httpx.LocalProtocolError, ValueError):
        return  # the client itself refuses to send it (an invalid Content-Length)
    assert_no_server_error(response, store_counts, before)


# --- JSON Patch --------------------------------------------------------------------------------

TOKENS = (
    "name",
    "0",
    "1",
    "-",
    "family",
    "given",
    "meta",
    "id",
    "resourceType",
    "extension",
    "contained",
    "text",
    "birthDate",
    "gender",
    "identifier",
    "~0",
    "~1",
    "~2",
    "~",
    "",
    "01",
    "99999999999999999999",
    "-1",
)
pointers = st.one_of(
    st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), max_size=5).map(
        lambda parts: "".join("/" + p for p in parts)
    ),
    st.sampled_from(["", "/", "name", "//", "#/name"]),
    json_scalars,
)


@st.composite
def patch_operations(draw: st.DrawFn) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "op": draw(
            st.one_of(
                st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]),
                st.sampled_from(["bogus", "", None, 1, ["add"], "ADD"]),
            )
        ),
        "path": draw(pointers),
    }
    if draw(st.booleans()):
        operation["value"] = draw(st.one_of(fhirish_values, json_values))
    if draw(st.integers(0, 3)) == 0:
        operation["from"] = draw(pointers)
    if draw(st.integers(0, 9)) == 0:
        del operation[draw(st.sampled_from(["op", "path"]))]
    return operation


@_fuzz(80)
@given(data=st.data())
def test_fuzz_random_json_patches(client, store_counts, seeded, data):
    res_type = data.draw(st.sampled_from(TYPES))
    body: Any = data.draw(
        st.one_of(
            st.lists(patch_operations(), min_size=1, max_size=4),
            json_values,
            st.just({"resourceType": "Parameters", "parameter": []}),
        ),
        label="patch",
    )
    before = store_counts()
    if data.draw(st.integers(0, 3)) == 0:  # in a transaction, as a Binary
        data_text = base64.b64encode(json.dumps(body).encode()).decode()
        bundle = {
            "resourceType": "Bundle",
            "type": data.draw(st.sampled_from(["batch", "transaction"])),
            "entry": [
                {
                    "resource": _binary(data_text),
                    "request": {"method": "PATCH", "url": f"{res_type}/{seeded[res_type]}"},
                }
            ],
        }
        response = _send(client, "POST", "/fhir", bundle)
        _check_bundle_response(response)
    else:
        content_type = data.draw(st.sampled_from(["application/json-patch+json", FHIR_JSON]))
        url = f"/fhir/{res_type}/{seeded[res_type]}"
        if data.draw(st.integers(0, 5)) == 0:
            url = f"/fhir/{res_type}?_id={seeded[res_type]}"
        response = _send(client, "PATCH", url, body, **{"Content-Type": content_type})
    assert_no_server_error(response, store_counts, before)


# --- regressions: one per bug the fuzzing found ------------------------------------------------


def _refused(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    return outcome_issue(response)


def test_versions_counts_and_cursors_that_are_no_small_ascii_number_are_4xx(
    client, store_counts, seeded
):
    """``"²".isdigit()`` is true but ``int("²")`` fails; ``int`` refuses 5000 digits; a
    23-digit number binds on no database (500 on SQLite, 503 on PostgreSQL)."""
    patient_url = f"/fhir/Patient/{seeded['Patient']}"
    for version in ("²", "99999999999999999999999"):
        _refused(client.get(f"{patient_url}/_history/{version}"), 404)
    for query in ("_count=²", "_count=" + "9" * 5000, "_cursor=99999999999999999999999"):
        _refused(client.get(f"/fhir/_history?{query}"), 400)
    current = client.get(patient_url).json()
    before = store_counts()
    for tag in (b'W/"\xb2"', ('W/"' + "9" * 5000 + '"').encode()):
        _refused(client.put(patient_url, json=current, headers={"If-Match": tag}), 400)
    assert store_counts() == before


def test_an_id_no_resource_can_have_is_400_before_any_lookup(client, store_counts):
    """NUL in an id reached PostgreSQL (503 on read, delete, patch and history)."""
    before = store_counts()
    for method, path in [
        ("GET", "/fhir/Patient/%00"),
        ("DELETE", "/fhir/Patient/a%00b"),
        ("PATCH", "/fhir/Patient/%00"),
        ("GET", "/fhir/Patient/%00/_history"),
        ("GET", "/fhir/Patient/%00/_history/1"),
        ("GET", "/fhir/Patient/" + "a" * 65),
    ]:
        issue = _refused(_send(client, method, path, [] if method == "PATCH" else None), 400)
        assert "not a valid FHIR id" in issue["diagnostics"]
    assert store_counts() == before


def test_text_with_nul_is_422_on_both_databases(client, store_counts, seeded):
    """SQLite stored it, PostgreSQL refused it in the index tables (503)."""
    before = store_counts()
    issue = _refused(client.post("/fhir/Patient", json=patient(family="a\x00b")), 422)
    assert issue["expression"] == ["Patient.name[0].family"]
    operations = [{"op": "add", "path": "/name/0/family", "value": "\x00"}]
    _refused(_send(client, "PATCH", f"/fhir/Patient/{seeded['Patient']}", operations), 422)
    assert store_counts() == before


def test_reference_types_and_quantity_codes_longer_than_their_columns(client, store_counts):
    """Both went into ``search_reference``/``search_quantity`` before any check (503 on
    PostgreSQL); a reference to a type no server has is now 422, an over-long unit is cut,
    an over-long code or system is not indexed (a cut identifier matches nothing)."""
    observation = TEMPLATES["Observation"]
    before = store_counts()
    overlong = {**observation, "subject": {"reference": "A" * 100 + "/x"}}
    _refused(client.post("/fhir/Observation", json=overlong), 422)
    assert store_counts() == before
    for field, text in [("unit", "u" * 300), ("code", "c" * 300), ("system", "s" * 600)]:
        quantity = {**observation["valueQuantity"], field: text}
        response = client.post("/fhir/Observation", json={**observation, "valueQuantity": quantity})
        assert response.status_code == 201, response.text
    found = client.get(
        "/fhir/Observation", params={"value-quantity": "120.5", "_total": "accurate"}
    )
    assert (
        found.json()["total"] == 1
    )  # the one with the long unit; long code or system: not indexed


def test_a_search_too_big_to_parse_or_plan_is_400(client, seeded):
    """2000 values ORed, or 1200 parameters ANDed: SQLite refused the expression (503) and
    PostgreSQL planned for minutes."""
    values = ",".join(f"v{i}" for i in range(2000))
    for query in (
        f"code={values}",
        "&".join(f"code=v{i}" for i in range(1200)),
        "&".join(f"code={','.join(['x'] * 100)}" for _ in range(3)),
        "&".join(
            f"_include=Observation:*:T{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(40)
        ),
    ):
        _refused(client.get(f"/fhir/Observation?{query}"), 400)
    at_the_limits = "&".join(f"code=c{i}" for i in range(31)) + "&status=" + ",".join(["x"] * 128)
    assert client.get(f"/fhir/Observation?{at_the_limits}").status_code == 200


def test_bundle_entries_with_urls_and_patches_that_do_not_parse(client, store_counts, seeded):
    """``//[x`` made ``urlsplit`` raise, a Binary's ``data`` that is not text made
    ``b64decode`` raise, and a base64 patch skipped the nesting limit (RecursionError)."""
    target = f"Patient/{seeded['Patient']}"
    deep: Any = "v"
    for _ in range(300):
        deep = [deep]
    deep_patch = base64.b64encode(
        json.dumps([{"op": "add", "path": "/extension", "value": deep}]).encode()
    ).decode()
    before = store_counts()
    for bundle_type, entry in [
        ("batch", {"request": {"method": "GET", "url": "//[x"}}),
        ("transaction", {"request": {"method": "PATCH", "url": target}, "resource": _binary(5)}),
        ("batch", {"request": {"method": "PATCH", "url": target}, "resource": _binary(["x"])}),
        (
            "transaction",
            {"request": {"method": "PATCH", "url": target}, "resource": _binary(deep_patch)},
        ),
        # A batch inside a batch is no FHIR interaction.
        (
            "batch",
            {
                "request": {"method": "POST", "url": "/"},
                "resource": {"resourceType": "Bundle", "type": "batch"},
            },
        ),
    ]:
        bundle = {"resourceType": "Bundle", "type": bundle_type, "entry": [entry]}
        _refused(_send(client, "POST", "/fhir", bundle), 400)
    assert store_counts() == before


def test_patches_cannot_nest_a_resource_deeper_than_a_body_may_be(client, seeded):
    """Each patch could add a body's worth of depth, making a resource no client can PUT."""
    url = f"/fhir/Patient/{seeded['Patient']}"
    value: Any = {"url": "http://example.org/x", "valueString": "v"}
    for _ in range(25):
        value = {"url": "http://example.org/x", "extension": [value]}
    path = "/extension"
    for _ in range(3):
        response = _send(client, "PATCH", url, [{"op": "add", "path": path, "value": [value]}])
        if response.status_code != 200:
            break
        path += "/0" + "/extension/0" * 25 + "/extension"
    assert _refused(response, 422)["diagnostics"].startswith("the patched resource would be")
    again = client.get(url).json()
    assert client.put(url, json=again).status_code == 200  # what is stored can be sent back


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({"_active": "1"}, "Patient._active"),  # parsed as JSON by the models: AttributeError
        ({"_gender": "[]"}, "Patient._gender"),
        ({"name": [{"_given": [None]}]}, "Patient.name[0]._given"),  # null for no value
        ({"contained": [{"resourceType": "Foo", "id": "c"}]}, "Patient.contained[0]"),  # KeyError
        ({"contained": [{"resourceType": "", "id": "c"}]}, "Patient.contained[0]"),
        ({"photo": [{"url": True}]}, None),  # a url that is no text: AttributeError in the models
    ],
)
def test_json_the_fhir_models_crashed_on_is_422(client, store_counts, extra, where):
    before = store_counts()
    issue = _refused(client.post("/fhir/Patient", json={**patient(), **extra}), 422)
    if where is not None:
        assert issue["expression"] == [where]
    assert store_counts() == before


def test_patient_match_parameter_must_be_an_array(client):
    body = {"resourceType": "Parameters", "parameter": True}
    _refused(_send(client, "POST", "/fhir/Patient/$match", body), 400)


def test_conditions_that_select_nothing_are_400_not_a_match_on_everything(
    client, store_counts, seeded
):
    """``identifier=`` (empty, so ignored) or only result parameters matched every resource:
    If-None-Exist returned some unrelated Patient and created nothing, a conditional update
    or delete hit the only Patient there was, a conditional reference resolved to it."""
    patient_url = f"/fhir/Patient/{seeded['Patient']}"
    original = client.get(patient_url).json()
    before = store_counts()
    for criteria in ("identifier=", "_count=1", "_sort=family", "name="):
        response = client.post("/fhir/Patient", json=patient(), headers={"If-None-Exist": criteria})
        _refused(response, 400)
    _refused(client.put("/fhir/Patient?identifier=", json=patient(family="Khác")), 400)
    _refused(client.delete("/fhir/Patient?identifier="), 400)
    observation = {**TEMPLATES["Observation"], "subject": {"reference": "Patient?identifier="}}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": observation, "request": {"method": "POST", "url": "Observation"}}],
    }
    _refused(_send(client, "POST", "/fhir", bundle), 400)
    assert store_counts() == before
    assert client.get(patient_url).json()["meta"] == original["meta"]


@pytest.mark.parametrize(
    "reference", ["Patient/", "/Patient/x", "Patient//x", "Patient?identifier=x"]
)
def test_a_relative_reference_that_can_never_resolve_is_422(client, store_counts, reference):
    """Stored as given before (``Patient?...`` resolves only in a transaction)."""
    before = store_counts()
    observation = {**TEMPLATES["Observation"], "subject": {"reference": reference}}
    issue = _refused(client.post("/fhir/Observation", json=observation), 422)
    assert issue["expression"] == ["Observation.subject"]
    assert store_counts() == before


def test_a_transaction_conditional_update_with_an_invalid_body_id_is_400(client, store_counts):
    """It became the path ``Patient/a/b``: 404, no such interaction."""
    before = store_counts()
    entry = {
        "resource": patient(id="a/b"),
        "request": {"method": "PUT", "url": "Patient?identifier=nobody"},
    }
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
    assert (
        "not a valid FHIR id"
        in _refused(_send(client, "POST", "/fhir", bundle), 400)["diagnostics"]
    )
    assert store_counts() == before


def test_a_bundle_entry_url_may_carry_a_system_uri_in_its_query(client):
    """``Patient?identifier=http://...|...`` was refused as "not on this server"."""
    cccd = "http://fhir.hl7.org.vn/core/sid/cccd|001090000999"
    entry = {
        "resource": patient(identifier=[{"system": cccd.split("|")[0], "value": "001090000999"}]),
        "request": {"method": "PUT", "url": f"Patient?identifier={quote(cccd, safe=':/')}"},
    }
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
    response = _send(client, "POST", "/fhir", bundle)
    assert response.status_code == 200, response.text
    assert response.json()["entry"][0]["response"]["status"].startswith("201")
    assert _refused(
        _send(
            client,
            "POST",
            "/fhir",
            {
                **bundle,
                "entry": [
                    {
                        **entry,
                        "request": {
                            "method": "PUT",
                            "url": "http://other.example/fhir/Patient?identifier=x",
                        },
                    }
                ],
            },
        ),
        400,
    )["diagnostics"].endswith("is not on this server")
