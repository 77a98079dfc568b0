"""Registered SMART Backend Services clients: facilities, as ``Organization`` resources.

The facility registry lives in the FHIR store itself, so registering, rotating keys and
deactivating a facility are ordinary FHIR writes, versioned and audited like any other.
A client is the ``Organization`` with:

- ``identifier`` ``http://fhir.hl7.org.vn/core/sid/facility-code`` = the client id;
- ``active`` true (anything else: the client may not get tokens);
- extension ``JWKS_EXTENSION`` with ``valueString`` = the JWKS JSON of its public keys;
- extension ``SCOPE_POLICY_EXTENSION`` with ``valueString`` = the space-separated scopes it
  may be granted (``DEFAULT_POLICY`` when absent).

A malformed JWKS or scope policy is logged and leaves the client without keys or without
scopes: it can then get no token, which is the safe way to be wrong.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlmodel import Session

from ehr.auth.keys import InvalidKey, KeySet, key_set
from ehr.auth.scopes import Scope, ScopeError, parse_scopes
from ehr.fhir.identifiers import CORE, FACILITY_CODE
from ehr.search.execute import run_search
from ehr.search.query import ParamRegistry, parse_search

JWKS_EXTENSION = f"{CORE}/StructureDefinition/jwks"
SCOPE_POLICY_EXTENSION = f"{CORE}/StructureDefinition/scope-policy"
DEFAULT_POLICY = "system/*.cruds"
CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""What a client id may look like: no search syntax (``,|$\\``) can get through."""
log = logging.getLogger("ehr.auth")


@dataclass(frozen=True)
class RegisteredClient:
    """A facility as the token endpoint needs it."""

    client_id: str
    organization_id: str
    active: bool
    keys: KeySet = field(default_factory=KeySet)
    scope_policy: tuple[Scope, ...] = ()


def lookup_client(
    session: Session, registry: ParamRegistry, client_id: str
) -> RegisteredClient | None:
    """The registered client ``client_id``, or None if there is none (or more than one).

    Two Organizations with one facility code is a registry error; refusing both is safer
    than picking one.
    """
    if not CLIENT_ID.fullmatch(client_id):
        return None
    query = parse_search(
        "Organization", [("identifier", f"{FACILITY_CODE}|{client_id}")], registry, strict=True
    )
    page = run_search(session, registry, query, page_size=2, count_first_page=False)
    matches = [
        resource
        for row in page.matches
        if row.content is not None
        for resource in [orjson.loads(row.content)]
        if _has_code(resource, client_id)
    ]
    if len(matches) != 1:
        if matches:
            log.error(
                "facility code %s is on %d Organizations; refusing it", client_id, len(matches)
            )
        return None
    return client_from_organization(matches[0], client_id)


def client_from_organization(organization: dict[str, Any], client_id: str) -> RegisteredClient:
    """The client that ``organization`` registers (see the module docstring)."""
    return RegisteredClient(
        client_id=client_id,
        organization_id=str(organization.get("id", "")),
        active=organization.get("active") is True,
        keys=_keys(organization, client_id),
        scope_policy=_policy(organization, client_id),
    )


def _has_code(resource: dict[str, Any], client_id: str) -> bool:
    return any(
        isinstance(identifier, dict)
        and identifier.get("system") == FACILITY_CODE
        and identifier.get("value") == client_id
        for identifier in resource.get("identifier") or []
    )


def _extension(resource: dict[str, Any], url: str) -> str | None:
    values = [
        ext.get("valueString")
        for ext in resource.get("extension") or []
        if isinstance(ext, dict) and ext.get("url") == url
    ]
    if len(values) > 1:
        raise ValueError(f"more than one {url} extension")
    return values[0] if values and isinstance(values[0], str) else None


def _keys(resource: dict[str, Any], client_id: str) -> KeySet:
    try:
        text = _extension(resource, JWKS_EXTENSION)
        return key_set(json.loads(text)) if text else KeySet()
    except (ValueError, InvalidKey) as exc:
        log.warning("facility %s: unusable JWKS (%s)", client_id, exc)
        return KeySet()


def _policy(resource: dict[str, Any], client_id: str) -> tuple[Scope, ...]:
    try:
        text = _extension(resource, SCOPE_POLICY_EXTENSION)
        return parse_scopes(DEFAULT_POLICY if text is None else text)
    except (ValueError, ScopeError) as exc:
        log.warning("facility %s: unusable scope policy (%s)", client_id, exc)
        return ()
