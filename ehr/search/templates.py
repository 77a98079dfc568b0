"""Search statements built once per query *shape*, the values bound at each execution.

Why: building a search's SQLAlchemy expression (the criteria, the page, the policy's
condition) and computing its cache key took about half the CPU of an identifier search,
and every identifier search of one kind builds the same statement with other values.

How, without a second set of SQL builders: a value that the builders put into the SQL as
it is (a token's system and code, a reference's id, a uri, an ``:exact`` string, the
caller's facility in the access policy) is replaced by a ``Slot``, a string naming its
position. The query with its slots is the shape: hashable, equal for every request of
that shape. The statement is built once from the shape by the ordinary builders
(``ehr.search.criteria_sql``), its slot values become named bind parameters
(``bind_slots``), and each request executes it with its own values. A value the builders
compute with (a string prefix's successor, a date range, a number's margin) is not a
slot: a query holding one is built directly, as before (``slotted`` returns None).

A slot is only ever a non-empty string: the builders and the policy branch on ``None``
and on emptiness, so those stay in the shape as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from sqlalchemy import BindParameter, ClauseElement, Select, bindparam
from sqlalchemy.sql.elements import ClauseList, Grouping
from sqlalchemy.sql.visitors import replacement_traverse

from ehr.db.driver_select import DriverSelect
from ehr.search.criteria_sql import Visibility
from ehr.search.query_model import (
    Criterion,
    MissingQ,
    ReferenceQ,
    SearchQuery,
    StringQ,
    TokenQ,
    UriQ,
)


class Slot(str):
    """A placeholder for a value bound at execution; its text is the parameter's name."""

    __slots__ = ()


@dataclass(frozen=True)
class Slotted:
    """A search with its values taken out: ``query`` holds slots, ``values`` binds them."""

    query: SearchQuery
    values: Mapping[str, Any]

    @property
    def shape(self) -> Hashable:
        """What the statement's SQL depends on (nothing of the query's text or paging)."""
        return (self.query.types, self.query.criteria, self.query.sort)


@dataclass(frozen=True)
class SlottedVisibility:
    """An access policy's row condition that can be built once per shape.

    Called, it is the policy's condition with the caller's values (the direct path);
    ``slotted`` builds the same condition with ``Slot`` placeholders, ``key`` says which
    shape that is, and ``values`` binds them.
    """

    plain: Visibility
    slotted: Visibility
    key: Hashable
    values: Mapping[str, Any]

    def __call__(self, table: Any, types: Any = None) -> Any:
        return self.plain(table, types=types)


def slot_value(name: str, value: str | None, values: dict[str, Any]) -> str | None:
    """``value`` as a ``Slot`` named ``name`` (recorded in ``values``), unless it is None or
    empty (those shape the SQL)."""
    if not value:
        return value
    values[name] = value
    return Slot(name)


def slotted(query: SearchQuery) -> Slotted | None:
    """The criteria of ``query`` with every verbatim value a slot, or None if a value is
    computed with (then the statement must be built for this query alone)."""
    if query.cursor is not None:
        return None
    values: dict[str, Any] = {}
    criteria = []
    for index, criterion in enumerate(query.criteria):
        shaped = _criterion(criterion, f"c{index}", values)
        if shaped is None:
            return None
        criteria.append(shaped)
    shaped = SearchQuery(
        resource_type=query.resource_type,
        types=query.types,
        criteria=tuple(criteria),
        sort=query.sort,
    )
    return Slotted(shaped, values)


_VERBATIM = (TokenQ, ReferenceQ, UriQ, MissingQ)
"""Value kinds whose strings go into the SQL unchanged (``:text`` and ``:below`` aside)."""


def _criterion(criterion: Criterion, prefix: str, values: dict[str, Any]) -> Criterion | None:
    if criterion.param.code == "_lastUpdated" or criterion.modifier in ("text", "below"):
        return None
    shaped = []
    for index, value in enumerate(criterion.values):
        verbatim = isinstance(value, _VERBATIM) or (
            isinstance(value, StringQ) and criterion.modifier == "exact"
        )
        if not verbatim:
            return None
        slots = {
            f.name: slot_value(f"{prefix}v{index}{f.name}", getattr(value, f.name), values)
            for f in fields(value)  # type: ignore[arg-type]
            if isinstance(getattr(value, f.name), str)
        }
        shaped.append(replace(value, **slots))  # type: ignore[type-var]
    chain = None
    if criterion.chain is not None:
        chain = _criterion(criterion.chain, f"{prefix}x", values)
        if chain is None:
            return None
    return replace(criterion, values=tuple(shaped), chain=chain)


@dataclass(frozen=True)
class Template:
    """A statement whose slots are named bind parameters (a request's slot values are its
    parameters as they are). ``driver`` runs it on the
    driver's cursor (``ehr.db.driver_select``) where its SQL does not depend on the values
    (no expanding parameter)."""

    statement: Any
    driver: DriverSelect | None = None


def bind_slots(statement: ClauseElement) -> Template:
    """``statement`` with each bound ``Slot`` a named bind parameter.

    An ``IN`` over several slots becomes ``IN (:a, :b, ...)``, one parameter per slot, not
    an expanding parameter: the shape already fixes how many values there are (``_id=a,b``
    and ``_id=a,b,c`` are two shapes), so the SQL does not depend on the values and the
    statement runs on the driver (``$match`` reads its candidates' golden records so).
    """
    made: dict[str, BindParameter] = {}
    expanding_seen = False

    def bound(name: str, type_: Any) -> BindParameter:
        if name not in made:
            made[name] = bindparam(name, type_=type_)
        return made[name]

    def named(element: Any) -> Any:
        nonlocal expanding_seen
        if not isinstance(element, BindParameter):
            return None
        value = element.value
        if isinstance(value, Slot):
            return bound(str(value), element.type)
        if isinstance(value, list | tuple) and value and all(isinstance(v, Slot) for v in value):
            return Grouping(ClauseList(*(bound(str(v), element.type) for v in value)))
        expanding_seen = expanding_seen or element.expanding
        return None

    replaced = replacement_traverse(statement, {}, named)
    plain = not expanding_seen and isinstance(replaced, Select)
    return Template(replaced, DriverSelect(replaced) if plain else None)


MAX_TEMPLATES = 2048
"""Shapes kept; past it the cache starts again (shapes are few: parameters x modifiers)."""
_TEMPLATES: dict[Hashable, Template] = {}


def template(key: Hashable, build: Callable[[], ClauseElement]) -> Template:
    """The template of shape ``key``, built by ``build`` the first time it is asked for.

    A plain dict: two threads building one shape at once both build it, and either result
    serves (templates are immutable)."""
    found = _TEMPLATES.get(key)
    if found is None:
        if len(_TEMPLATES) >= MAX_TEMPLATES:
            _TEMPLATES.clear()
        found = _TEMPLATES[key] = bind_slots(build())
    return found
