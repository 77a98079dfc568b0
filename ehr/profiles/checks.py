"""The rules of one differential element, checked on a resource.

Issue codes, from the FHIR issue-type value set (https://hl7.org/fhir/R4/valueset-issue-type.html):

- ``required``: fewer elements (or slice members) than ``min``;
- ``structure``: more than ``max``, a choice element of a type the profile does not allow,
  an element outside every slice of a closed slicing;
- ``value``: a ``fixed[x]``/``pattern[x]`` mismatch, a value not matching the ``regex``;
- ``code-invalid``: a code outside the bound ValueSet (``error`` for a required binding,
  ``warning`` for an extensible one);
- ``invalid``: a Reference to a resource type the profile does not allow.

Expressions are FHIRPath with indexes (``Patient.identifier[0].value``); a missing element
or a slice's count is reported on the element (``Patient.identifier``), the diagnostics
naming the slice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from ehr.errors import Issue
from ehr.profiles.definitions import ElementRule, Profile, ProfileSet
from ehr.profiles.paths import Node, children, contains, element_name, in_slice, same, select

_PRIMITIVE_TYPES = {
    "Boolean", "Integer", "String", "Decimal", "Uri", "Url", "Canonical", "Base64Binary",
    "Instant", "Date", "DateTime", "Time", "Code", "Oid", "Id", "Markdown", "UnsignedInt",
    "PositiveInt", "Uuid",
}  # fmt: skip
_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{1,63}")


def check_element(
    rule: ElementRule, root: Node, profile: Profile, profiles: ProfileSet
) -> Iterator[Issue]:
    """Every issue ``rule`` finds in the resource at ``root``, in document order."""
    where = f"(profile {profile.name})"
    last = rule.steps[-1]
    label = f"slice {last.slice!r} of " if last.slice else ""
    for parent in select(root, rule.steps[:-1]):
        found = [c for c in children(parent, last.name) if in_slice(c, last)]
        element = f"{parent.expression}.{element_name(last.name)}"
        if rule.min is not None and len(found) < rule.min:
            yield Issue(
                "error",
                "required",
                f"{element}: {label}{element_name(last.name)} needs at least {rule.min} "
                f"element(s), found {len(found)} {where}",
                (element,),
            )
        if rule.max is not None and len(found) > rule.max:
            yield Issue(
                "error",
                "structure",
                f"{element}: {label}{element_name(last.name)} allows at most {rule.max} "
                f"element(s), found {len(found)} {where}",
                (element,),
            )
        for node in found:
            yield from _node_issues(rule, node, root, profiles, where)


def _node_issues(
    rule: ElementRule, node: Node, root: Node, profiles: ProfileSet, where: str
) -> Iterator[Issue]:
    at = node.expression
    yield from _type_issues(rule, node, root, profiles, where)
    if rule.fixed is not None and not same(node.value, rule.fixed):
        yield Issue("error", "value", f"{at}: must be exactly {_show(rule.fixed)} {where}", (at,))
    if rule.pattern is not None and not contains(node.value, rule.pattern):
        yield Issue("error", "value", f"{at}: must hold {_show(rule.pattern)} {where}", (at,))
    if rule.binding is not None:
        yield from _binding_issues(rule.binding, node, profiles, where)
    if rule.regex is not None and _is_primitive(node.value):
        text = _text(node.value)
        if rule.regex.fullmatch(text) is None:
            yield Issue(
                "error",
                "value",
                f"{at}: {text[:64]!r} does not match the pattern {rule.regex.pattern} {where}",
                (at,),
            )
    if rule.closed_slices is not None and not any(in_slice(node, s) for s in rule.closed_slices):
        names = ", ".join(s.slice or "" for s in rule.closed_slices)
        yield Issue(
            "error",
            "structure",
            f"{at}: in none of the slices ({names}) of a closed slicing {where}",
            (at,),
        )


def _type_issues(
    rule: ElementRule, node: Node, root: Node, profiles: ProfileSet, where: str
) -> Iterator[Issue]:
    if not rule.types:
        return
    at = node.expression
    name = rule.steps[-1].name
    if name.endswith("[x]"):
        key = at.rsplit(".", 1)[-1]
        actual = key[len(name) - 3 :]
        allowed = {t.code for t in rule.types}
        if _type_code(actual) not in allowed:
            yield Issue(
                "error",
                "structure",
                f"{at}: type {_type_code(actual)} is not allowed here; allowed: "
                f"{', '.join(sorted(allowed))} {where}",
                (at,),
            )
            return
    targets = _reference_targets(rule, profiles)
    if targets is None or not isinstance(node.value, dict):
        return
    target = referenced_type(node.value, root.value)
    if target is not None and target not in targets:
        yield Issue(
            "error",
            "invalid",
            f"{at}: refers to a {target}; the profile allows {', '.join(sorted(targets))} {where}",
            (at,),
        )


def _reference_targets(rule: ElementRule, profiles: ProfileSet) -> set[str] | None:
    """The resource types a Reference element may point at, if the profile restricts them."""
    targets: set[str] = set()
    for type_rule in rule.types:
        if type_rule.code != "Reference":
            continue
        if type_rule.targets is None:
            return None
        for canonical in type_rule.targets:
            target = profiles.type_of(canonical)
            if target is None:
                return None  # a profile we do not know: the type cannot be checked
            targets.add(target)
    return targets or None


def referenced_type(reference: dict[str, Any], resource: Any) -> str | None:
    """The type a Reference points at, where it can be known without resolving it.

    ``Type/id`` (also ``_history`` and absolute URLs), a conditional ``Type?criteria`` and a
    contained ``#id`` are knowable; a ``urn:uuid:``/``urn:oid:`` or a logical reference only
    through its ``type``.
    """
    declared = reference.get("type") if isinstance(reference.get("type"), str) else None
    text = reference.get("reference")
    if not isinstance(text, str) or not text:
        return declared
    if text.startswith("#"):
        contained = resource.get("contained") if isinstance(resource, dict) else None
        for item in contained if isinstance(contained, list) else []:
            if isinstance(item, dict) and item.get("id") == text[1:]:
                kind = item.get("resourceType")
                return kind if isinstance(kind, str) else declared
        return declared
    if text.startswith("urn:"):
        return declared
    parts = text.split("?", 1)[0].rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    candidate = parts[-2] if len(parts) >= 2 else (parts[0] if "?" in text else "")
    return candidate if _TYPE_NAME.fullmatch(candidate) else declared


def _binding_issues(
    binding: tuple[str, str], node: Node, profiles: ProfileSet, where: str
) -> Iterator[Issue]:
    strength, value_set = binding
    terminology = profiles.terminology
    if not terminology.knows(value_set):
        return  # listed in ProfileSet.problems at load time
    severity = "error" if strength == "required" else "warning"
    value = node.value
    if isinstance(value, str):
        codes = [(None, value)]
    elif isinstance(value, dict) and "coding" in value:
        codings = value.get("coding") if isinstance(value.get("coding"), list) else []
        codes = [(c.get("system"), c.get("code")) for c in codings if isinstance(c, dict)]
    elif isinstance(value, dict):
        codes = [(value.get("system"), value.get("code"))]
    else:
        return
    codes = [(s if isinstance(s, str) else "", c) for s, c in codes if isinstance(c, str)]
    if any(terminology.contains(value_set, s or None, c) for s, c in codes):
        return
    shown = ", ".join(f"{s}|{c}" if s else c for s, c in codes) or "no code"
    yield Issue(
        severity,
        "code-invalid",
        f"{node.expression}: {shown[:200]} is not in the value set {value_set} "
        f"({strength} binding) {where}",
        (node.expression,),
    )


def _type_code(suffix: str) -> str:
    """``String`` (from ``valueString``) -> ``string``; complex types keep their name."""
    return suffix[:1].lower() + suffix[1:] if suffix in _PRIMITIVE_TYPES else suffix


def _is_primitive(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _show(value: Any) -> str:
    return orjson.dumps(value).decode()[:200]
