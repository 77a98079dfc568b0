"""The index readers of date, number and quantity parameters: values that index as ranges.

A date stands for the whole interval its precision covers, a number or quantity for the
interval half a unit of its last digit wide (FHIR R4 search, "date", "number",
"quantity"); search compares ranges, so every reader here produces one. Used through
``ehr.search.extract``; anything that cannot be read is skipped, never raised.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from ehr.search.dates import InvalidDate, date_range
from ehr.search.nodes import Node, data_type
from ehr.search.numbers import InvalidNumber, implicit_range
from ehr.search.values import DateValue, NumberValue, QuantityValue

__all__ = ["read_dates", "read_numbers", "read_quantities"]

ISO_4217 = "urn:iso:std:iso:4217"
"""The system of a Money amount's currency code."""
_QUANTITY_TYPES = frozenset({"Quantity", "Age", "Count", "Distance", "Duration", "SimpleQuantity"})
_RangeBounds = tuple[float, float, float, str | None, str | None, str | None]
MAX_SYSTEM = 512
MAX_CODE = 256
"""Lengths of ``search_quantity.system`` and ``code``/``unit``: a longer system or code is
not indexed (a cut identifier matches nothing); a longer unit, display text, is cut."""


def read_dates(node: Node) -> Iterator[DateValue]:
    """date, dateTime, instant; Period (an open end unbounded); Timing (its outer limits)."""
    obj, kind = node.value, data_type(node)
    if isinstance(obj, str):
        bounds = _date(obj)
        if bounds:
            yield DateValue(*bounds)
    elif not isinstance(obj, dict):
        return
    elif kind == "Period":
        start, end = obj.get("start"), obj.get("end")
        low, high = _date(start), _date(end)
        if (low or high) and (low or start is None) and (high or end is None):
            yield DateValue(low[0] if low else None, high[1] if high else None)
    elif kind == "Timing":
        yield from _timing(obj)


def _timing(timing: dict[str, Any]) -> Iterator[DateValue]:
    """Only the outer limits of a Timing count (search.html, "date"): events and bounds."""
    events = timing.get("event")
    bounds = [b for b in map(_date, events if isinstance(events, list) else []) if b]
    repeat = timing.get("repeat")
    period = repeat.get("boundsPeriod") if isinstance(repeat, dict) else None
    if isinstance(period, dict):
        for value in read_dates(Node(period, "Period")):
            if value.low is not None and value.high is not None:
                bounds.append((value.low, value.high))
    if bounds:
        yield DateValue(min(low for low, _ in bounds), max(high for _, high in bounds))


def _date(text: Any) -> tuple[int, int] | None:
    if not isinstance(text, str):
        return None
    try:
        return date_range(text)
    except InvalidDate:
        return None


def read_numbers(node: Node) -> Iterator[NumberValue]:
    """integer and decimal at their written precision; a Range (``probability``) as bounds."""
    obj = node.value
    if isinstance(obj, dict) and data_type(node) == "Range":
        bounds = _range(obj)
        if bounds:
            yield NumberValue(*bounds[:3])
        return
    number = _number(obj)
    if number:
        yield NumberValue(*number)


def read_quantities(node: Node) -> Iterator[QuantityValue]:
    """Quantity and its specialisations, Money (currency as an ISO 4217 code), Range.

    A comparator widens the range to the open side (``<5`` stands for everything below 5);
    an open end of a Range is infinite.
    """
    obj, kind = node.value, data_type(node)
    if not isinstance(obj, dict):
        return
    if kind == "Range":
        bounds = _range(obj)
        if bounds:
            yield from _quantity(*bounds)
    elif kind == "Money":
        number = _number(obj.get("value"))
        if number:
            yield from _quantity(*number, ISO_4217, _str(obj, "currency"), None)
    elif kind in _QUANTITY_TYPES:
        number = _number(obj.get("value"))
        if number:
            value, low, high = number
            comparator = obj.get("comparator")
            low = -math.inf if comparator in ("<", "<=") else low
            high = math.inf if comparator in (">", ">=") else high
            system, code, unit = _str(obj, "system"), _str(obj, "code"), _str(obj, "unit")
            yield from _quantity(value, low, high, system, code, unit)


def _quantity(
    value: float,
    low: float,
    high: float,
    system: str | None,
    code: str | None,
    unit: str | None,
) -> Iterator[QuantityValue]:
    """The index value, if its system and code fit their columns (see ``MAX_CODE``)."""
    if len(system or "") <= MAX_SYSTEM and len(code or "") <= MAX_CODE:
        yield QuantityValue(value, low, high, system, code, unit[:MAX_CODE] if unit else None)


def _range(obj: dict[str, Any]) -> _RangeBounds | None:
    """A Range as (value, low, high, system, code, unit): value is the low end if given."""
    low_q, high_q = (e if isinstance(e, dict) else {} for e in (obj.get("low"), obj.get("high")))
    low, high = _number(low_q.get("value")), _number(high_q.get("value"))
    given = low or high
    if given is None:
        return None
    unit_of = low_q if low else high_q
    return (
        given[0],
        low[1] if low else -math.inf,
        high[2] if high else math.inf,
        _str(unit_of, "system"),
        _str(unit_of, "code"),
        _str(unit_of, "unit"),
    )


def _number(value: Any) -> tuple[float, float, float] | None:
    """The implicit range of a JSON number; a float is taken at its shortest ``repr``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    try:
        return implicit_range(value)
    except (InvalidNumber, ValueError, ArithmeticError):
        return None


def _str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None
