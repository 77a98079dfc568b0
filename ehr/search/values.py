"""The typed values a resource is indexed under, one dataclass per search parameter type.

Extraction (``ehr.search.extract``) turns a resource into these; storage writes each one
as a row of the matching ``search_*`` table (``ehr.db.schema``); query building compares
against the same columns. Dates are inclusive ranges in epoch microseconds (UTC) so that
date, dateTime, instant and Period all compare the same way; numbers and quantities carry
the implicit range given by their precision (FHIR search, "Number" and "Quantity").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenValue:
    system: str | None
    code: str | None
    text: str | None = None
    """Normalised display/text for the ``:text`` modifier."""


@dataclass(frozen=True)
class StringValue:
    value: str
    """Normalised for matching: case-folded, diacritics removed (``ehr.text.normalize``)."""
    exact: str
    """The value as written, for ``:exact``."""


@dataclass(frozen=True)
class DateValue:
    low: int | None
    """Inclusive lower bound in epoch microseconds; ``None`` = unbounded."""
    high: int | None
    """Inclusive upper bound in epoch microseconds; ``None`` = unbounded."""


@dataclass(frozen=True)
class NumberValue:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class QuantityValue:
    value: float
    low: float
    high: float
    system: str | None
    code: str | None
    unit: str | None


@dataclass(frozen=True)
class ReferenceValue:
    target_type: str | None
    target_id: str | None
    url: str | None
    """The literal reference or canonical URL when it is not a local ``Type/id``."""


@dataclass(frozen=True)
class UriValue:
    value: str


IndexValue = (
    TokenValue | StringValue | DateValue | NumberValue | QuantityValue | ReferenceValue | UriValue
)
