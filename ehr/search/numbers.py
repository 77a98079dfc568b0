"""Decimal text to the implicit range its precision gives (FHIR search, "number").

"100" means [99.5, 100.5); "1e2" means [50, 150); "100.00" means [99.995, 100.005).
Both indexing and query parsing use ``implicit_range`` so their ranges agree.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation


class InvalidNumber(ValueError):
    """The text is not a finite decimal number."""


def parse_decimal(text: str) -> Decimal:
    """The finite ``Decimal`` that ``text`` denotes, or ``InvalidNumber``."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError) as exc:
        raise InvalidNumber(f"not a number: {text!r}") from exc
    if not value.is_finite():
        raise InvalidNumber(f"not a finite number: {text!r}")
    return value


def implicit_range(value: Decimal | int | float | str) -> tuple[float, float, float]:
    """(value, low, high) for ``value``, the bounds half a unit of its last significant digit away.

    A JSON number (``int``/``float``) is taken at the precision it is written with.
    """
    dec = parse_decimal(value) if isinstance(value, str) else Decimal(str(value))
    if not dec.is_finite():
        raise InvalidNumber(f"not a finite number: {value!r}")
    exponent = dec.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5) * Decimal(10) ** (exponent - 1)
    low, high = float(dec - half), float(dec + half)
    number = float(dec)
    if math.isinf(number):
        raise InvalidNumber(f"number out of range: {value!r}")
    return number, low, high
