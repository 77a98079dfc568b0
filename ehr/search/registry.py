"""The search parameters the server supports, loaded from ``fhir_profiles/`` as data.

The definitions are the official FHIR R4 ``SearchParameter`` resources (fetched by
``scripts/fetch_fhir_definitions.py``). A parameter is supported for a resource type only
when its expression compiles (``ehr.search.fhirpath``); the CapabilityStatement is built
from this registry, so it lists exactly what works. ``python -m ehr.search.registry``
prints the definitions left out and why.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ehr.search.fhirpath import Evaluator, compile_expression, elements_read, restrict

__all__ = ["SearchParamDef", "SearchRegistry", "evaluator", "load_registry", "report"]

NOT_INDEXED_TYPES = frozenset({"composite", "special"})
"""Parameter types with no index table of their own."""
EXCLUDED_CODES = frozenset({"_text", "_content", "_query", "_list", "_has", "_type"})
"""Parameters that need machinery beyond an index (full text, named queries, lists)."""
_NOT_DOMAIN_RESOURCES = frozenset({"Bundle", "Binary", "Parameters"})


@dataclass(frozen=True)
class SearchParamDef:
    """One search parameter as it applies to one resource type."""

    code: str
    """The name used in the query string, e.g. ``identifier``."""
    type: str
    """token | string | date | number | quantity | reference | uri | composite | special."""
    resource_type: str
    expression: str
    """The FHIRPath expression restricted to ``resource_type`` (the ``|`` parts that apply)."""
    url: str
    targets: tuple[str, ...] = ()
    """For reference parameters: the resource types the reference may point at."""
    modifiers: tuple[str, ...] = ()
    comparators: tuple[str, ...] = ()
    components: tuple[tuple[str, str], ...] = field(default=())
    """For composite parameters: (definition url, expression) of each component."""
    description: str = ""


class SearchRegistry:
    """Every supported parameter of every resource type, built once from the definitions.

    Construction compiles everything, so an expression outside the FHIRPath subset drops
    its parameter here and never surfaces at request time.
    """

    def __init__(self, definitions: list[dict[str, Any]], resource_types: list[str]) -> None:
        self._known_types = tuple(resource_types)
        by_type: dict[str, dict[str, SearchParamDef]] = {name: {} for name in resource_types}
        # Type-specific definitions first, so they win over a shared one with the same code.
        for definition in sorted(definitions, key=_generality):
            for resource_type in _applies_to(definition, self._known_types):
                params = by_type.get(resource_type)
                if params is None or definition["code"] in params:
                    continue
                param = _param_def(definition, resource_type)
                if param is not None:
                    params[param.code] = param
        self._params = {
            name: MappingProxyType(dict(sorted(params.items()))) for name, params in by_type.items()
        }
        self._served: tuple[str, ...] | None = None

    def resource_types(self) -> tuple[str, ...]:
        """The R4 resource types the server can serve: defined in R4 and known to the models.

        The first call imports every model class (about a second and a half), so it is
        computed on demand rather than when the definitions load.
        """
        if self._served is None:
            from ehr.fhir.models import model_class

            self._served = tuple(t for t in self._known_types if model_class(t) is not None)
        return self._served

    def params_for(self, resource_type: str) -> Mapping[str, SearchParamDef]:
        """The supported parameters of ``resource_type`` by code; empty for an unknown type."""
        return self._params.get(resource_type, _EMPTY)

    def get(self, resource_type: str, code: str) -> SearchParamDef | None:
        """The parameter ``code`` of ``resource_type``, or ``None`` if it is not supported."""
        return self.params_for(resource_type).get(code)

    def extractor(self, param: SearchParamDef) -> Evaluator:
        """The compiled expression of ``param`` (cached per parameter)."""
        return evaluator(param)


_EMPTY: Mapping[str, SearchParamDef] = MappingProxyType({})


def evaluator(param: SearchParamDef) -> Evaluator:
    """The compiled FHIRPath of ``param``; parameters come from the registry, so it compiles.

    Cached by (expression, type): two strings hash once, where the whole frozen
    definition (target lists included) would be hashed again on every write.
    """
    return _compiled(param.expression, param.resource_type)


def elements_of(param: SearchParamDef) -> frozenset[str] | None:
    """The top-level elements ``param`` reads (``ehr.search.fhirpath.elements_read``),
    cached as ``evaluator`` is."""
    return _elements(param.expression, param.resource_type)


@cache
def _elements(expression: str, resource_type: str) -> frozenset[str] | None:
    return elements_read(expression, resource_type)


@cache
def _compiled(expression: str, resource_type: str) -> Evaluator:
    compiled = compile_expression(expression, resource_type)
    if compiled is None:
        raise ValueError(f"{expression!r} does not compile for {resource_type}")
    return compiled


@lru_cache(maxsize=8)
def load_registry(profiles_dir: Path) -> SearchRegistry:
    """The registry of ``profiles_dir`` (``search-parameters.json``, ``resource-types.json``)."""
    bundle = _read_json(profiles_dir / "search-parameters.json")
    definitions = [entry["resource"] for entry in bundle.get("entry", [])]
    return SearchRegistry(definitions, _read_json(profiles_dir / "resource-types.json"))


def report(profiles_dir: Path) -> str:
    """A text report of the definitions not supported for some base type, with the reason."""
    bundle = _read_json(profiles_dir / "search-parameters.json")
    lines, supported, unsupported = [], 0, 0
    for entry in bundle.get("entry", []):
        definition = entry["resource"]
        for base in definition.get("base", []) or ["(no base)"]:
            reason = _unsupported_reason(definition, base)
            if reason is None:
                supported += 1
                continue
            unsupported += 1
            lines.append(f"{definition['id']} [{base}] {definition['type']}: {reason}")
    lines.append(f"{supported} supported, {unsupported} unsupported (definition x base type)")
    return "\n".join(lines)


def _unsupported_reason(definition: dict[str, Any], base: str) -> str | None:
    if definition["code"] in EXCLUDED_CODES:
        return "excluded code"
    if definition["type"] in NOT_INDEXED_TYPES:
        return f"{definition['type']} parameter"
    expression = definition.get("expression")
    if not expression:
        return "no expression"
    target_type = "Patient" if base in ("Resource", "DomainResource") else base
    if compile_expression(expression, target_type) is None:
        return f"expression outside the FHIRPath subset: {expression}"
    return None


def _generality(definition: dict[str, Any]) -> tuple[int, str]:
    bases = definition.get("base", [])
    shared = any(base in ("Resource", "DomainResource") for base in bases)
    return (2 if shared else 1 if len(bases) > 1 else 0, definition["id"])


def _applies_to(definition: dict[str, Any], known_types: tuple[str, ...]) -> list[str]:
    types: list[str] = []
    for base in definition.get("base", []):
        if base == "Resource":
            types.extend(known_types)
        elif base == "DomainResource":
            types.extend(t for t in known_types if t not in _NOT_DOMAIN_RESOURCES)
        else:
            types.append(base)
    return types


def _param_def(definition: dict[str, Any], resource_type: str) -> SearchParamDef | None:
    expression = definition.get("expression")
    if (
        definition["code"] in EXCLUDED_CODES
        or definition["type"] in NOT_INDEXED_TYPES
        or not expression
        or compile_expression(expression, resource_type) is None
    ):
        return None
    return SearchParamDef(
        code=definition["code"],
        type=definition["type"],
        resource_type=resource_type,
        expression=restrict(expression, resource_type),
        url=definition["url"],
        targets=tuple(definition.get("target", ())),
        modifiers=tuple(definition.get("modifier", ())),
        comparators=tuple(definition.get("comparator", ())),
        components=tuple(
            (component["definition"], component["expression"])
            for component in definition.get("component", ())
        ),
        description=_description(definition.get("description", ""), resource_type),
    )


def _description(text: str, resource_type: str) -> str:
    """The line of a shared description that is about ``resource_type`` (``Type: text``)."""
    prefix = f"{resource_type}: "
    for line in text.split("\n"):
        if line.startswith(prefix):
            return line[len(prefix) :]
    return text


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


if __name__ == "__main__":
    from ehr.config import get_settings

    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else get_settings().profiles_dir
    print(report(directory))
