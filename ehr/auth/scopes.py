"""SMART on FHIR resource scopes: parse, check and narrow, as pure functions.

A scope is ``<context>/<resource type or *>.<permissions>``
(https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):

- context ``patient``, ``user`` or ``system``;
- SMART v2 permissions are letters from ``cruds`` (create, read, update, delete, search),
  each at most once and in that order (``rs``, never ``sr``);
- SMART v1 permissions ``read``, ``write`` and ``*`` are accepted and mapped to v2
  (read = ``rs``, write = ``cud``, ``*`` = ``cruds``), so v1 clients keep working while
  everything past parsing deals with one form.

Anything else (including v2 scopes with ``?param=value`` constraints, which this server does
not enforce, and non-resource scopes such as ``openid``) is refused by ``parse_scope``: a
scope the server cannot enforce exactly must never be granted.

``allows`` looks only at resource type and permission letter: which records a context may
reach (the patient's compartment, the facility's care relationships) is the access policy's
job (``ehr.access.policy``), decided by the caller's role, not by the scope's context.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

CONTEXTS = ("patient", "user", "system")
LETTERS = "cruds"
"""SMART v2 permission letters, in their required order."""
V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": LETTERS}
MAX_SCOPES = 100
"""More scopes than this in one string is refused: no real client needs it."""

_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]{0,63})\.([a-z*]{1,5})$")
_V2 = re.compile(r"^c?r?u?d?s?$")


class ScopeError(ValueError):
    """A scope string is malformed or not supported."""


@dataclass(frozen=True, order=True)
class Scope:
    """One resource scope in SMART v2 form: ``system/Encounter.cruds``."""

    context: str
    resource_type: str
    """A FHIR resource type, or ``*`` for every type."""
    permissions: str
    """Non-empty, letters of ``cruds`` in order."""

    def __post_init__(self) -> None:
        if self.context not in CONTEXTS:
            raise ScopeError(f"unknown scope context {self.context!r}")
        if self.resource_type != "*" and not re.fullmatch(
            r"[A-Z][A-Za-z]{0,63}", self.resource_type
        ):
            raise ScopeError(f"not a resource type: {self.resource_type!r}")
        if not self.permissions or not _V2.fullmatch(self.permissions):
            raise ScopeError(
                f"permissions must be letters of 'cruds' in order: {self.permissions!r}"
            )

    def __str__(self) -> str:
        return f"{self.context}/{self.resource_type}.{self.permissions}"

    def covers_type(self, resource_type: str) -> bool:
        """Whether this scope speaks about ``resource_type`` (``*`` only by a ``*`` scope)."""
        return self.resource_type in ("*", resource_type)


def parse_scope(text: str) -> Scope:
    """One scope (v2, or v1 mapped to v2); ``ScopeError`` if malformed or unsupported."""
    match = _SCOPE.fullmatch(text)
    if match is None:
        raise ScopeError(f"malformed or unsupported scope: {text[:100]!r}")
    context, resource_type, permissions = match.groups()
    permissions = V1_PERMISSIONS.get(permissions, permissions)
    return Scope(context, resource_type, permissions)


def parse_scopes(text: str) -> tuple[Scope, ...]:
    """A space-separated scope string, without duplicates, in the order given."""
    words = text.split()
    if len(words) > MAX_SCOPES:
        raise ScopeError(f"more than {MAX_SCOPES} scopes")
    return tuple(dict.fromkeys(parse_scope(word) for word in words))


def format_scopes(scopes: Iterable[Scope | str]) -> str:
    """The space-separated form of ``scopes`` (the token's ``scope`` claim)."""
    return " ".join(str(scope) for scope in scopes)


def allows(scopes: Iterable[Scope | str], resource_type: str, permission: str) -> bool:
    """Whether ``scopes`` grant ``permission`` (one letter of ``cruds``) on ``resource_type``.

    ``resource_type`` ``*`` (a system-wide search or history) needs a ``*`` scope. Scope
    strings that do not parse grant nothing.
    """
    if len(permission) != 1 or permission not in LETTERS:
        raise ValueError(f"not a permission letter: {permission!r}")
    for scope in _scopes(scopes):
        if permission in scope.permissions and scope.covers_type(resource_type):
            return True
    return False


def narrow(requested: Iterable[Scope | str], policy: Iterable[Scope | str]) -> tuple[Scope, ...]:
    """What of ``requested`` the ``policy`` allows: the intersection, scope by scope.

    Each requested scope is cut to the permissions a policy scope of the same context grants
    on the same resources (a ``*`` request under a typed policy gives the typed scopes);
    whatever the policy does not allow is dropped. The result never allows anything
    ``policy`` does not (a property test checks).
    """
    policy_scopes = _scopes(policy)
    granted: dict[tuple[str, str], str] = {}
    for wanted in _scopes(requested):
        for allowed in policy_scopes:
            if allowed.context != wanted.context:
                continue
            if wanted.resource_type == "*":
                resource_type = allowed.resource_type
            elif allowed.covers_type(wanted.resource_type):
                resource_type = wanted.resource_type
            else:
                continue
            key = (wanted.context, resource_type)
            have = granted.get(key, "")
            granted[key] = "".join(
                c
                for c in LETTERS
                if c in have or (c in wanted.permissions and c in allowed.permissions)
            )
    return tuple(Scope(c, t, letters) for (c, t), letters in granted.items() if letters)


def exceeding(requested: Iterable[Scope | str], policy: Iterable[Scope | str]) -> tuple[Scope, ...]:
    """The requested scopes that ``policy`` does not fully grant (an ``invalid_scope`` reason)."""
    policy_scopes = _scopes(policy)
    return tuple(
        wanted
        for wanted in _scopes(requested)
        if not all(
            any(
                allowed.context == wanted.context
                and allowed.covers_type(wanted.resource_type)
                and letter in allowed.permissions
                for allowed in policy_scopes
            )
            for letter in wanted.permissions
        )
    )


def _scopes(scopes: Iterable[Scope | str]) -> list[Scope]:
    """``Scope`` objects for ``scopes``; strings that do not parse are left out."""
    result: list[Scope] = []
    for scope in scopes:
        if isinstance(scope, Scope):
            result.append(scope)
            continue
        try:
            result.append(parse_scope(scope))
        except ScopeError:
            continue
    return result
