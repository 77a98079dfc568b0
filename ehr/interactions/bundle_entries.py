"""Reading the entries of a batch or transaction Bundle into requests the router can run.

https://hl7.org/fhir/R4/http.html#transaction. Structure problems (no ``request``, an
unknown method, a missing resource, duplicate ``fullUrl``, too many entries) are 400s
that name the entry, found before anything is written.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from ehr.context import RequestContext
from ehr.errors import BadRequest, PayloadTooLarge
from ehr.fhir.validate import depth_exceeds

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
_HEADER_FIELDS = {
    "ifMatch": "if-match",
    "ifNoneMatch": "if-none-match",
    "ifNoneExist": "if-none-exist",
    "ifModifiedSince": "if-modified-since",
}


@dataclass
class Entry:
    """One bundle entry, parsed: where it points and what it carries."""

    index: int
    method: str
    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    full_url: str | None
    body: Any
    assigned_id: str | None = None
    existing: bool = False
    """A conditional create that matched: nothing is written, the match is returned."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def res_type(self) -> str:
        return self.path.split("/")[0]

    def label(self) -> str:
        return f"Bundle.entry[{self.index}]"


def read_bundle(ctx: RequestContext, body: Any) -> tuple[str, list[Entry]]:
    """The bundle type (``batch``/``transaction``) and its entries, structurally checked."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise BadRequest("POST to the base URL takes a Bundle of type batch or transaction")
    bundle_type = body.get("type")
    if bundle_type not in ("batch", "transaction"):
        raise BadRequest(
            f"Bundle.type must be batch or transaction, got {bundle_type!r}",
            expression=("Bundle.type",),
        )
    raw_entries = body.get("entry") or []
    if not isinstance(raw_entries, list):
        raise BadRequest("Bundle.entry must be an array", expression=("Bundle.entry",))
    limit = ctx.settings.max_bundle_entries
    if len(raw_entries) > limit:
        raise PayloadTooLarge(f"the bundle has {len(raw_entries)} entries; the limit is {limit}")
    entries = [_entry(ctx, index, raw) for index, raw in enumerate(raw_entries)]
    seen: dict[str, int] = {}
    for entry in entries:
        if entry.full_url is None:
            continue
        if entry.full_url in seen:
            raise BadRequest(
                f"{entry.label()}.fullUrl {entry.full_url!r} repeats entry {seen[entry.full_url]}",
                expression=(f"{entry.label()}.fullUrl",),
            )
        seen[entry.full_url] = entry.index
    return bundle_type, entries


def _entry(ctx: RequestContext, index: int, raw: Any) -> Entry:
    label = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        raise BadRequest(f"{label} must be an object", expression=(label,))
    request = raw.get("request")
    if not isinstance(request, dict):
        raise BadRequest(f"{label} has no request", expression=(f"{label}.request",))
    method = request.get("method")
    url = request.get("url")
    if method not in METHODS:
        raise BadRequest(
            f"{label}.request.method {method!r} is not supported",
            expression=(f"{label}.request.method",),
        )
    if not isinstance(url, str) or not url.strip():
        raise BadRequest(f"{label}.request.url is missing", expression=(f"{label}.request.url",))
    path, params = split_url(ctx, url)
    if not path:
        raise BadRequest(
            f"{label}.request.url {url[:200]!r} names no resource type (bundles do not nest)",
            expression=(f"{label}.request.url",),
        )
    headers = {
        header: str(request[name]) for name, header in _HEADER_FIELDS.items() if request.get(name)
    }
    full_url = raw.get("fullUrl")
    if full_url is not None and not isinstance(full_url, str):
        raise BadRequest(f"{label}.fullUrl must be a string", expression=(f"{label}.fullUrl",))
    resource = raw.get("resource")
    if method in ("POST", "PUT") and not isinstance(resource, dict):
        raise BadRequest(
            f"{label} needs a resource for {method}", expression=(f"{label}.resource",)
        )
    body: Any = resource
    if method == "PATCH":
        body = _patch_body(label, resource, ctx.settings.max_json_depth)
    return Entry(index, method, path, params, headers, full_url or None, body)


def split_url(ctx: RequestContext, url: str) -> tuple[str, list[tuple[str, str]]]:
    """``Patient?name=x`` (or an absolute URL on this server) -> (``Patient``, params)."""
    text = url.strip()
    if text.startswith(ctx.base_url + "/"):
        text = text[len(ctx.base_url) + 1 :]
    elif "://" in text.partition("?")[0]:  # a system URI in the query is no other server
        raise BadRequest(f"request url {url[:200]!r} is not on this server")
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. "//[x": an authority that is no host
        raise BadRequest(f"request url {url[:200]!r} is not a valid URL") from None
    return parts.path.strip("/"), parse_qsl(parts.query, keep_blank_values=True)


def _patch_body(label: str, resource: Any, max_depth: int) -> Any:
    """A PATCH entry carries its JSON Patch as a Binary (R4 has no other JSON Patch carrier).

    The decoded patch is held to the same nesting limit as a request body.
    """
    if not isinstance(resource, dict) or resource.get("resourceType") != "Binary":
        return resource
    data = resource.get("data")
    try:
        if not isinstance(data, str):
            raise ValueError("Binary.data is not base64 text")
        operations = orjson.loads(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise BadRequest(f"{label}: the Binary does not hold a JSON Patch") from None
    if depth_exceeds(operations, max_depth):
        raise BadRequest(f"{label}: the JSON Patch is nested deeper than {max_depth} levels")
    return operations
