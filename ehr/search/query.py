"""A FHIR search query string to a ``SearchQuery`` (https://hl7.org/fhir/R4/search.html).

``parse_search`` is the only entry point. Repeated parameters are ANDed, comma-separated
values ORed; criteria are parsed in ``ehr.search.query_criteria``, the result parameters
(``_count``, ``_sort``, ``_total``, ``_include``, ``_revinclude``, ``_summary``,
``_elements``, ``_format``, ``_pretty``, ``_cursor`` and, for system search, ``_type``)
here. Unknown or unsupported parameters raise ``InvalidSearch`` under strict handling
(``Prefer: handling=strict``) and are otherwise skipped and listed in ``ignored``, so the
self link shows what was actually applied; a malformed value is always an error.

Nothing but ``InvalidSearch`` ever escapes for any client text (a hypothesis test checks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from ehr.errors import InvalidSearch
from ehr.search.cursor import decode_cursor
from ehr.search.query_criteria import UnsupportedParameter, parse_criterion, resolve
from ehr.search.query_model import (
    Criterion,
    Include,
    ParamRegistry,
    SearchQuery,
    SortKey,
)

__all__ = ["ParamRegistry", "SearchQuery", "parse_search"]

MAX_NAME = 256
MAX_VALUE = 4096
MAX_CRITERIA = 32
MAX_TERMS = 256
"""At most ``MAX_CRITERIA`` parameters ANDed, and ``MAX_TERMS`` values in all of them (one
parameter ORs at most ``ehr.search.query_values.MAX_OR_VALUES``). Unbounded, a query
string could build SQL that SQLite refuses to parse (an expression over 1000 levels deep)
and that takes either database seconds to minutes to plan."""
MAX_INCLUDES = 32
SORTABLE = {"string", "token", "date", "number", "quantity", "uri"}
_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z]{0,63}$")
_ELEMENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_CHOICES = {
    "_total": ("none", "estimate", "accurate"),
    "_summary": ("true", "false", "count", "text", "data"),
    "_pretty": ("true", "false"),
}


@dataclass
class _Parse:
    """The state of one ``parse_search`` call."""

    registry: ParamRegistry
    types: tuple[str, ...]
    strict: bool
    max_count: int
    base_url: str | None
    count: int = 20
    sort: tuple[SortKey, ...] = ()
    elements: tuple[str, ...] = ()
    choices: dict[str, str] = field(default_factory=dict)
    """``_total``, ``_summary``, ``_pretty`` and ``_format`` as given."""
    criteria: list[Criterion] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    params: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, name: str, value: str, reason: str) -> None:
        """An unknown/unsupported parameter: an error if strict, else ignored."""
        if self.strict:
            raise InvalidSearch(f"{reason}: {name}", expression=(name,))
        self.ignored.append((name, value))

    def keep(self, name: str, value: str, *, single: bool = False) -> None:
        if single:
            self.params[:] = [(n, v) for n, v in self.params if n != name]
        self.params.append((name, value))


def parse_search(
    resource_type: str | None,
    params: list[tuple[str, str]],
    registry: ParamRegistry,
    *,
    strict: bool,
    default_count: int = 20,
    max_count: int = 1000,
    base_url: str | None = None,
) -> SearchQuery:
    """The ``SearchQuery`` for ``params`` (decoded query string pairs, in order).

    ``resource_type`` None is a system-level search. ``_count`` defaults to
    ``default_count`` and is clamped to ``max_count`` (the link then shows the clamped
    value). ``base_url`` (the server's public base) lets absolute references to this
    server match local ``Type/id`` references.
    """
    types = _types(resource_type, params, registry)
    state = _Parse(registry, types, strict, max_count, base_url)
    state.count = min(default_count, max_count)
    cursor_token: str | None = None
    for name, value in params:
        _check_text(name, value)
        if value == "" or name == "_type":
            if value == "":
                state.ignored.append((name, value))
            elif resource_type is None:
                state.keep(name, value, single=True)
            else:
                state.skip(name, value, "_type is only supported on system-level search")
            continue
        if name == "_cursor":
            cursor_token = value
            continue
        _one(state, name, value)
    if len(state.criteria) > MAX_CRITERIA:
        raise InvalidSearch(f"a search may combine at most {MAX_CRITERIA} parameters")
    if sum(_terms(criterion) for criterion in state.criteria) > MAX_TERMS:
        raise InvalidSearch(f"a search may hold at most {MAX_TERMS} values in all")
    if len(set(state.includes)) + len(set(state.revincludes)) > MAX_INCLUDES:
        raise InvalidSearch(f"a search may ask for at most {MAX_INCLUDES} _include/_revinclude")
    query = SearchQuery(
        resource_type=resource_type,
        types=state.types,
        criteria=tuple(state.criteria),
        sort=state.sort,
        count=state.count,
        total=state.choices.get("_total"),
        includes=tuple(dict.fromkeys(state.includes)),
        revincludes=tuple(dict.fromkeys(state.revincludes)),
        summary=state.choices.get("_summary"),
        elements=state.elements,
        format=state.choices.get("_format"),
        pretty=state.choices.get("_pretty") == "true",
        params=tuple(state.params),
        ignored=tuple(state.ignored),
    )
    if cursor_token is None:
        return query
    return replace(query, cursor=decode_cursor(cursor_token, query.sort_signature(), query.sort))


def _terms(criterion: Criterion) -> int:
    return len(criterion.values) + (_terms(criterion.chain) if criterion.chain else 0)


def _check_text(name: str, value: str) -> None:
    """Refuse what no database can bind: overlong text, NUL, unpaired surrogates."""
    if len(name) > MAX_NAME or len(value) > MAX_VALUE:
        raise InvalidSearch(f"search parameter too long: {name[:64]!r}", expression=(name[:64],))
    text = name + value
    if "\x00" in text or not _encodes(text):
        raise InvalidSearch(f"search parameter has invalid characters: {name[:64]!r}")


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _types(
    resource_type: str | None,
    params: list[tuple[str, str]],
    registry: ParamRegistry,
) -> tuple[str, ...]:
    """The resource types searched: the path's type, else the last ``_type``, else all."""
    if resource_type is not None:
        return (resource_type,)
    values = [value for name, value in params if name == "_type" and value]
    if not values:
        return ()
    types = tuple(dict.fromkeys(t.strip() for t in values[-1].split(",") if t.strip()))
    for name in types:
        if not _TYPE_NAME.match(name) or not registry.params_for(name):
            raise InvalidSearch(
                f"unknown resource type in _type: {name[:64]!r}", expression=("_type",)
            )
    return types


def _one(state: _Parse, name: str, value: str) -> None:
    base, _, modifier = name.partition(":")
    if base in ("_include", "_revinclude"):
        if modifier:
            state.skip(name, value, f"{name} is not supported (no :iterate)")
        else:
            _include(state, name, value)
        return
    handler = _RESULT_PARAMS.get(base)
    if handler is not None:
        if modifier:
            state.skip(name, value, "modifiers are not supported on result parameters")
        else:
            handler(state, name, value)
        return
    try:
        criterion = parse_criterion(
            state.registry, state.types, name, value, base_url=state.base_url
        )
    except UnsupportedParameter as exc:
        state.skip(name, value, exc.reason)
        return
    state.criteria.append(criterion)
    state.keep(name, value)


def _count(state: _Parse, name: str, value: str) -> None:
    if not re.fullmatch(r"\d{1,9}", value, re.ASCII):
        raise InvalidSearch(
            f"_count must be a non-negative integer, not {value[:32]!r}", expression=(name,)
        )
    state.count = min(int(value), state.max_count)
    state.keep(name, str(state.count), single=True)


def _choice(state: _Parse, name: str, value: str) -> None:
    if value not in _CHOICES[name]:
        raise InvalidSearch(
            f"{name} must be one of {', '.join(_CHOICES[name])}", expression=(name,)
        )
    state.choices[name] = value
    state.keep(name, value, single=True)


def _format(state: _Parse, name: str, value: str) -> None:
    state.choices[name] = value
    state.keep(name, value, single=True)


def _elements(state: _Parse, name: str, value: str) -> None:
    elements = tuple(dict.fromkeys(e.strip() for e in value.split(",") if e.strip()))
    for element in elements:
        if not _ELEMENT.match(element):
            raise InvalidSearch(
                f"_elements: not an element name {element[:64]!r}", expression=(name,)
            )
    state.elements = elements
    state.keep(name, ",".join(elements), single=True)


def _sort(state: _Parse, name: str, value: str) -> None:
    keys: dict[str, SortKey] = {}
    for text in (k.strip() for k in value.split(",")):
        code = text.removeprefix("-")
        if not code or code in keys:
            continue
        resolved = (
            None if ":" in code or "." in code else resolve(state.registry, state.types, code)
        )
        if resolved is None or resolved.ref.type not in SORTABLE:
            kind = "unknown" if resolved is None else resolved.ref.type
            state.skip(name, text, f"cannot sort by {kind} parameter {code[:64]!r}")
            continue
        keys[code] = SortKey(resolved.ref, descending=text.startswith("-"))
    state.sort = tuple(keys.values())
    signature = ",".join(("-" if k.descending else "") + k.param.code for k in keys.values())
    state.params[:] = [(n, v) for n, v in state.params if n != name]
    if signature:
        state.keep(name, signature)


def _include(state: _Parse, name: str, value: str) -> None:
    reverse = name == "_revinclude"
    parts = value.split(":")
    if value == "*" and not reverse:
        state.includes.append(Include(None, None))
        state.keep(name, value)
        return
    if len(parts) not in (2, 3) or not _TYPE_NAME.match(parts[0]) or not parts[1]:
        raise InvalidSearch(
            f"{name} must be Type:param[:Target], not {value[:64]!r}", expression=(name,)
        )
    source, param = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if not reverse and state.types and source not in state.types:
        raise InvalidSearch(f"{name}: {source} is not the type searched", expression=(name,))
    if target is not None and not _TYPE_NAME.match(target):
        raise InvalidSearch(f"{name}: not a resource type {target[:64]!r}", expression=(name,))
    if param != "*":
        resolved = resolve(state.registry, (source,), param)
        if resolved is None:
            state.skip(name, value, f"unknown search parameter {source}:{param}")
            return
        if resolved.ref.type != "reference":
            raise InvalidSearch(f"{name}: {source}:{param} is not a reference", expression=(name,))
        if target is not None and resolved.targets and target not in resolved.targets:
            raise InvalidSearch(
                f"{name}: {source}:{param} cannot refer to {target}", expression=(name,)
            )
    elif not state.registry.params_for(source):
        raise InvalidSearch(f"{name}: unknown resource type {source!r}", expression=(name,))
    include = Include(source, None if param == "*" else param, target)
    (state.revincludes if reverse else state.includes).append(include)
    state.keep(name, value)


_RESULT_PARAMS = {
    "_count": _count,
    "_sort": _sort,
    "_total": _choice,
    "_summary": _choice,
    "_pretty": _choice,
    "_elements": _elements,
    "_format": _format,
}
