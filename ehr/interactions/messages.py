"""The framework-free request and response every interaction handler speaks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ehr.errors import BadRequest


@dataclass
class FhirRequest:
    """One FHIR interaction: from an HTTP request or from a bundle entry."""

    method: str
    path: str
    """Relative to the FHIR base, no leading slash: ``Patient/1/_history/2``."""
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)
    """Lower-case names: ``if-match``, ``if-none-exist``, ``prefer`` ..."""
    body: Any = None
    """The parsed JSON body, if any."""
    assigned_id: str | None = None
    """For a create inside a transaction: the id already given out for its ``urn:uuid``."""

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def param(self, name: str) -> str | None:
        """The last value of query parameter ``name`` (or ``None``)."""
        found = None
        for key, value in self.params:
            if key == name:
                found = value
        return found

    def expected_version(self) -> int | None:
        """The version ``If-Match`` requires (``W/"3"`` -> 3), or ``None`` without one."""
        if_match = self.header("if-match")
        return parse_version_tag(if_match) if if_match is not None else None

    def prefer(self, name: str) -> str | None:
        """A token of the ``Prefer`` header, e.g. ``prefer("return")`` -> ``minimal``."""
        header = self.header("prefer") or ""
        for part in re.split(r"[,;]", header):
            key, _, value = part.strip().partition("=")
            if key.strip().lower() == name:
                return value.strip().strip('"').lower()
        return None


@dataclass
class FhirResponse:
    """What an interaction answers: status, headers and a body.

    ``body`` is either raw JSON bytes (a stored resource, served byte for byte), a dict to
    serialise, or ``None``. ``resource`` keeps the bytes of the affected resource for bundle
    responses even when ``Prefer: return=minimal`` leaves the HTTP body empty.
    """

    status: int
    body: bytes | dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    resource: bytes | None = None


_SMALL_INT = re.compile(r"[0-9]{1,18}")


def small_int(text: str) -> int | None:
    """``text`` as a non-negative integer if it is 1 to 18 ASCII digits, else ``None``.

    Versions, history cursors and counts come from clients as text. ``str.isdigit`` also
    accepts digits ``int`` refuses (``"²"``), ``int`` refuses more than 4300 digits, and no
    database binds an integer past BIGINT: 18 digits is enough for all of them and safe.
    """
    return int(text) if _SMALL_INT.fullmatch(text) else None


def parse_version_tag(etag: str, header: str = "If-Match") -> int:
    """``W/"3"`` (or ``"3"``, or ``3``) -> 3; anything else is a 400."""
    text = etag.strip()
    if text.startswith("W/"):
        text = text[2:]
    version = small_int(text.strip('"'))
    if version is None:
        raise BadRequest(f'{header} must be a version ETag like W/"3", got {etag[:64]!r}')
    return version
