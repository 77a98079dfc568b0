"""Building response Bundles (searchset, history, batch/transaction-response).

Resource bodies are embedded as ``orjson.Fragment`` of the stored bytes: a page of search
results is never parsed and re-serialised, and what the client reads is what was stored.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from ehr.search.dates import format_instant


def bundle(bundle_type: str, entries: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A Bundle of ``bundle_type`` with a fresh id and ``meta.lastUpdated`` of now."""
    from ehr.storage.write import now_micros

    result: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": format_instant(now_micros())},
        "type": bundle_type,
    }
    result.update(extra)
    result["entry"] = entries
    if not entries:
        del result["entry"]
    return result


def embedded(content: bytes | dict[str, Any]) -> Any:
    """A resource for a bundle entry: stored bytes go in verbatim."""
    return orjson.Fragment(content) if isinstance(content, bytes) else content


def link(relation: str, url: str) -> dict[str, str]:
    return {"relation": relation, "url": url}
