"""Turn a resource into the index values of its search parameters.

One reader per search parameter *type* (token, string, date, ...), never per resource
type: the parameter's compiled expression finds the elements, and the reader takes each
by its FHIR data type (``ehr.search.nodes.data_type``). What each data type indexes
follows FHIR R4 search (https://hl7.org/fhir/R4/search.html, "Search Parameter Types");
the range-valued readers (date, number, quantity) live in ``ehr.search.extract_ranges``.

Resources are indexed as stored, so anything odd but valid JSON is skipped, never raised.
Text longer than its index column (``ehr.db.schema``) is cut when it is display text and
dropped when it identifies (codes, systems, URLs), since a cut identifier matches nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, Protocol

from ehr.search.extract_ranges import read_dates, read_numbers, read_quantities
from ehr.search.fhirpath import holds_the_same
from ehr.search.nodes import Node, data_type, unwrap_extension
from ehr.search.registry import SearchParamDef, elements_of, evaluator
from ehr.search.values import IndexValue, ReferenceValue, StringValue, TokenValue, UriValue
from ehr.text import normalize

__all__ = ["SERVED_FROM_RESOURCE_TABLE", "Indexed", "extract", "extract_all"]

MAX_TEXT = 1024
"""Length of ``search_string.value``/``exact`` and ``search_token.text``: longer is cut."""
MAX_CODE = 512
"""Length of ``search_token.system``/``code``: longer is not indexed."""
MAX_URL = 1024
"""Length of ``search_uri.value`` and ``search_reference.url``: longer is not indexed."""
SERVED_FROM_RESOURCE_TABLE = frozenset({"_id", "_lastUpdated"})
"""Parameters storage answers from the ``resource`` table, so ``extract_all`` skips them."""

_LOCAL_REF = re.compile(
    r"(?P<type>[A-Z][A-Za-z]{1,63})/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?"
)
_ABSOLUTE_REF = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*://.*/(?P<type>[A-Z][A-Za-z]{1,63})/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/[A-Za-z0-9\-.]{1,64})?"
)
"""Type (as long as ``search_reference.target_type`` holds) and id: matched whole."""
_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")


class ParamSource(Protocol):
    """What ``extract_all`` needs of ``ehr.search.registry.SearchRegistry``."""

    def params_for(self, resource_type: str) -> Mapping[str, SearchParamDef]: ...


def extract(resource: dict[str, Any], param: SearchParamDef) -> list[IndexValue]:
    """The distinct index values of ``param`` in ``resource``, in document order."""
    read = _READERS.get(param.type)
    if read is None:
        return []
    values: dict[IndexValue, None] = {}
    for node in evaluator(param)(resource):
        for value in read(unwrap_extension(node)):
            values.setdefault(value, None)
    return list(values)


Entry = tuple[str, str, IndexValue]
"""(parameter type, code, value): one index value of a resource."""


class Indexed(NamedTuple):
    """A resource and its index values as ``extract_all`` gave them."""

    resource: dict[str, Any]
    entries: list[Entry]


def extract_all(
    resource: dict[str, Any], registry: ParamSource, like: Indexed | None = None
) -> list[Entry]:
    """(parameter type, code, value) for every indexed parameter of the resource's type.

    ``_id`` and ``_lastUpdated`` are left out: storage serves them from the resource table.
    ``like``: a resource of the same type already indexed, holding some of the very same
    element values (a golden record built from its one source, ``ehr.mpi.golden``); a
    parameter that reads only such elements takes its values from there, the rest are
    extracted. The result is what extracting everything gives (property-tested).
    """
    rows: list[Entry] = []
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return rows
    if like is not None and like.resource.get("resourceType") != resource_type:
        like = None
    known = _by_code(like.entries) if like is not None else {}
    for code, param in registry.params_for(resource_type).items():
        if code in SERVED_FROM_RESOURCE_TABLE:
            continue
        if like is not None and _reads_the_same(resource, like, param):
            rows.extend(known.get(code, ()))
        else:
            rows.extend((param.type, code, value) for value in extract(resource, param))
    return rows


def _by_code(entries: list[Entry]) -> dict[str, list[Entry]]:
    found: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        found[entry[1]].append(entry)
    return found


def _reads_the_same(resource: dict[str, Any], like: Indexed, param: SearchParamDef) -> bool:
    elements = elements_of(param)
    return elements is not None and holds_the_same(resource, like.resource, elements)


def _str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def _folded(text: str | None) -> str | None:
    return (normalize(text)[:MAX_TEXT] or None) if text else None


def _read_tokens(node: Node) -> Iterator[TokenValue]:
    """code/boolean/string/id/uri as the code; Coding, CodeableConcept, Identifier, ContactPoint.

    Display text goes to ``text`` (normalised) for ``:text``. A ContactPoint's ``system``
    (phone, email...) is not a terminology system, so only its value is the code.
    """
    obj, kind = node.value, data_type(node)
    if isinstance(obj, bool):
        yield TokenValue(None, "true" if obj else "false")
    elif isinstance(obj, (str, int)):
        yield from _token(None, str(obj), None)
    elif not isinstance(obj, dict):
        return
    elif kind == "CodeableConcept":
        yield from _concept_tokens(obj)
    elif kind == "Coding":
        yield from _token(_str(obj, "system"), _str(obj, "code"), _folded(_str(obj, "display")))
    elif kind == "Identifier":
        type_ = obj.get("type")
        text = _folded(_str(type_, "text")) if isinstance(type_, dict) else None
        yield from _token(_str(obj, "system"), _str(obj, "value"), text)
    elif kind == "ContactPoint":
        yield from _token(None, _str(obj, "value"), None)


def _concept_tokens(concept: dict[str, Any]) -> Iterator[TokenValue]:
    """One token per coding, its text the display (else the concept's text); a text-only
    row carries the concept's text when no coding shows it, so ``:text`` finds both."""
    text = _folded(_str(concept, "text"))
    codings = concept.get("coding")
    shown = set()
    for coding in codings if isinstance(codings, list) else ():
        if isinstance(coding, dict):
            display = _folded(_str(coding, "display")) or text
            for token in _token(_str(coding, "system"), _str(coding, "code"), display):
                shown.add(token.text)
                yield token
    if text and text not in shown:
        yield TokenValue(None, None, text)


def _token(system: str | None, code: str | None, text: str | None) -> Iterator[TokenValue]:
    if (system or code) and len(system or "") <= MAX_CODE and len(code or "") <= MAX_CODE:
        yield TokenValue(system, code, text)


def _read_strings(node: Node) -> Iterator[StringValue]:
    """string/markdown; each part of a HumanName or an Address as a value of its own.

    Any other element is searched by its ``text``.
    """
    obj, kind = node.value, data_type(node)
    if isinstance(obj, str):
        parts: list[Any] = [obj]
    elif isinstance(obj, dict) and kind == "HumanName":
        parts = [obj.get(key) for key in _NAME_PARTS]
    elif isinstance(obj, dict) and kind == "Address":
        parts = [obj.get(key) for key in _ADDRESS_PARTS]
    elif isinstance(obj, dict):  # a name or address with text only, a concept's text...
        parts = [obj.get("text")]
    else:
        return
    for part in parts:
        for text in part if isinstance(part, list) else [part]:
            if isinstance(text, str) and (folded := _folded(text)):
                yield StringValue(folded, text[:MAX_TEXT])


def _read_references(node: Node) -> Iterator[ReferenceValue]:
    """A Reference's literal ``reference``; a canonical/uri as its URL without ``|version``.

    ``Type/id`` (a version suffix dropped) is local; an absolute URL ending in ``Type/id``
    keeps the URL and gives type and id too; other URLs (``urn:uuid:``...) only the URL.
    A contained ``#id`` is not indexed. An inline resource (``Bundle.entry[0].resource``)
    counts as a reference to its own type and id.
    """
    obj = node.value
    if isinstance(obj, str):
        url = obj.split("|", 1)[0]
        if url and len(url) <= MAX_URL:
            yield ReferenceValue(None, None, url)
        return
    if not isinstance(obj, dict):
        return
    if isinstance(obj.get("resourceType"), str):
        if local := _LOCAL_REF.fullmatch(f"{obj['resourceType']}/{_str(obj, 'id')}"):
            yield ReferenceValue(local["type"], local["id"], None)
        return
    reference = _str(obj, "reference")
    if not reference or reference.startswith("#") or len(reference) > MAX_URL:
        return
    if local := _LOCAL_REF.fullmatch(reference):
        yield ReferenceValue(local["type"], local["id"], None)
    elif absolute := _ABSOLUTE_REF.fullmatch(reference):
        yield ReferenceValue(absolute["type"], absolute["id"], reference)
    else:
        yield ReferenceValue(None, None, reference)


def _read_uris(node: Node) -> Iterator[UriValue]:
    """uri, url, canonical, oid, uuid: the value as written."""
    if isinstance(node.value, str) and 0 < len(node.value) <= MAX_URL:
        yield UriValue(node.value)


_READERS: dict[str, Callable[[Node], Iterator[IndexValue]]] = {
    "token": _read_tokens,
    "string": _read_strings,
    "date": read_dates,
    "number": read_numbers,
    "quantity": read_quantities,
    "reference": _read_references,
    "uri": _read_uris,
}
