"""Seeding through the write path: idempotent, operator changes kept, findable by search.

Each test seeds a fraction of one small province (Lai Châu, code 12) on SQLite and on
PostgreSQL; the full registry is the same code with more rows.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from ehr.api.app import build_services
from ehr.conformance.files import conformance_resources
from ehr.db.schema import Resource, ResourceVersion
from ehr.db.unit_of_work import unit_of_work
from ehr.registry import EXT_JWKS, MA_CSKCB, PROVINCE_SID
from ehr.registry.seeding import seed_registry, system_context
from ehr.storage.repository import read_current
from ehr.storage.write import write_resource

PROVINCE = ["12"]
SCALE = 0.25


@pytest.fixture
def services(settings):  # type: ignore[no-untyped-def]
    services = build_services(settings)
    yield services
    services.engine.dispose()


def _counts(services) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with services.engine.connect() as connection:
        resources = connection.execute(select(func.count()).select_from(Resource)).scalar_one()
        versions = connection.execute(
            select(func.count()).select_from(ResourceVersion)
        ).scalar_one()
    return resources, versions


def _seed(services):  # type: ignore[no-untyped-def]
    return seed_registry(services, province_codes=PROVINCE, scale=SCALE, batch_size=16)


def _read(services, res_type: str, res_id: str) -> dict:  # type: ignore[no-untyped-def]
    import orjson

    with unit_of_work(services.engine, write=False) as session:
        stored = read_current(session, res_type, res_id)
    assert stored is not None and stored.content is not None
    return orjson.loads(stored.content)


def _write(services, body: dict | None, res_type: str = "", res_id: str = "") -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(services.engine) as session:
        ctx = system_context(services, session)
        write_resource(
            ctx,
            method="DELETE" if body is None else "PUT",
            res_type=res_type or body["resourceType"],
            res_id=res_id or body["id"],
            body=body,
        )
        ctx.finish()


def test_seeding_twice_writes_no_new_version(services):
    first = _seed(services)
    assert first.written == first.total > 0
    assert first.created["Organization"] > 10
    assert first.created["Location"] == first.created["Organization"] + 1
    conformance = Counter(
        r["resourceType"] for r in conformance_resources(services.settings.profiles_dir)
    )
    assert conformance["CodeSystem"] >= 4 and conformance["StructureDefinition"] >= 9
    assert {t: first.created[t] for t in conformance} == dict(conformance)
    before = _counts(services)
    assert before == (first.total, first.total)
    second = _seed(services)
    assert second.written == 0
    assert sum(second.unchanged.values()) == first.total
    assert _counts(services) == before


def test_a_changed_or_deleted_resource_is_restored_and_nothing_else(services):
    _seed(services)
    org = _read(services, "Organization", "fac-12001")
    _write(services, {**org, "name": "Renamed"})
    _write(services, None, "Location", "loc-12002")
    report = _seed(services)
    assert report.updated == {"Organization": 1}
    assert report.created == {"Location": 1}
    assert _read(services, "Organization", "fac-12001")["name"] == org["name"]
    assert _read(services, "Organization", "fac-12001")["meta"]["versionId"] == "3"


def test_operator_keys_and_deactivation_survive_reseeding(services):
    _seed(services)
    org = _read(services, "Organization", "fac-12001")
    jwks = '{"keys": []}'
    _write(
        services, {**org, "active": False, "extension": [{"url": EXT_JWKS, "valueString": jwks}]}
    )
    site = _read(services, "Location", "loc-12001")
    _write(services, {**site, "status": "inactive"})
    report = _seed(services)
    assert report.written == 0
    kept = _read(services, "Organization", "fac-12001")
    assert kept["active"] is False
    assert kept["extension"] == [{"url": EXT_JWKS, "valueString": jwks}]
    assert _read(services, "Location", "loc-12001")["status"] == "inactive"


def test_unknown_province_codes_are_refused(services):
    with pytest.raises(ValueError, match="99"):
        seed_registry(services, province_codes=["99"])


def _headers(app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A ministry analyst's token (the registry is not person data), if the API needs one."""
    auth = getattr(app.state.services, "auth", None)
    if auth is None:
        return {}
    token = auth.mint(subject="registry-test", role="ministry", scopes="system/*.rs")
    return {"Authorization": f"Bearer {token}"}


def test_a_seeded_facility_and_its_site_are_found_by_search(app, client):
    seed_registry(app.state.services, province_codes=PROVINCE, scale=SCALE)
    headers = _headers(app)
    found = client.get(
        "/fhir/Organization", params={"identifier": f"{MA_CSKCB}|12001"}, headers=headers
    )
    assert found.status_code == 200, found.text
    (entry,) = found.json()["entry"]
    assert entry["resource"]["id"] == "fac-12001"
    assert entry["resource"]["name"] == "Bệnh viện Đa khoa tỉnh Lai Châu"
    sites = client.get(
        "/fhir/Location", params={"organization": "Organization/fac-12001"}, headers=headers
    ).json()
    assert [e["resource"]["id"] for e in sites["entry"]] == ["loc-12001"]
    province = client.get(
        "/fhir/Location", params={"identifier": f"{PROVINCE_SID}|12"}, headers=headers
    ).json()
    assert [e["resource"]["id"] for e in province["entry"]] == ["prov-12"]
