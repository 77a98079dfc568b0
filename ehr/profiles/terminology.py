"""Membership of a code in a ValueSet, for the bindings of the national profiles.

Only what the profiles use: a ValueSet ``compose.include`` either lists ``concept``s of a
system or takes a whole CodeSystem (no ``concept``). A whole system that is shipped here
complete (``content: complete``) contributes exactly its codes; a system we only hold a
fragment of (ICD-10, LOINC: ``content: fragment``) or do not hold at all can only be checked
for its system, so any code of it is accepted. An ``expansion.contains`` is used as given.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Include:
    """One ``compose.include``: a system and its codes (``None``: the whole system)."""

    system: str
    codes: frozenset[str] | None


@dataclass(frozen=True)
class CodeSystemCodes:
    """The codes a shipped CodeSystem defines, and whether that is all of them."""

    url: str
    complete: bool
    codes: frozenset[str]


@dataclass(frozen=True)
class Terminology:
    """The ValueSets and CodeSystems of one profile directory."""

    value_sets: Mapping[str, tuple[Include, ...]]
    code_systems: Mapping[str, CodeSystemCodes]

    def knows(self, value_set: str) -> bool:
        return unversioned(value_set) in self.value_sets

    def contains(self, value_set: str, system: str | None, code: str) -> bool:
        """Whether ``system|code`` is in ``value_set`` (``system=None``: a bare ``code``)."""
        for include in self.value_sets.get(unversioned(value_set), ()):
            if system is not None and include.system != system:
                continue
            if include.codes is not None:
                if code in include.codes:
                    return True
                continue
            known = self.code_systems.get(include.system)
            if known is None or not known.complete or code in known.codes:
                return True
        return False


def build_terminology(
    value_sets: list[dict[str, Any]], code_systems: list[dict[str, Any]]
) -> Terminology:
    """Compile the ValueSet and CodeSystem resources of a directory."""
    systems = {
        cs["url"]: CodeSystemCodes(
            cs["url"], cs.get("content") == "complete", frozenset(_concept_codes(cs.get("concept")))
        )
        for cs in code_systems
        if isinstance(cs.get("url"), str)
    }
    raw = {vs["url"]: vs for vs in value_sets if isinstance(vs.get("url"), str)}
    compiled = {url: tuple(_includes(url, raw, set())) for url in raw}
    return Terminology(compiled, systems)


def _includes(url: str, raw: Mapping[str, dict[str, Any]], seen: set[str]) -> Iterator[Include]:
    """The includes of ValueSet ``url``, imported ValueSets (``include.valueSet``) flattened."""
    if url in seen or url not in raw:
        return
    seen.add(url)
    value_set = raw[url]
    for include in (value_set.get("compose") or {}).get("include") or []:
        for imported in include.get("valueSet") or []:
            yield from _includes(unversioned(imported), raw, seen)
        system = include.get("system")
        if not isinstance(system, str):
            continue
        concepts = include.get("concept")
        codes = frozenset(c["code"] for c in concepts if "code" in c) if concepts else None
        yield Include(system, codes)
    contains = (value_set.get("expansion") or {}).get("contains") or []
    for system, codes in _expansion(contains).items():
        yield Include(system, frozenset(codes))


def _expansion(contains: list[dict[str, Any]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    stack = list(contains)
    while stack:
        item = stack.pop()
        if isinstance(item.get("system"), str) and isinstance(item.get("code"), str):
            found.setdefault(item["system"], set()).add(item["code"])
        stack.extend(item.get("contains") or [])
    return found


def _concept_codes(concepts: list[dict[str, Any]] | None) -> Iterator[str]:
    """Every code of a CodeSystem's concept tree."""
    for concept in concepts or []:
        if isinstance(concept.get("code"), str):
            yield concept["code"]
        yield from _concept_codes(concept.get("concept"))


def unversioned(canonical: str) -> str:
    """``http://x/ValueSet/y|1.0`` -> ``http://x/ValueSet/y``."""
    return canonical.split("|", 1)[0]
