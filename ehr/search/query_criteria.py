"""Search criteria from ``name[:modifier][.chained]=value[,value]`` (FHIR R4 search.html).

Names are resolved against the registry and values parsed by their parameter type here,
once, so a malformed value is an ``InvalidSearch`` naming it, never a database error. A
parameter the server does not know or support raises ``UnsupportedParameter`` instead,
which ``parse_search`` turns into an error (strict) or an ignored parameter (lenient).

Escaping follows the spec: ``\\,`` ``\\|`` ``\\$`` ``\\\\`` stand for the character itself.
Chaining goes one level deep; with several candidate target types the chained parameter
must have the same type in all of them, else the client must narrow with ``:Type``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ehr.errors import InvalidSearch
from ehr.search.query_model import RESOURCE_COLUMN_PARAMS, Criterion, ParamRef, ParamRegistry
from ehr.search.query_values import parse_values
from ehr.search.registry import SearchParamDef

_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z]{0,63}$")
_SEARCHABLE = {"string", "token", "date", "number", "quantity", "reference", "uri"}
_BUILTIN = {"_id": "token", "_lastUpdated": "date"}
_COMMON_URL = "http://hl7.org/fhir/SearchParameter/Resource-"
_PROBE_TYPES = ("Resource", "Patient")
"""Where a system search without ``_type`` looks up the parameters common to all types."""


class UnsupportedParameter(Exception):
    """The parameter is unknown to, or not supported by, this server."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{reason}: {name}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class Resolved:
    """A parameter code resolved for the searched types, with its reference targets."""

    ref: ParamRef
    targets: tuple[str, ...] = ()


def resolve(registry: ParamRegistry, types: tuple[str, ...], code: str) -> Resolved | None:
    """The parameter ``code`` on every type in ``types`` (all types if empty), or None.

    Across several types the definitions must agree on the parameter type; their
    reference targets are united.
    """
    if code in _BUILTIN:
        return Resolved(ParamRef(code, _BUILTIN[code], types))
    kinds: set[str] = set()
    targets: list[str] = []
    for resource_type in types or ("",):
        definition = registry.get(resource_type, code) if types else _common(registry, code)
        if definition is None:
            return None
        kinds.add(definition.type)
        targets.extend(t for t in definition.targets if t not in targets)
    if len(kinds) != 1:
        raise InvalidSearch(
            f"search parameter {code!r} has different types across the searched resource types",
            expression=(code,),
        )
    (kind,) = kinds
    return Resolved(ParamRef(code, kind, types), tuple(targets))


def _common(registry: ParamRegistry, code: str) -> SearchParamDef | None:
    """A parameter defined on ``Resource`` itself (``_tag``, ``_profile``...), or None."""
    for probe in _PROBE_TYPES:
        definition = registry.get(probe, code)
        if definition is not None and (
            probe == "Resource" or definition.url.startswith(_COMMON_URL)
        ):
            return definition
    return None


def parse_criterion(
    registry: ParamRegistry,
    types: tuple[str, ...],
    name: str,
    raw: str,
    *,
    base_url: str | None = None,
) -> Criterion:
    """The criterion for one ``name=raw`` query parameter."""
    head, dot, tail = name.partition(".")
    code, _, modifier = head.partition(":")
    resolved = resolve(registry, types, code)
    if resolved is None:
        raise UnsupportedParameter(name, "unknown search parameter")
    if resolved.ref.type not in _SEARCHABLE:
        raise UnsupportedParameter(name, f"{resolved.ref.type} search parameters are not supported")
    if dot:
        return _chained(registry, resolved, modifier or None, tail, raw, name, base_url)
    return _criterion(resolved, modifier or None, raw, name, base_url)


def _criterion(
    resolved: Resolved, modifier: str | None, raw: str, name: str, base_url: str | None
) -> Criterion:
    ref = resolved.ref
    target_types: tuple[str, ...] = ()
    if modifier is not None:
        checked = _check_modifier(resolved, modifier, name)
        if checked == "type":
            target_types = (modifier,)
        modifier = checked
    values = parse_values(
        ref,
        modifier,
        raw,
        name=name,
        target_types=target_types or resolved.targets,
        base_url=base_url,
    )
    return Criterion(ref, values, modifier, target_types)


_ALLOWED = {
    "string": {"exact", "contains", "missing"},
    "token": {"not", "text", "missing"},
    "date": {"missing"},
    "number": {"missing"},
    "quantity": {"missing"},
    "reference": {"missing"},
    "uri": {"below", "missing"},
}
_KNOWN = {
    "missing",
    "exact",
    "contains",
    "text",
    "not",
    "above",
    "below",
    "in",
    "not-in",
    "of-type",
    "identifier",
}


def _check_modifier(resolved: Resolved, modifier: str, name: str) -> str:
    """The modifier (``type`` for a reference ``:Type``) if allowed here, else InvalidSearch."""
    ref = resolved.ref
    if ref.code in RESOURCE_COLUMN_PARAMS:
        raise InvalidSearch(f"{ref.code} takes no modifier: {name!r}", expression=(name,))
    if ref.type == "reference" and _TYPE_NAME.match(modifier):
        if resolved.targets and modifier not in resolved.targets:
            raise InvalidSearch(
                f"{ref.code} cannot refer to {modifier} (allowed: {', '.join(resolved.targets)})",
                expression=(name,),
            )
        return "type"
    if modifier in _ALLOWED[ref.type]:
        return modifier
    if modifier in _KNOWN:
        raise InvalidSearch(
            f"modifier :{modifier} is not supported on {ref.type} parameter {ref.code!r}",
            expression=(name,),
        )
    raise InvalidSearch(f"unknown modifier :{modifier} in {name!r}", expression=(name,))


def _chained(
    registry: ParamRegistry,
    resolved: Resolved,
    modifier: str | None,
    tail: str,
    raw: str,
    name: str,
    base_url: str | None,
) -> Criterion:
    """``ref[:Type].param[:modifier]=value``: the referenced resources must match."""
    ref = resolved.ref
    if ref.type != "reference":
        raise InvalidSearch(
            f"only reference parameters can be chained: {name!r}", expression=(name,)
        )
    if "." in tail:
        raise UnsupportedParameter(name, "chains longer than one level are not supported")
    if modifier is None:
        candidates = resolved.targets
    elif _check_modifier(resolved, modifier, name) == "type":
        candidates = (modifier,)
    else:
        raise InvalidSearch(
            f"only a :Type modifier may precede a chain: {name!r}", expression=(name,)
        )
    if not candidates:
        raise InvalidSearch(
            f"{ref.code} may refer to any type; name it, e.g. {ref.code}:Patient.{tail}",
            expression=(name,),
        )
    code, _, inner_modifier = tail.partition(":")
    found = {t: resolve(registry, (t,), code) for t in candidates}
    usable = {t: r for t, r in found.items() if r is not None and r.ref.type in _SEARCHABLE}
    if not usable:
        raise UnsupportedParameter(name, "unknown chained search parameter")
    kinds = {r.ref.type for r in usable.values()}
    if len(kinds) > 1:
        raise InvalidSearch(
            f"{tail!r} means different things on {', '.join(sorted(usable))}; "
            f"narrow the chain, e.g. {ref.code}:{sorted(usable)[0]}.{tail}",
            expression=(name,),
        )
    target_types = tuple(sorted(usable))
    targets = tuple(dict.fromkeys(t for r in usable.values() for t in r.targets))
    inner = Resolved(ParamRef(code, kinds.pop(), target_types), targets)
    chain = _criterion(inner, inner_modifier or None, raw, name, base_url)
    return Criterion(ref, (), None, target_types, chain)
