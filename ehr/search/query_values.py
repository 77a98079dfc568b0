"""Search values by parameter type: the text after ``=`` to typed, comparable values.

Each value is parsed with the same helpers indexing uses (``date_range``,
``implicit_range``, ``normalize``), so a search value and an indexed value compare by one
set of rules. Every failure becomes an ``InvalidSearch`` that names the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import DecimalException

from ehr.errors import InvalidSearch
from ehr.search.dates import date_range
from ehr.search.numbers import implicit_range
from ehr.search.query_model import (
    PREFIXES,
    DateQ,
    MissingQ,
    NumberQ,
    ParamRef,
    ReferenceQ,
    SearchValue,
    StringQ,
    TextQ,
    TokenQ,
    UriQ,
)
from ehr.text import normalize

_PREFIX = re.compile(r"^([A-Za-z]{2})")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$", re.ASCII)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z]{0,63}$")
_UNESCAPE = re.compile(r"\\([,|$\\])")
MAX_OR_VALUES = 128
"""Comma-separated values of one parameter (see ``ehr.search.query.MAX_TERMS``)."""


def split_escaped(text: str, sep: str, maxsplit: int = -1) -> list[str]:
    """``text`` split on ``sep`` where it is not escaped by a backslash (escapes kept)."""
    parts: list[str] = []
    start = index = 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == sep and maxsplit != len(parts):
            parts.append(text[start:index])
            start = index + 1
        index += 1
    parts.append(text[start:])
    return parts


def unescape(text: str) -> str:
    """``text`` with the search escapes ``\\,`` ``\\|`` ``\\$`` ``\\\\`` resolved."""
    return _UNESCAPE.sub(r"\1", text)


@dataclass(frozen=True)
class _Context:
    name: str
    modifier: str | None
    target_types: tuple[str, ...]
    base_url: str | None

    def invalid(self, message: str) -> InvalidSearch:
        return InvalidSearch(f"{message} in {self.name!r}", expression=(self.name,))


def parse_values(
    ref: ParamRef,
    modifier: str | None,
    raw: str,
    *,
    name: str,
    target_types: tuple[str, ...] = (),
    base_url: str | None = None,
) -> tuple[SearchValue, ...]:
    """The ORed values of ``raw`` (comma-separated) for parameter ``ref``."""
    context = _Context(name, modifier, target_types, base_url)
    pieces = [piece for piece in split_escaped(raw, ",") if piece]
    if not pieces:
        raise context.invalid("no value")
    if len(pieces) > MAX_OR_VALUES:
        raise context.invalid(f"more than {MAX_OR_VALUES} values")
    if modifier == "missing":
        if len(pieces) != 1 or pieces[0] not in ("true", "false"):
            raise context.invalid(":missing takes true or false")
        return (MissingQ(pieces[0] == "true"),)
    parser = _id_value if ref.code == "_id" else _PARSERS[ref.type]
    return tuple(parser(piece, context) for piece in pieces)


def _id_value(piece: str, context: _Context) -> SearchValue:
    return TokenQ(None, unescape(piece), False)


def _string(piece: str, context: _Context) -> SearchValue:
    text = unescape(piece)
    return StringQ(text if context.modifier == "exact" else normalize(text))


def _token(piece: str, context: _Context) -> SearchValue:
    if context.modifier == "text":
        return TextQ(normalize(unescape(piece)))
    parts = split_escaped(piece, "|", maxsplit=1)
    if len(parts) == 1:
        return TokenQ(None, unescape(piece), False)
    system, code = (unescape(part) or None for part in parts)
    if system is None and code is None:
        raise context.invalid("a token needs a system or a code")
    return TokenQ(system, code, True)


def _prefixed(piece: str, context: _Context) -> tuple[str, str]:
    match = _PREFIX.match(piece)
    if not match:
        return "eq", piece
    prefix = match.group(1)
    if prefix not in PREFIXES:
        raise context.invalid(f"unknown prefix {prefix!r} (use one of {', '.join(PREFIXES)})")
    return prefix, piece[2:]


def _date(piece: str, context: _Context) -> SearchValue:
    prefix, text = _prefixed(piece, context)
    try:
        low, high = date_range(unescape(text))
    except (ValueError, ArithmeticError) as exc:
        raise context.invalid(f"not a valid date {text!r}") from exc
    return DateQ(prefix, low, high)


def _decimal(text: str, context: _Context) -> tuple[float, float, float]:
    if not _NUMBER.match(text):
        raise context.invalid(f"not a valid number {text!r}")
    try:
        return implicit_range(text)
    except (ValueError, ArithmeticError, DecimalException) as exc:
        raise context.invalid(f"number out of range {text!r}") from exc


def _number(piece: str, context: _Context) -> SearchValue:
    prefix, text = _prefixed(piece, context)
    return NumberQ(prefix, *_decimal(unescape(text), context))


def _quantity(piece: str, context: _Context) -> SearchValue:
    parts = split_escaped(piece, "|")
    if len(parts) not in (1, 3):
        raise context.invalid("a quantity is value, or value|system|code")
    prefix, text = _prefixed(parts[0], context)
    value, low, high = _decimal(unescape(text), context)
    system, code = (unescape(p) or None for p in parts[1:]) if len(parts) == 3 else (None, None)
    return NumberQ(prefix, value, low, high, system, code)


def _reference(piece: str, context: _Context) -> SearchValue:
    text = unescape(piece)
    base = (context.base_url or "").rstrip("/")
    if base and text.startswith(base + "/"):
        text = text[len(base) + 1 :]
    elif _SCHEME.match(text):
        return ReferenceQ(None, None, text)
    parts = text.split("/")
    if len(parts) == 4 and parts[2] == "_history" and parts[3]:
        parts = parts[:2]
    if len(parts) == 1 and parts[0]:
        only = context.target_types[0] if len(context.target_types) == 1 else None
        return ReferenceQ(only, parts[0])
    if len(parts) == 2 and _TYPE_NAME.match(parts[0]) and parts[1]:
        if context.modifier == "type" and parts[0] not in context.target_types:
            raise context.invalid(f"{text!r} is not a {context.target_types[0]}")
        return ReferenceQ(parts[0], parts[1])
    raise context.invalid(f"not a reference {text!r} (use Type/id, id or an absolute URL)")


def _uri(piece: str, context: _Context) -> SearchValue:
    return UriQ(unescape(piece))


_PARSERS: dict[str, Callable[[str, _Context], SearchValue]] = {
    "string": _string,
    "token": _token,
    "date": _date,
    "number": _number,
    "quantity": _quantity,
    "reference": _reference,
    "uri": _uri,
}
