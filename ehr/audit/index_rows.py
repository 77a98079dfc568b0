"""The search index rows of an AuditEvent, extracted part by part with the parts remembered.

Every audited access writes an AuditEvent, and extracting its index rows the general way
(``extract_all``: all 24 AuditEvent search parameters over the whole event) cost about a
tenth of a millisecond, a large share of a read. The events are built from a few parts
that recur: the header, agents and ``meta`` of one caller doing one interaction; one
entity per patient, per target and per query; and the time. Every AuditEvent search
parameter is a path into one element, so the rows of the event are the rows of its parts
together (duplicates dropped, as ``extract`` drops them within a resource). Each part is
extracted with only the parameters whose expression names its element, and the rows of
recent parts are remembered. ``tests/audit/test_audit_index_rows.py`` checks the result
against ``extract_all`` of the whole event.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import orjson

from ehr.search.extract import SERVED_FROM_RESOURCE_TABLE, ParamSource, extract, extract_all
from ehr.search.values import IndexValue

Row = tuple[str, str, IndexValue]
_STAMPS = ("versionId", "lastUpdated")
"""``meta`` elements the server stamps per version: not indexed (``_lastUpdated`` is served
from the resource table)."""


def audit_index_rows(event: dict[str, Any], registry: ParamSource) -> list[Row]:
    """What ``extract_all(event, registry)`` gives, for an event of ``ehr.audit.events``."""
    rows: dict[Row, None] = {}
    for element, part in _parts(event):
        for row in _rows_of(registry, element, orjson.dumps(part)):
            rows.setdefault(row, None)
    return list(rows)


def _parts(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(element, part): the event minus its id, time and entities; the time; each entity."""
    resource_type = event["resourceType"]
    head = {key: value for key, value in event.items() if key not in ("id", "recorded", "entity")}
    meta = {key: value for key, value in (event.get("meta") or {}).items() if key not in _STAMPS}
    head.pop("meta", None)
    if meta:
        head["meta"] = meta
    yield "", head
    if "recorded" in event:
        yield "recorded", {"resourceType": resource_type, "recorded": event["recorded"]}
    for entity in event.get("entity") or ():
        yield "entity", {"resourceType": resource_type, "entity": [entity]}


@lru_cache(maxsize=4096)
def _rows_of(registry: ParamSource, element: str, part: bytes) -> tuple[Row, ...]:
    resource = orjson.loads(part)
    if not element:
        return tuple(extract_all(resource, registry))
    rows: list[Row] = []
    for code, param in _params_naming(registry, resource["resourceType"], element):
        rows.extend((param.type, code, value) for value in extract(resource, param))
    return tuple(rows)


@lru_cache(maxsize=64)
def _params_naming(registry: ParamSource, resource_type: str, element: str) -> tuple:
    """The indexed parameters of ``resource_type`` whose expression names ``element``."""
    path = f"{resource_type}.{element}"
    return tuple(
        (code, param)
        for code, param in registry.params_for(resource_type).items()
        if code not in SERVED_FROM_RESOURCE_TABLE and path in param.expression
    )
