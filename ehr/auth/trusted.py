"""Trusted external token issuers, read once from ``Settings.trusted_issuers``.

The setting is JSON, one entry per issuer (its exact ``iss``)::

    {"https://id.gov.vn": {"jwks": {"keys": [...]}, "role": "patient",
                           "audience": "urn:ehr:fhir"}}

``jwks`` may be replaced by ``jwks_path``, a JWKS file. ``role`` may only be ``patient``
(the national identity provider signs persons in; facilities come through SMART Backend
Services, never through a third party) and defaults to it. ``audience`` defaults to
``Settings.token_audience``. A malformed setting stops the service at start-up rather than
running with an issuer half-trusted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ehr.auth.keys import InvalidKey, KeySet, key_set
from ehr.auth.principal import Role

TRUSTED_ROLES: tuple[Role, ...] = ("patient",)


@dataclass(frozen=True)
class TrustedIssuer:
    issuer: str
    keys: KeySet
    role: Role
    audience: str


def load_trusted_issuers(
    text: str, *, own_issuer: str, default_audience: str
) -> dict[str, TrustedIssuer]:
    """The issuers configured in ``text`` (empty: none); ``ValueError`` when malformed."""
    if not text.strip():
        return {}
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"EHR_TRUSTED_ISSUERS is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ValueError("EHR_TRUSTED_ISSUERS must be a JSON object keyed by issuer")
    issuers = {}
    for issuer, entry in config.items():
        if not issuer or issuer == own_issuer:
            raise ValueError(f"trusted issuer {issuer!r} must differ from the service's own")
        if not isinstance(entry, dict):
            raise ValueError(f"trusted issuer {issuer!r}: the entry must be an object")
        issuers[issuer] = _issuer(issuer, entry, default_audience)
    return issuers


def _issuer(issuer: str, entry: dict[str, Any], default_audience: str) -> TrustedIssuer:
    role = entry.get("role", "patient")
    if role not in TRUSTED_ROLES:
        raise ValueError(f"trusted issuer {issuer!r}: role must be one of {TRUSTED_ROLES}")
    audience = entry.get("audience", default_audience)
    if not isinstance(audience, str) or not audience:
        raise ValueError(f"trusted issuer {issuer!r}: audience must be a non-empty string")
    if "jwks" in entry:
        jwks = entry["jwks"]
    elif "jwks_path" in entry:
        try:
            jwks = json.loads(Path(str(entry["jwks_path"])).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"trusted issuer {issuer!r}: cannot read jwks_path: {exc}") from exc
    else:
        raise ValueError(f"trusted issuer {issuer!r}: give jwks or jwks_path")
    try:
        keys = key_set(jwks)
    except InvalidKey as exc:
        raise ValueError(f"trusted issuer {issuer!r}: {exc}") from exc
    if not len(keys):
        raise ValueError(f"trusted issuer {issuer!r}: no usable signing key in its JWKS")
    return TrustedIssuer(issuer=issuer, keys=keys, role=role, audience=audience)
