"""Search criteria to SQL: one builder per parameter *type*, never per resource type.

Every criterion becomes ``resource.rid IN (SELECT rid FROM search_<type> WHERE res_type =
.. AND param = .. AND <value test>)`` (``NOT IN`` for ``:not`` and ``:missing=true``), so
each filter is answered from its ``(res_type, param, value)`` index and the criteria of a
query are simply ANDed. The index tables hold rows of current versions only; deleted
resources are excluded on the ``resource`` table. A chain joins ``search_reference`` to the
referenced ``resource`` rows and applies the chained criterion to them.

Value tests follow https://hl7.org/fhir/R4/search.html:

- string: normalised prefix, as a range ``value >= p AND value < succ(p)`` (index-friendly
  on SQLite and PostgreSQL) plus an escaped ``LIKE 'p%'`` that keeps the answer exact even
  under a non-``C`` collation; ``:exact`` on ``exact``; ``:contains`` a substring.
- token: ``code``, ``system|code``, ``|code`` (no system), ``system|``; ``:text`` matches
  words of the indexed display text; ``:not`` excludes.
- date: the prefix table, search range [sl, sh] against target [low, high], both
  inclusive, NULL meaning unbounded: eq = sl<=low and high<=sh; ne = not eq;
  gt = high>sh; lt = low<sl; ge = gt or eq; le = lt or eq; sa = low>sh; eb = high<sl;
  ap = overlap with the search range widened by 10% of its distance from now.
- number and quantity: eq/ne test the target value against the implicit range of the
  search value; the other prefixes compare values exactly (precision is ignored); ap is
  within 10% (or the implicit range). Quantity units match on system and code, or with
  ``value||unit`` on code or unit text; no unit conversion.
- reference: ``Type/id``, ``id`` and absolute/canonical URLs; uri: exact or ``:below``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import ColumnElement, FromClause, Select, Table, and_, false, or_, select, true

from ehr.db.schema import SEARCH_TABLES, Resource
from ehr.search.dates import to_micros
from ehr.search.query_model import (
    Criterion,
    DateQ,
    MissingQ,
    NumberQ,
    ParamRef,
    ReferenceQ,
    SearchQuery,
    SearchValue,
    StringQ,
    TextQ,
    TokenQ,
    UriQ,
)

RESOURCE: Table = Resource.__table__  # type: ignore[attr-defined]
TABLES: dict[str, Table] = {kind: model.__table__ for kind, model in SEARCH_TABLES.items()}  # type: ignore[attr-defined]

Visibility = Callable[..., ColumnElement[bool]]
"""An access policy: the condition a ``resource`` row (table or alias) must meet to be seen,
``visible(table, types=...)``; ``types``, where known, the types the rows can be
(``ehr.access.policy.AccessPolicy.visible``)."""


def now_micros() -> int:
    return to_micros(datetime.now(UTC))


def search_clause(
    query: SearchQuery,
    resource: FromClause = RESOURCE,
    *,
    now_us: int | None = None,
    visible: Visibility | None = None,
) -> ColumnElement[bool]:
    """The condition a live ``resource`` row must meet to match ``query`` (and be visible)."""
    now = now_micros() if now_us is None else now_us
    conditions = [resource.c.deleted == false()]
    # An index criterion already confines the rows to its types; repeating the type on the
    # resource table tempts a planner without statistics (a fresh SQLite file) into scanning
    # every resource of the type through (res_type, res_id) instead of probing by rid.
    if not _typed_by_an_index_criterion(query):
        if len(query.types) == 1:
            conditions.append(resource.c.res_type == query.types[0])
        elif query.types:
            conditions.append(resource.c.res_type.in_(query.types))
    for criterion in query.criteria:
        conditions.append(criterion_clause(criterion, resource, now_us=now, visible=visible))
    if visible is not None:
        conditions.append(visible(resource, types=query.types or None))
    return and_(*conditions)


def _typed_by_an_index_criterion(query: SearchQuery) -> bool:
    return bool(query.types) and any(
        criterion.param.code not in ("_id", "_lastUpdated")
        and criterion.modifier not in ("not", "missing")
        and criterion.param.resource_types
        and set(criterion.param.resource_types) <= set(query.types)
        for criterion in query.criteria
    )


def criterion_clause(
    criterion: Criterion,
    resource: FromClause = RESOURCE,
    *,
    now_us: int | None = None,
    visible: Visibility | None = None,
) -> ColumnElement[bool]:
    """The condition on ``resource`` rows that ``criterion`` stands for."""
    now = now_micros() if now_us is None else now_us
    param = criterion.param
    if param.code == "_id":
        return resource.c.res_id.in_([v.code for v in criterion.values if isinstance(v, TokenQ)])
    if param.code == "_lastUpdated":
        column = resource.c.last_updated
        return or_(*(date_condition(column, column, v, now) for v in _dates(criterion)))
    if criterion.chain is not None:
        return resource.c.rid.in_(_chain_rids(criterion, now, visible))
    table = TABLES[param.type]
    if criterion.modifier == "missing":
        present = select(table.c.rid).where(*_owner(table, param))
        missing = any(isinstance(v, MissingQ) and v.missing for v in criterion.values)
        return resource.c.rid.not_in(present) if missing else resource.c.rid.in_(present)
    build = _BUILDERS[param.type]
    tests = [build(table, value, criterion.modifier, now) for value in criterion.values]
    rids = select(table.c.rid).where(*_owner(table, param), or_(*tests))
    return resource.c.rid.not_in(rids) if criterion.modifier == "not" else resource.c.rid.in_(rids)


@lru_cache(maxsize=4096)
def _owner(table: FromClause, param: ParamRef) -> tuple[ColumnElement[bool], ...]:
    """The index rows of ``param`` on its resource types (leading columns of every index).

    Cached: the conditions hold no search value, SQLAlchemy expressions are immutable, and
    building them was a sixth of an identifier search's CPU; the parameters are a finite
    set (the registry's), times the few table aliases queries use."""
    conditions = [table.c.param == param.code]
    if len(param.resource_types) == 1:
        conditions.insert(0, table.c.res_type == param.resource_types[0])
    elif param.resource_types:
        conditions.insert(0, table.c.res_type.in_(param.resource_types))
    return tuple(conditions)


_CHAIN_REF = TABLES["reference"].alias("chain_ref")
_CHAIN_TARGET = RESOURCE.alias("chain_target")
"""One pair for every chain (expressions are immutable), so ``_owner`` caches its rows."""


def _chain_rids(criterion: Criterion, now: int, visible: Visibility | None) -> Select:
    """rids whose reference ``criterion.param`` points at a live resource meeting the chain."""
    assert criterion.chain is not None
    ref, target = _CHAIN_REF, _CHAIN_TARGET
    joined = ref.join(
        target,
        and_(target.c.res_type == ref.c.target_type, target.c.res_id == ref.c.target_id),
    )
    conditions = [
        *_owner(ref, criterion.param),
        ref.c.target_type.in_(criterion.target_types),
        target.c.deleted == false(),
        criterion_clause(criterion.chain, target, now_us=now, visible=visible),
    ]
    if visible is not None:
        conditions.append(visible(target, types=criterion.target_types or None))
    return select(ref.c.rid).select_from(joined).where(*conditions)


def _dates(criterion: Criterion) -> list[DateQ]:
    return [v for v in criterion.values if isinstance(v, DateQ)]


def like_escape(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern with ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def successor(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix`` (code-point order)."""
    chars = list(prefix)
    while chars:
        point = ord(chars[-1]) + 1
        if 0xD800 <= point <= 0xDFFF:
            point = 0xE000
        if point <= 0x10FFFF:
            chars[-1] = chr(point)
            return "".join(chars)
        chars.pop()
    return None


def prefix_match(column: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
    """``column`` starts with ``prefix``: an indexable range, made exact by LIKE."""
    if not prefix:
        return true()
    tests = [column >= prefix, column.like(like_escape(prefix) + "%", escape="\\")]
    upper = successor(prefix)
    if upper is not None:
        tests.insert(1, column < upper)
    return and_(*tests)


def date_condition(
    low: ColumnElement[int], high: ColumnElement[int], value: DateQ, now_us: int
) -> ColumnElement[bool]:
    """The prefix test of ``value`` against the target range [low, high] (NULL = unbounded)."""
    sl, sh = value.low, value.high
    eq = and_(low.is_not(None), high.is_not(None), low >= sl, high <= sh)
    gt = or_(high.is_(None), high > sh)
    lt = or_(low.is_(None), low < sl)
    match value.prefix:
        case "eq":
            return eq
        case "ne":
            return or_(low.is_(None), high.is_(None), low < sl, high > sh)
        case "gt":
            return gt
        case "lt":
            return lt
        case "ge":
            return or_(gt, eq)
        case "le":
            return or_(lt, eq)
        case "sa":
            return and_(low.is_not(None), low > sh)
        case "eb":
            return and_(high.is_not(None), high < sl)
    gap = 0 if sl <= now_us <= sh else min(abs(now_us - sl), abs(now_us - sh))
    near_low, near_high = sl - gap // 10, sh + gap // 10
    return and_(or_(low.is_(None), low <= near_high), or_(high.is_(None), high >= near_low))


def number_condition(column: ColumnElement[float], value: NumberQ) -> ColumnElement[bool]:
    """The prefix test of ``value`` against an indexed number (implicit range for eq/ne)."""
    match value.prefix:
        case "eq":
            return and_(column >= value.low, column < value.high)
        case "ne":
            return or_(column < value.low, column >= value.high)
        case "gt" | "sa":
            return column > value.value
        case "lt" | "eb":
            return column < value.value
        case "ge":
            return column >= value.value
        case "le":
            return column <= value.value
    margin = abs(value.value) / 10
    low, high = min(value.low, value.value - margin), max(value.high, value.value + margin)
    return and_(column >= low, column <= high)


def _string(
    table: Table, value: SearchValue, modifier: str | None, now: int
) -> ColumnElement[bool]:
    assert isinstance(value, StringQ)
    if modifier == "exact":
        return table.c.exact == value.text
    if modifier == "contains":
        return table.c.value.like(f"%{like_escape(value.text)}%", escape="\\")
    return prefix_match(table.c.value, value.text)


def _token(table: Table, value: SearchValue, modifier: str | None, now: int) -> ColumnElement[bool]:
    if isinstance(value, TextQ):
        if not value.text:
            return true()
        word = table.c.text.like(f"% {like_escape(value.text)}%", escape="\\")
        return or_(prefix_match(table.c.text, value.text), word)
    assert isinstance(value, TokenQ)
    tests = []
    if value.system_given:
        system = table.c.system
        tests.append(system.is_(None) if value.system is None else system == value.system)
    if value.code is not None:
        tests.append(table.c.code == value.code)
    return and_(*tests)


def _date(table: Table, value: SearchValue, modifier: str | None, now: int) -> ColumnElement[bool]:
    assert isinstance(value, DateQ)
    return date_condition(table.c.low, table.c.high, value, now)


def _number(
    table: Table, value: SearchValue, modifier: str | None, now: int
) -> ColumnElement[bool]:
    assert isinstance(value, NumberQ)
    return number_condition(table.c.value, value)


def _quantity(
    table: Table, value: SearchValue, modifier: str | None, now: int
) -> ColumnElement[bool]:
    assert isinstance(value, NumberQ)
    tests = [number_condition(table.c.value, value)]
    if value.system is not None:
        tests.append(table.c.system == value.system)
        if value.code is not None:
            tests.append(table.c.code == value.code)
    elif value.code is not None:
        tests.append(or_(table.c.code == value.code, table.c.unit == value.code))
    return and_(*tests)


def _reference(
    table: Table, value: SearchValue, modifier: str | None, now: int
) -> ColumnElement[bool]:
    assert isinstance(value, ReferenceQ)
    if value.url is not None:
        return table.c.url == value.url
    tests = [table.c.target_id == value.target_id]
    if value.target_type is not None:
        tests.append(table.c.target_type == value.target_type)
    return and_(*tests)


def _uri(table: Table, value: SearchValue, modifier: str | None, now: int) -> ColumnElement[bool]:
    assert isinstance(value, UriQ)
    if modifier == "below":
        return prefix_match(table.c.value, value.value)
    return table.c.value == value.value


_BUILDERS: dict[str, Callable[[Table, SearchValue, str | None, int], ColumnElement[bool]]] = {
    "string": _string,
    "token": _token,
    "date": _date,
    "number": _number,
    "quantity": _quantity,
    "reference": _reference,
    "uri": _uri,
}
