"""Element paths walked over a resource's JSON, each value with its FHIRPath expression.

Arrays are flattened with their index (``Patient.identifier[0].value``); a single element
has none (``Patient.birthDate``). A choice element ``value[x]`` matches every JSON name
``value<Type>`` and is named by it (``Observation.valueQuantity``), as the model
validation names elements. Works on any JSON: what is not an object has no children.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ehr.profiles.definitions import Discriminator, Step


@dataclass(frozen=True)
class Node:
    """One value in the resource and where it is."""

    value: Any
    expression: str


def children(node: Node, name: str) -> list[Node]:
    """The values of element ``name`` under ``node``, arrays flattened."""
    if not isinstance(node.value, dict):
        return []
    found: list[Node] = []
    for key in _keys(node.value, name):
        value = node.value[key]
        where = f"{node.expression}.{key}"
        if isinstance(value, list):
            found.extend(
                Node(item, f"{where}[{i}]") for i, item in enumerate(value) if item is not None
            )
        elif value is not None:
            found.append(Node(value, where))
    return found


def _keys(value: dict[str, Any], name: str) -> list[str]:
    if not name.endswith("[x]"):
        return [name] if name in value else []
    prefix = name[:-3]
    return [
        key
        for key in value
        if key.startswith(prefix) and len(key) > len(prefix) and key[len(prefix)].isupper()
    ]


def element_name(name: str) -> str:
    """How a missing element is named in an expression: ``value[x]`` -> ``value``."""
    return name.removesuffix("[x]")


def step(nodes: Iterable[Node], one: Step) -> list[Node]:
    """The children ``one`` selects under each of ``nodes`` (slice members only, if a slice)."""
    return [child for node in nodes for child in children(node, one.name) if in_slice(child, one)]


def select(root: Node, steps: Iterable[Step]) -> list[Node]:
    nodes = [root]
    for one in steps:
        nodes = step(nodes, one)
    return nodes


def in_slice(node: Node, one: Step) -> bool:
    """Whether ``node`` belongs to the slice of ``one`` (always, if ``one`` is no slice)."""
    return one.slice is None or all(_discriminates(node, d) for d in one.discriminators)


def _discriminates(node: Node, discriminator: Discriminator) -> bool:
    if discriminator.path == "@name":
        key = node.expression.rsplit(".", 1)[-1]
        return key == discriminator.value
    values = [node]
    for name in discriminator.path.split("."):
        values = [child for value in values for child in children(value, name)]
    if discriminator.pattern:
        return any(contains(v.value, discriminator.value) for v in values)
    return any(same(v.value, discriminator.value) for v in values)


def same(value: Any, expected: Any) -> bool:
    """JSON equality that keeps ``true`` and ``1`` apart."""
    if isinstance(value, bool) != isinstance(expected, bool):
        return False
    return bool(value == expected)


def contains(value: Any, pattern: Any) -> bool:
    """FHIR pattern matching: ``value`` holds at least what ``pattern`` holds.

    Every field of a pattern object must match; every item of a pattern array must match
    some item of the value's array; primitives are equal.
    """
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and contains(value[key], item) for key, item in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(
            any(contains(v, item) for v in value) for item in pattern
        )
    return same(value, pattern)
