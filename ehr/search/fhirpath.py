"""Compile the FHIRPath subset of the R4 search parameter expressions to Python callables.

Search indexes every resource write, so expressions are parsed once and turned into a
chain of closures over plain JSON (``dict``/``list``), never interpreted per resource.
The subset is exactly what the official R4 definitions use (``python -m
ehr.search.registry`` lists the definitions that fall outside it):

- paths ``Observation.code.coding``, flattening arrays at every step;
- choice elements: ``Observation.value`` finds ``valueQuantity``, ``valueString``...;
- ``(path as Type)``, ``path.as(Type)``, ``path.ofType(Type)``;
- ``where(resolve() is Type)``, ``where(field = 'literal')``, ``where(hasExtension('url'))``;
- ``extension('url')``, ``[n]``;
- ``path.exists() and path != false`` (``Patient.deceased``).

FHIRPath spec: https://hl7.org/fhirpath/N1/ ; R4 search: https://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ehr.search.nodes import CHOICE_NAMES, SUBTYPES, SUFFIX_TYPES, Node

__all__ = [
    "Evaluator",
    "Node",
    "UnsupportedExpression",
    "compile_expression",
    "elements_read",
    "holds_the_same",
    "restrict",
]


Evaluator = Callable[[dict[str, Any]], list[Node]]
_Step = Callable[[list[Node]], list[Node]]


class UnsupportedExpression(ValueError):
    """The expression uses FHIRPath outside the subset this module compiles."""


_ANY_ROOT = "*"
_RESOURCE_ROOTS = ("Resource", "DomainResource", _ANY_ROOT)
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>\d+)|(?P<ident>[A-Za-z_]\w*)"
    r"|(?P<op>!=|[().\[\]|=]))"
)


@dataclass(frozen=True)
class _Term:
    """One ``|``-part of an expression: the type it starts from and its compiled steps."""

    root: str
    steps: tuple[_Step, ...]
    text: str
    element: str | None
    """The element of the root its first step takes (``None``: it starts otherwise)."""


def compile_expression(expression: str, resource_type: str) -> Evaluator | None:
    """A callable giving the nodes ``expression`` selects in a ``resource_type`` resource.

    Only the ``|``-parts rooted at ``resource_type`` (or ``Resource``/``DomainResource``)
    apply. ``None`` when the expression falls outside the subset or no part applies.
    """
    try:
        terms = [t for t in _parse(expression) if t.root in (resource_type, *_RESOURCE_ROOTS)]
    except UnsupportedExpression:
        return None
    if not terms:
        return None
    chains = tuple(t.steps for t in terms)

    def evaluate(resource: dict[str, Any]) -> list[Node]:
        found: list[Node] = []
        for steps in chains:
            nodes = [Node(resource, resource_type)]
            for step in steps:
                nodes = step(nodes)
            found.extend(nodes)
        return found

    return evaluate


def elements_read(expression: str, resource_type: str) -> frozenset[str] | None:
    """The top-level elements whose values alone decide what ``expression`` selects in a
    ``resource_type`` resource (``None``: a part starts otherwise than with an element).

    Every step after the first looks only inside the nodes it is given, so two resources
    whose values for these elements are the same (``holds_the_same``) give the same nodes:
    ``ehr.search.extract.extract_all`` reuses one's index values for the other.
    """
    try:
        terms = [t for t in _parse(expression) if t.root in (resource_type, *_RESOURCE_ROOTS)]
    except UnsupportedExpression:
        return None
    names = [t.element for t in terms]
    if not names or None in names:
        return None
    return frozenset(name for name in names if name is not None)


def holds_the_same(first: dict[str, Any], second: dict[str, Any], elements: frozenset[str]) -> bool:
    """Whether ``first`` and ``second`` hold the very same value objects for ``elements``.

    Identity, not equality: a golden record takes whole elements from its source, and
    comparing them deeply would cost about what extracting them does. A choice name absent
    from both does not count as the same: its value may sit under a suffixed name
    (``deceasedBoolean``) in either.
    """
    for name in elements:
        value = first.get(name)
        if value is not second.get(name) or (value is None and name in CHOICE_NAMES):
            return False
    return True


def restrict(expression: str, resource_type: str) -> str:
    """The ``|``-parts of ``expression`` that apply to ``resource_type``, as text."""
    terms = _parse(expression)
    return " | ".join(t.text for t in terms if t.root in (resource_type, *_RESOURCE_ROOTS))


@lru_cache(maxsize=4096)
def _parse(expression: str) -> tuple[_Term, ...]:
    return _Parser(expression).union()


class _Parser:
    """Recursive descent over the token list; every unknown construct raises."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int, int]] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if not match or match.end() == pos:
                if text[pos:].strip():
                    raise UnsupportedExpression(f"cannot read {text[pos:]!r}")
                break
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind), match.start(kind), match.end()))
            pos = match.end()
        self.pos = 0

    def peek(self, value: str | None = None) -> bool:
        if self.pos >= len(self.tokens):
            return False
        return value is None or self.tokens[self.pos][1] == value

    def take(self, kind: str | None = None, value: str | None = None) -> str:
        if self.pos >= len(self.tokens):
            raise UnsupportedExpression(f"unexpected end of {self.text!r}")
        tok_kind, tok_value, _, _ = self.tokens[self.pos]
        if (kind and tok_kind != kind) or (value and tok_value != value):
            raise UnsupportedExpression(f"unexpected {tok_value!r} in {self.text!r}")
        self.pos += 1
        return tok_value

    def union(self) -> tuple[_Term, ...]:
        terms = [self.term()]
        while self.peek("|"):
            self.take("op", "|")
            terms.append(self.term())
        if self.pos != len(self.tokens):
            raise UnsupportedExpression(f"trailing input in {self.text!r}")
        return tuple(terms)

    def term(self) -> _Term:
        first = self.pos
        root, steps, element = self.typed_chain()
        if self.peek("and"):
            steps = self.deceased_special_case(first, root, steps)
        start, end = self.tokens[first][2], self.tokens[self.pos - 1][3]
        return _Term(root, tuple(steps), self.text[start:end].strip(), element)

    def typed_chain(self) -> tuple[str, list[_Step], str | None]:
        root, steps, element = self.chain()
        if self.peek("as"):
            self.take("ident", "as")
            steps.append(_of_type(self.take("ident")))
        return root, steps, element

    def chain(self) -> tuple[str, list[_Step], str | None]:
        """A path: its root, its steps, and the element its first step takes (if it is
        a plain element: ``elements_read``)."""
        element: str | None = None
        if self.peek("("):
            self.take("op", "(")
            root, steps, element = self.typed_chain()
            self.take("op", ")")
        else:
            root, steps = self.take("ident"), []
            if not root[0].isupper():  # a path relative to the resource, e.g. ``name | alias``
                root, steps, element = _ANY_ROOT, [_child(root)], root
        while self.peek(".") or self.peek("["):
            if self.take("op") == "[":
                index = int(self.take("num"))
                self.take("op", "]")
                steps.append(_index(index))
            else:
                plain = self.peek_plain_child()
                steps.append(self.invocation())
                if not steps[:-1] and element is None and plain is not None:
                    element = plain
        return root, steps, element

    def peek_plain_child(self) -> str | None:
        """The name of the element the next invocation takes, unless it is a function."""
        if self.pos + 1 < len(self.tokens) and self.tokens[self.pos + 1][1] == "(":
            return None
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def invocation(self) -> _Step:
        name = self.take("ident")
        if not self.peek("("):
            return _child(name)
        self.take("op", "(")
        if name in ("as", "ofType"):
            step = _of_type(self.take("ident"))
        elif name == "extension":
            step = _extension(_literal(self.take("str")))
        elif name == "where":
            step = self.where_criterion()
        elif name == "exists":
            step = _exists
        else:
            raise UnsupportedExpression(f"function {name}() in {self.text!r}")
        self.take("op", ")")
        return step

    def where_criterion(self) -> _Step:
        name = self.take("ident")
        if name == "resolve":
            self.take("op", "(")
            self.take("op", ")")
            self.take("ident", "is")
            return _resolves_to(self.take("ident"))
        if name == "hasExtension":
            self.take("op", "(")
            url = _literal(self.take("str"))
            self.take("op", ")")
            return _has_extension(url)
        self.take("op", "=")
        return _field_equals(name, _literal(self.take("str")))

    def deceased_special_case(self, first: int, root: str, steps: list[_Step]) -> list[_Step]:
        """``P.x.exists() and P.x != false``: true when ``x`` is present and not ``false``."""
        left = [token[1] for token in self.tokens[first : self.pos]]
        self.take("ident", "and")
        right_start = self.pos
        right_root, right_steps, _ = self.chain()
        right = [token[1] for token in self.tokens[right_start : self.pos]]
        self.take("op", "!=")
        self.take("ident", "false")
        if right_root != root or left != [*right, ".", "exists", "(", ")"] or not steps:
            raise UnsupportedExpression(f"'and' outside the exists() pattern in {self.text!r}")
        return [*right_steps, _present_and_not_false]


def _literal(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def _child(name: str) -> _Step:
    choices = (
        {name + suffix: fhir_type for suffix, fhir_type in SUFFIX_TYPES.items()}
        if name in CHOICE_NAMES
        else None
    )

    def step(nodes: list[Node]) -> list[Node]:
        out: list[Node] = []
        for node in nodes:
            obj = node.value
            if not isinstance(obj, dict):
                continue
            value = obj.get(name)
            fhir_type = None
            if value is None and choices is not None:
                for key in obj:
                    fhir_type = choices.get(key)
                    if fhir_type is not None:
                        value = obj[key]
                        break
            if value is None:
                continue
            if isinstance(value, list):
                out.extend(Node(item, fhir_type) for item in value if item is not None)
            else:
                out.append(Node(value, fhir_type))
        return out

    return step


def _of_type(fhir_type: str) -> _Step:
    accepted = SUBTYPES.get(fhir_type, frozenset({fhir_type}))
    return lambda nodes: [node for node in nodes if node.type in accepted]


def _index(index: int) -> _Step:
    return lambda nodes: nodes[index : index + 1]


def _extension(url: str) -> _Step:
    return lambda nodes: [Node(e, "Extension") for e in _extensions(nodes) if e.get("url") == url]


def _extensions(nodes: list[Node]) -> list[dict[str, Any]]:
    found = []
    for node in nodes:
        if isinstance(node.value, dict):
            extensions = node.value.get("extension")
            if isinstance(extensions, list):
                found.extend(ext for ext in extensions if isinstance(ext, dict))
    return found


def _has_extension(url: str) -> _Step:
    return lambda nodes: [n for n in nodes if any(e.get("url") == url for e in _extensions([n]))]


def _field_equals(field: str, literal: str) -> _Step:
    return lambda nodes: [
        n for n in nodes if isinstance(n.value, dict) and n.value.get(field) == literal
    ]


def _resolves_to(resource_type: str) -> _Step:
    """Keep References whose literal ``reference`` (relative or absolute) is a ``resource_type``."""
    pattern = re.compile(rf"(?:^|/){re.escape(resource_type)}/[^/]+(?:/_history/[^/]+)?$")

    def step(nodes: list[Node]) -> list[Node]:
        out = []
        for node in nodes:
            reference = node.value.get("reference") if isinstance(node.value, dict) else None
            if isinstance(reference, str) and pattern.search(reference):
                out.append(Node(node.value, "Reference"))
        return out

    return step


def _exists(nodes: list[Node]) -> list[Node]:
    return [Node(bool(nodes), "boolean")]


def _present_and_not_false(nodes: list[Node]) -> list[Node]:
    return [Node(any(node.value is not False for node in nodes), "boolean")]
