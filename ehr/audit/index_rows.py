"""The search index rows of an AuditEvent, extracted part by part with the parts remembered.

Every audited access writes an AuditEvent, and extracting its index rows the general way
(``extract_all``: all 24 AuditEvent search parameters over the whole event) cost about a
tenth of a millisecond, a large share of a read. The events are built from a few parts
that recur: the header, agents and ``meta`` of one caller doing one interaction; one
entity per patient, per target and per query; and the time. Every AuditEvent search
parameter is a path into one element, so the rows of the event are the rows of its parts
together (duplicates dropped, as ``extract`` drops them within a resource). Each part is
extracted with only the parameters whose expression names its element, and the rows of
recent parts are remembered. An entity names one resource of a national table, so it is
remembered with that resource's id taken out (``SLOT``) and its rows get the id back:
without that, every event of a read of another Patient was extracted anew (a quarter of
the audit indexer's time). ``tests/audit/test_audit_index_rows.py`` checks the result
against ``extract_all`` of the whole event.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import fields, replace
from functools import lru_cache
from typing import Any

import orjson

from ehr.search.extract import SERVED_FROM_RESOURCE_TABLE, ParamSource, extract, extract_all
from ehr.search.values import IndexValue

Row = tuple[str, str, IndexValue]
_STAMPS = ("versionId", "lastUpdated")
"""``meta`` elements the server stamps per version: not indexed (``_lastUpdated`` is served
from the resource table)."""


SLOT = "ehr-audit-slot"
"""Stands for the id of the resource an entity names while its rows are remembered."""
_RELATIVE = re.compile(r"([A-Za-z]+)/([A-Za-z0-9\-.]{1,64})")


def audit_index_rows(event: dict[str, Any], registry: ParamSource) -> list[Row]:
    """What ``extract_all(event, registry)`` gives, for an event of ``ehr.audit.events``."""
    rows: dict[Row, None] = {}
    for element, part in _parts(event):
        text = orjson.dumps(part)
        slotted, res_id = _slotted(element, part, text)
        if res_id is None:
            found = _rows_of(registry, element, text)
        else:
            found = tuple(_filled(row, res_id) for row in _rows_of(registry, element, slotted))
        for row in found:
            rows.setdefault(row, None)
    return list(rows)


def _slotted(element: str, part: dict[str, Any], text: bytes) -> tuple[bytes, str | None]:
    """An entity part with the id of the resource it names as ``SLOT``, and that id; else
    the part as it is and None (not an entity, no relative reference, or ``SLOT`` already
    written somewhere in it, which filling in would then change)."""
    if element != "entity" or SLOT.encode() in text:
        return text, None
    what = part["entity"][0].get("what")
    reference = what.get("reference") if isinstance(what, dict) else None
    match = _RELATIVE.fullmatch(reference) if isinstance(reference, str) else None
    if match is None:
        return text, None
    entity = {**part["entity"][0], "what": {**what, "reference": f"{match[1]}/{SLOT}"}}
    return orjson.dumps({**part, "entity": [entity]}), match[2]


def _filled(row: Row, res_id: str) -> Row:
    """``row`` with ``SLOT`` in its value's text replaced by ``res_id``."""
    param_type, code, value = row
    changed = {
        f.name: text.replace(SLOT, res_id)
        for f in fields(value)  # type: ignore[arg-type]
        if isinstance(text := getattr(value, f.name), str) and SLOT in text
    }
    return (param_type, code, replace(value, **changed)) if changed else row


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
