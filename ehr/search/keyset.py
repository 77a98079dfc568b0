"""Sort keys and keyset predicates: ``_sort`` to ORDER BY, a cursor to a WHERE.

A multi-valued parameter sorts by its least value ascending and its greatest value
descending (FHIR search, "_sort"), computed by a correlated subquery on its index table;
for dates that is the range's low (ascending) or high (descending) end, an unbounded end
counting as the extreme. A resource without a value sorts last in either direction.
``rid`` is always the final key, so the order is total and a boundary row is exact.

The keyset predicate "comes after the boundary" is spelled out lexicographically
(``k1 > b1 OR (k1 = b1 AND k2 > b2) ...``) with NULL placement handled explicitly,
because row-value comparison neither mixes directions nor orders NULLs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, FromClause, and_, case, false, func, or_, select

from ehr.search.criteria_sql import TABLES
from ehr.search.query_model import SortKey

UNBOUNDED_LOW = -(2**62)
UNBOUNDED_HIGH = 2**62
_COLUMN = {
    "string": "value",
    "token": "code",
    "uri": "value",
    "number": "value",
    "quantity": "value",
}


@dataclass(frozen=True)
class OrderKey:
    """One ORDER BY key with its direction and where NULLs (missing values) go."""

    expr: ColumnElement
    descending: bool = False
    nulls_last: bool = True
    nullable: bool = True

    def reversed(self) -> OrderKey:
        return OrderKey(self.expr, not self.descending, not self.nulls_last, self.nullable)


def sort_expression(key: SortKey, resource: FromClause) -> ColumnElement:
    """The value ``resource`` sorts by under ``key`` (NULL when it has none)."""
    code = key.param.code
    if code == "_id":
        return resource.c.res_id
    if code == "_lastUpdated":
        return resource.c.last_updated
    table = TABLES[key.param.type].alias(f"sort_{code.replace('-', '_')}")
    if key.param.type == "date":
        end = table.c.high if key.descending else table.c.low
        column = func.coalesce(end, UNBOUNDED_HIGH if key.descending else UNBOUNDED_LOW)
    else:
        column = table.c[_COLUMN[key.param.type]]
    aggregate = func.max(column) if key.descending else func.min(column)
    owned = [table.c.rid == resource.c.rid, table.c.param == code]
    return select(aggregate).where(*owned).scalar_subquery()


def order_by(keys: Sequence[OrderKey]) -> list[ColumnElement]:
    """ORDER BY clauses for ``keys``, NULLs placed explicitly (same on both databases)."""
    clauses: list[ColumnElement] = []
    for key in keys:
        if key.nullable:
            null_rank = case((key.expr.is_(None), 1), else_=0)
            clauses.append(null_rank.asc() if key.nulls_last else null_rank.desc())
        clauses.append(key.expr.desc() if key.descending else key.expr.asc())
    return clauses


def after(keys: Sequence[OrderKey], boundary: Sequence[object]) -> ColumnElement[bool]:
    """Rows strictly after ``boundary`` (one value per key) in the order of ``keys``."""
    alternatives: list[ColumnElement[bool]] = []
    equal: list[ColumnElement[bool]] = []
    for key, value in zip(keys, boundary, strict=True):
        step = _after_one(key, value)
        if step is not None:
            alternatives.append(and_(*equal, step))
        equal.append(key.expr.is_(None) if value is None else key.expr == value)
    return or_(*alternatives) if alternatives else false()


def _after_one(key: OrderKey, value: object) -> ColumnElement[bool] | None:
    """``key`` alone places a row after ``value``; None when nothing can be after it."""
    if value is None:
        return None if key.nulls_last else key.expr.is_not(None)
    beyond = key.expr < value if key.descending else key.expr > value
    return or_(beyond, key.expr.is_(None)) if key.nulls_last and key.nullable else beyond
