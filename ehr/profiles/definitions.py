"""The profiles of a directory, read once and compiled into element rules.

Only the StructureDefinition subset the national profiles use is understood (see
``docs/profiles.md``): ``differential.element[]`` with ``id``/``path`` (slices as
``Type.elem:slice``, children ``Type.elem:slice.child``), ``min``/``max``, ``fixed[x]`` and
``pattern[x]``, ``binding`` (required or extensible), ``type[]`` with ``targetProfile``,
slicing by ``value``/``pattern`` on a path such as ``system``, and the ``regex`` extension.
Whatever a profile says outside that subset is not enforced; what cannot be compiled (an
unknown ValueSet, a slice without a discriminating value, a bad regex) is listed in
``ProfileSet.problems`` so a test can require there is none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from ehr.fhir.identifiers import CORE
from ehr.profiles.terminology import Terminology, build_terminology, unversioned

NATIONAL_PREFIX = f"{CORE}/StructureDefinition/"
"""A StructureDefinition whose url starts here is a national profile."""
CORE_BASE = "http://hl7.org/fhir/StructureDefinition/"
REGEX_EXTENSION = "http://hl7.org/fhir/StructureDefinition/regex"


@dataclass(frozen=True)
class Discriminator:
    """How an element is recognised as one of a slice: ``path`` holds ``value``."""

    path: str
    value: Any
    pattern: bool
    """Match as a pattern (the element holds at least ``value``) rather than equality."""


@dataclass(frozen=True)
class Step:
    """One segment of an element id: ``identifier:cccd`` -> name ``identifier``, slice ``cccd``."""

    name: str
    slice: str | None = None
    discriminators: tuple[Discriminator, ...] = ()


@dataclass(frozen=True)
class TypeRule:
    code: str
    targets: frozenset[str] | None
    """The resource types a Reference may point at (``None``: any)."""


@dataclass(frozen=True)
class ElementRule:
    """The constraints of one differential element."""

    id: str
    steps: tuple[Step, ...]
    """The path below the resource: ``Patient.identifier:cccd.value`` has two steps."""
    min: int | None = None
    max: int | None = None
    """``None``: unbounded (``*``) or not constrained."""
    fixed: Any = None
    pattern: Any = None
    binding: tuple[str, str] | None = None
    """(strength, ValueSet canonical), for required and extensible bindings only."""
    types: tuple[TypeRule, ...] = ()
    regex: re.Pattern[str] | None = None
    closed_slices: tuple[Step, ...] | None = None
    """For a sliced element with ``rules: closed``: the slices an element must fall into."""


@dataclass(frozen=True)
class Profile:
    url: str
    name: str
    """The StructureDefinition ``id`` (``vn-core-patient``): how the policy names it."""
    type: str
    base: str
    elements: tuple[ElementRule, ...]


@dataclass
class ProfileSet:
    """Every profile and terminology resource of one directory."""

    profiles: dict[str, Profile] = field(default_factory=dict)
    terminology: Terminology = field(default_factory=lambda: build_terminology([], []))
    problems: list[str] = field(default_factory=list)

    def national(self, res_type: str) -> list[Profile]:
        """The national profiles of ``res_type``: they apply to every resource of the type."""
        return [
            p
            for url, p in sorted(self.profiles.items())
            if url.startswith(NATIONAL_PREFIX)
            and p.type == res_type
            and p.base.startswith(CORE_BASE)
        ]

    def get(self, canonical: str) -> Profile | None:
        return self.profiles.get(unversioned(canonical))

    def type_of(self, canonical: str) -> str | None:
        """The resource type a canonical (core base or a profile here) constrains."""
        profile = self.get(canonical)
        if profile is not None:
            return profile.type
        if canonical.startswith(CORE_BASE):
            return unversioned(canonical.removeprefix(CORE_BASE))
        return None


@lru_cache(maxsize=8)
def load_profiles(directory: Path) -> ProfileSet:
    """The profiles of ``directory``: its ``StructureDefinition-*.json``, ``ValueSet-*.json``
    and ``CodeSystem-*.json`` files, read once per directory."""
    resources = {
        kind: _read_all(directory, kind)
        for kind in ("StructureDefinition", "ValueSet", "CodeSystem")
    }
    profile_set = ProfileSet(
        terminology=build_terminology(resources["ValueSet"], resources["CodeSystem"])
    )
    for definition in resources["StructureDefinition"]:
        if definition.get("kind") == "resource" and isinstance(definition.get("url"), str):
            profile = compile_profile(definition, profile_set.problems)
            profile_set.profiles[profile.url] = profile
    for profile in profile_set.profiles.values():
        for rule in profile.elements:
            if rule.binding and not profile_set.terminology.knows(rule.binding[1]):
                profile_set.problems.append(
                    f"{profile.name} {rule.id}: unknown ValueSet {rule.binding[1]}"
                )
    profile_set.problems = list(dict.fromkeys(profile_set.problems))
    return profile_set


def _read_all(directory: Path, kind: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted(directory.glob(f"{kind}-*.json")):
        resource = orjson.loads(path.read_bytes())
        if isinstance(resource, dict) and resource.get("resourceType") == kind:
            found.append(resource)
    return found


def compile_profile(definition: dict[str, Any], problems: list[str]) -> Profile:
    """The element rules of one StructureDefinition's differential."""
    name = str(definition.get("id") or definition["url"].rsplit("/", 1)[-1])
    elements = [
        e
        for e in (definition.get("differential") or {}).get("element") or []
        if isinstance(e, dict)
    ]
    by_id = {_element_id(e): e for e in elements}
    rules = []
    for element in elements:
        element_id = _element_id(element)
        steps = _steps(element_id, by_id, problems, name)
        if not steps:
            continue  # the root element: nothing of the subset applies to it
        rules.append(_rule(element_id, steps, element, by_id, problems, name))
    return Profile(
        url=definition["url"],
        name=name,
        type=str(definition.get("type") or ""),
        base=str(definition.get("baseDefinition") or ""),
        elements=tuple(rules),
    )


def _element_id(element: dict[str, Any]) -> str:
    return str(element.get("id") or element.get("path") or "")


def _steps(
    element_id: str, by_id: Mapping[str, dict[str, Any]], problems: list[str], name: str
) -> tuple[Step, ...]:
    parts = element_id.split(".")
    steps = []
    prefix = parts[0]
    for part in parts[1:]:
        child, _, slice_name = part.partition(":")
        base_id = f"{prefix}.{child}"
        prefix = f"{prefix}.{part}"
        if not slice_name:
            steps.append(Step(child))
            continue
        discriminators = _discriminators(prefix, base_id, by_id, problems, name)
        steps.append(Step(child, slice_name, discriminators))
    return tuple(steps)


def _discriminators(
    slice_id: str,
    base_id: str,
    by_id: Mapping[str, dict[str, Any]],
    problems: list[str],
    name: str,
) -> tuple[Discriminator, ...]:
    """What marks an element as one of slice ``slice_id`` (its fixed/pattern discriminator)."""
    child_name = base_id.rsplit(".", 1)[-1]
    slice_name = slice_id.rsplit(":", 1)[-1]
    if child_name.endswith("[x]"):
        # A type slice of a choice (value[x]:valueQuantity) is told by its JSON name.
        return (Discriminator("@name", slice_name, False),)
    slicing = (by_id.get(base_id) or {}).get("slicing") or {}
    found = []
    for discriminator in slicing.get("discriminator") or [{"type": "value", "path": "system"}]:
        path = str(discriminator.get("path") or "")
        value, is_pattern = _value_at(slice_id, path, by_id)
        if value is None:
            problems.append(f"{name} {slice_id}: no fixed or pattern value at {path!r}")
            continue
        found.append(
            Discriminator(path, value, is_pattern or discriminator.get("type") == "pattern")
        )
    return tuple(found)


def _value_at(slice_id: str, path: str, by_id: Mapping[str, dict[str, Any]]) -> tuple[Any, bool]:
    """The fixed or pattern value at ``path`` below the slice: on the child element, or
    inside the slice's own fixed/pattern value."""
    child = by_id.get(f"{slice_id}.{path}") or {}
    fixed, pattern = _fixed_and_pattern(child)
    if fixed is not None or pattern is not None:
        return (fixed, False) if fixed is not None else (pattern, True)
    fixed, pattern = _fixed_and_pattern(by_id.get(slice_id) or {})
    value = fixed if fixed is not None else pattern
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value, fixed is None


def _fixed_and_pattern(element: dict[str, Any]) -> tuple[Any, Any]:
    fixed = next((v for k, v in element.items() if k.startswith("fixed")), None)
    pattern = next((v for k, v in element.items() if k.startswith("pattern")), None)
    return fixed, pattern


def _rule(
    element_id: str,
    steps: tuple[Step, ...],
    element: dict[str, Any],
    by_id: Mapping[str, dict[str, Any]],
    problems: list[str],
    name: str,
) -> ElementRule:
    fixed, pattern = _fixed_and_pattern(element)
    binding = element.get("binding") or {}
    strength = binding.get("strength")
    value_set = binding.get("valueSet")
    rule_binding = (
        (strength, value_set)
        if strength in ("required", "extensible") and isinstance(value_set, str)
        else None
    )
    return ElementRule(
        id=element_id,
        steps=steps,
        min=element.get("min") if isinstance(element.get("min"), int) else None,
        max=_max(element.get("max")),
        fixed=fixed,
        pattern=pattern,
        binding=rule_binding,
        types=tuple(_type_rule(t) for t in element.get("type") or [] if isinstance(t, dict)),
        regex=_regex(element, problems, f"{name} {element_id}"),
        closed_slices=_closed_slices(element_id, element, by_id, problems, name),
    )


def _max(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _type_rule(type_: dict[str, Any]) -> TypeRule:
    targets = type_.get("targetProfile") or []
    return TypeRule(str(type_.get("code") or ""), frozenset(targets) if targets else None)


def _regex(element: dict[str, Any], problems: list[str], where: str) -> re.Pattern[str] | None:
    for extension in element.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == REGEX_EXTENSION:
            try:
                return re.compile(str(extension.get("valueString")))
            except re.error as error:
                problems.append(f"{where}: bad regex: {error}")
    return None


def _closed_slices(
    element_id: str,
    element: dict[str, Any],
    by_id: Mapping[str, dict[str, Any]],
    problems: list[str],
    name: str,
) -> tuple[Step, ...] | None:
    if (element.get("slicing") or {}).get("rules") != "closed":
        return None
    child = element_id.rsplit(".", 1)[-1]
    slices = [
        i for i in by_id if i.startswith(f"{element_id}:") and "." not in i[len(element_id) :]
    ]
    return tuple(
        Step(child, i.rsplit(":", 1)[-1], _discriminators(i, element_id, by_id, problems, name))
        for i in slices
    )
