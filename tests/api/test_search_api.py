"""Search through the HTTP API: every parameter type, result parameters, paging and includes."""

from __future__ import annotations

from fhir_helpers import link_url, patient

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"


def _ids(bundle: dict, mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def _observation(subject: str, code: str, value: float, when: str) -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": value,
            "unit": "mmHg",
            "system": "http://unitsofmeasure.org",
            "code": "mm[Hg]",
        },
    }


def test_search_by_identifier_name_birthdate_and_gender(client):
    an = client.post(
        "/fhir/Patient",
        json=patient(family="Nguyễn", identifier=[{"system": CCCD, "value": "001090000101"}]),
    ).json()
    client.post("/fhir/Patient", json=patient(family="Trần", birthDate="1985-01-01"))
    search = lambda **p: _ids(client.get("/fhir/Patient", params=p).json())  # noqa: E731
    assert search(identifier=f"{CCCD}|001090000101") == [an["id"]]
    assert search(identifier="001090000101") == [an["id"]]
    assert search(family="nguyen") == [an["id"]]
    assert search(name="NGUYỄN") == [an["id"]]
    assert search(**{"family:exact": "nguyen"}) == []
    assert search(birthdate="1990") == [an["id"]]
    assert search(birthdate="lt1989-01-01") != [an["id"]]
    assert len(search(gender="male")) == 2
    assert search(**{"gender:not": "male"}) == []
    assert search(_id=an["id"]) == [an["id"]]


def test_search_quantity_date_and_reference_with_chaining(client):
    p = client.post("/fhir/Patient", json=patient(family="Hoàng")).json()
    ref = f"Patient/{p['id']}"
    high = client.post(
        "/fhir/Observation", json=_observation(ref, "8480-6", 150, "2026-01-10")
    ).json()
    client.post("/fhir/Observation", json=_observation(ref, "8480-6", 110, "2026-03-10"))
    search = lambda **q: _ids(client.get("/fhir/Observation", params=q).json())  # noqa: E731
    assert search(**{"value-quantity": "gt140"}) == [high["id"]]
    assert search(**{"value-quantity": "150|http://unitsofmeasure.org|mm[Hg]"}) == [high["id"]]
    assert search(date="lt2026-02-01") == [high["id"]]
    assert len(search(subject=ref)) == 2
    assert len(search(**{"subject:Patient.family": "hoang"})) == 2
    assert search(**{"subject:Patient.family": "le"}) == []
    assert len(search(code="http://loinc.org|8480-6")) == 2


def test_paging_follows_next_and_previous_links_without_duplicates(client):
    made = [
        client.post("/fhir/Patient", json=patient(family=f"Họ{i:02d}")).json()["id"]
        for i in range(7)
    ]
    page = client.get("/fhir/Patient", params={"_count": 3, "_sort": "family"}).json()
    assert page["total"] == 7
    seen = _ids(page)
    pages = [page]
    while url := link_url(page, "next"):
        page = client.get(url).json()
        pages.append(page)
        seen += _ids(page)
    assert seen == made
    back = client.get(link_url(pages[-1], "previous")).json()
    assert _ids(back) == _ids(pages[-2])


def test_paging_stays_correct_while_resources_are_added_and_removed(client):
    made = [
        client.post("/fhir/Patient", json=patient(family=f"Họ{i:02d}")).json()["id"]
        for i in range(6)
    ]
    first = client.get("/fhir/Patient", params={"_count": 3, "_sort": "family"}).json()
    client.post("/fhir/Patient", json=patient(family="Họ00a"))  # sorts into page one
    client.delete(f"/fhir/Patient/{made[1]}")
    second = client.get(link_url(first, "next")).json()
    assert _ids(second) == made[3:6]


def test_sort_by_several_keys_and_descending(client):
    for family, born in [("B", "1990-01-01"), ("A", "1980-01-01"), ("B", "1970-01-01")]:
        client.post("/fhir/Patient", json=patient(family=family, birthDate=born))
    bundle = client.get("/fhir/Patient", params={"_sort": "family,-birthdate"}).json()
    got = [
        (e["resource"]["name"][0]["family"], e["resource"]["birthDate"]) for e in bundle["entry"]
    ]
    assert got == [("A", "1980-01-01"), ("B", "1990-01-01"), ("B", "1970-01-01")]


def test_include_and_revinclude_add_resources_that_are_not_counted(client):
    p = client.post("/fhir/Patient", json=patient(family="Bùi")).json()
    ref = f"Patient/{p['id']}"
    obs = client.post(
        "/fhir/Observation", json=_observation(ref, "8480-6", 120, "2026-01-01")
    ).json()
    included = client.get("/fhir/Observation", params={"_include": "Observation:subject"}).json()
    assert included["total"] == 1
    assert _ids(included, "include") == [p["id"]]
    rev = client.get("/fhir/Patient", params={"_revinclude": "Observation:subject"}).json()
    assert rev["total"] == 1
    assert _ids(rev, "include") == [obs["id"]]


def test_total_and_summary_count(client):
    for i in range(4):
        client.post("/fhir/Patient", json=patient(family=f"Đặng{i}"))
    counted = client.get("/fhir/Patient", params={"_summary": "count"}).json()
    assert counted["total"] == 4 and "entry" not in counted
    none = client.get("/fhir/Patient", params={"_total": "none", "_count": 2}).json()
    assert "total" not in none


def test_post_search_with_a_form_body_equals_get(client):
    client.post("/fhir/Patient", json=patient(family="Ngô"))
    client.post("/fhir/Patient", json=patient(family="Dương"))
    posted = client.post(
        "/fhir/Patient/_search",
        content=b"family=ngo",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).json()
    got = client.get("/fhir/Patient", params={"family": "ngo"}).json()
    assert _ids(posted) == _ids(got) and len(_ids(got)) == 1


def test_deleted_resources_are_not_found_by_search(client):
    gone = client.post("/fhir/Patient", json=patient(family="Lý")).json()
    client.delete(f"/fhir/Patient/{gone['id']}")
    assert _ids(client.get("/fhir/Patient", params={"family": "ly"}).json()) == []


def test_missing_modifier(client):
    with_phone = client.post(
        "/fhir/Patient", json=patient(telecom=[{"system": "phone", "value": "0912345678"}])
    ).json()
    without = client.post("/fhir/Patient", json=patient()).json()
    assert _ids(client.get("/fhir/Patient", params={"phone:missing": "false"}).json()) == [
        with_phone["id"]
    ]
    assert _ids(client.get("/fhir/Patient", params={"phone:missing": "true"}).json()) == [
        without["id"]
    ]
