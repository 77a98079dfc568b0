"""Registered clients (``ehr.auth.clients.lookup_client``) read from the FHIR store."""

from __future__ import annotations

from typing import Any

from auth_helpers import FACILITY_CODE, ec_key, jwk, organization
from fastapi import FastAPI

from ehr.auth.clients import RegisteredClient, lookup_client
from ehr.auth.scopes import parse_scopes
from ehr.db.unit_of_work import run_in_unit_of_work


def lookup(app: FastAPI, client_id: str) -> RegisteredClient | None:
    services = app.state.services
    return run_in_unit_of_work(
        services.engine,
        lambda session: lookup_client(session, services.registry, client_id),
        write=False,
    )


def test_a_registered_facility_is_found_with_keys_and_policy(app: FastAPI, register: Any) -> None:
    key = ec_key()
    stored = register(organization("01001", [jwk(key)], policy="system/Encounter.cud"))
    client = lookup(app, "01001")
    assert client is not None
    assert client.client_id == "01001" and client.organization_id == stored["id"]
    assert client.active
    assert client.keys.get(jwk(key)["kid"]) is not None
    assert client.scope_policy == parse_scopes("system/Encounter.cud")


def test_unknown_and_syntactically_odd_client_ids_find_nothing(app: FastAPI, register: Any) -> None:
    register(organization("01001", [jwk(ec_key())]))
    register(organization("01002", [jwk(ec_key())]))
    for client_id in ("09999", "01001,01002", f"{FACILITY_CODE}|01001", "", "0100*", "a" * 65):
        assert lookup(app, client_id) is None
    assert lookup(app, "01001") is not None


def test_the_same_code_on_two_organizations_finds_nothing(app: FastAPI, register: Any) -> None:
    register(organization("01001", [jwk(ec_key())]))
    register(organization("01001", [jwk(ec_key())]))
    assert lookup(app, "01001") is None


def test_defaults_and_unusable_registrations(app: FastAPI, register: Any) -> None:
    register(organization("01001", None))
    register(organization("01002", [jwk(ec_key())], policy="system/*.everything"))
    register(organization("01003", None, jwks_text='{"keys": "no"}', active=False))
    plain = lookup(app, "01001")
    assert plain is not None and len(plain.keys) == 0
    assert plain.scope_policy == parse_scopes("system/*.cruds")
    bad_policy = lookup(app, "01002")
    assert bad_policy is not None and bad_policy.scope_policy == ()
    inactive = lookup(app, "01003")
    assert inactive is not None and not inactive.active and len(inactive.keys) == 0


def test_a_deleted_organization_is_no_client(
    app: FastAPI, register: Any, client, admin_headers
) -> None:  # type: ignore[no-untyped-def]
    stored = register(organization("01001", [jwk(ec_key())]))
    assert client.delete(
        f"/fhir/Organization/{stored['id']}", headers=admin_headers
    ).status_code in (
        200,
        204,
    )
    assert lookup(app, "01001") is None
