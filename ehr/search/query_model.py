"""The parsed form of a FHIR search: what ``parse_search`` produces and the SQL consumes.

Parsing (``ehr.search.query``, ``ehr.search.query_criteria``) resolves every name against
the registry and every value against its parameter type once, so the SQL builders
(``ehr.search.criteria_sql``, ``ehr.search.keyset``) never see raw text and never fail on
client input. Everything here is an immutable value: a query can be logged, compared in
tests and turned back into the query string of a paging link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol
from urllib.parse import urlencode

from ehr.search.registry import SearchParamDef

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
"""FHIR search comparators (search.html#prefix) for date, number and quantity."""

RESOURCE_COLUMN_PARAMS = ("_id", "_lastUpdated")
"""Served from the ``resource`` table's ``res_id``/``last_updated``, not an index table."""


class ParamRegistry(Protocol):
    """What parsing needs from ``ehr.search.registry.SearchRegistry``."""

    def get(self, resource_type: str, code: str) -> SearchParamDef | None: ...

    def params_for(self, resource_type: str) -> Mapping[str, SearchParamDef]: ...


@dataclass(frozen=True)
class ParamRef:
    """Which index rows a criterion reads: parameter code, its type, and the owning types."""

    code: str
    type: str
    resource_types: tuple[str, ...] = ()
    """The resource types whose rows count; empty means any type (system-level search)."""


@dataclass(frozen=True)
class StringQ:
    text: str
    """Normalised (``ehr.text.normalize``) except under ``:exact``, where it is as written."""


@dataclass(frozen=True)
class TokenQ:
    system: str | None
    code: str | None
    system_given: bool
    """``|code`` (system given, empty: no system) differs from ``code`` (any system)."""


@dataclass(frozen=True)
class TextQ:
    """``:text`` on a token: normalised words matched against the indexed display text."""

    text: str


@dataclass(frozen=True)
class DateQ:
    prefix: str
    low: int
    """Inclusive epoch microseconds, from ``ehr.search.dates.date_range``."""
    high: int


@dataclass(frozen=True)
class NumberQ:
    """A number or quantity search value with its implicit range ([low, high))."""

    prefix: str
    value: float
    low: float
    high: float
    system: str | None = None
    code: str | None = None
    """Quantity only: ``value|system|code``; ``value||code`` leaves ``system`` None."""


@dataclass(frozen=True)
class ReferenceQ:
    target_type: str | None
    target_id: str | None
    url: str | None = None
    """An absolute or canonical reference that is not a local ``Type/id``."""


@dataclass(frozen=True)
class UriQ:
    value: str


@dataclass(frozen=True)
class MissingQ:
    missing: bool


SearchValue = StringQ | TokenQ | TextQ | DateQ | NumberQ | ReferenceQ | UriQ | MissingQ


@dataclass(frozen=True)
class Criterion:
    """One ``name=value`` pair: its values are ORed; the query's criteria are ANDed."""

    param: ParamRef
    values: tuple[SearchValue, ...]
    modifier: str | None = None
    """exact | contains | text | not | missing | below | type (reference ``:Type``)."""
    target_types: tuple[str, ...] = ()
    """Reference only: the target types allowed (``:Type`` or the chain's candidates)."""
    chain: Criterion | None = None
    """Reference chaining: the criterion the referenced resources must meet."""


@dataclass(frozen=True)
class SortKey:
    param: ParamRef
    descending: bool = False


@dataclass(frozen=True)
class Include:
    """``_include``/``_revinclude`` = ``source_type:param[:target_type]``; None means ``*``."""

    source_type: str | None
    param: str | None
    target_type: str | None = None


@dataclass(frozen=True)
class Cursor:
    """A keyset paging boundary: the sort key values and rid of the row to page from."""

    backward: bool
    keys: tuple[str | int | float | None, ...]
    rid: int
    token: str = field(default="", compare=False)
    """The ``_cursor`` text it came from, for the self link of the page."""


@dataclass(frozen=True)
class SearchQuery:
    """A parsed, validated search, ready for ``ehr.search.execute.run_search``."""

    resource_type: str | None
    types: tuple[str, ...]
    """The resource types searched; empty = every type (system search without ``_type``)."""
    criteria: tuple[Criterion, ...] = ()
    sort: tuple[SortKey, ...] = ()
    count: int = 20
    total: str | None = None
    """none | estimate | accurate, or None when the client did not ask."""
    includes: tuple[Include, ...] = ()
    revincludes: tuple[Include, ...] = ()
    summary: str | None = None
    elements: tuple[str, ...] = ()
    format: str | None = None
    pretty: bool = False
    cursor: Cursor | None = None
    params: tuple[tuple[str, str], ...] = field(default=())
    """The parameters applied, as (name, value) in request order, without ``_cursor``."""
    ignored: tuple[tuple[str, str], ...] = field(default=())
    """Unknown or unsupported parameters skipped under lenient handling."""

    def link_params(self, cursor: str | None = None) -> list[tuple[str, str]]:
        """Query-string pairs of the self link, or of a paging link when given a cursor."""
        pairs = list(self.params)
        if cursor is not None:
            pairs.append(("_cursor", cursor))
        return pairs

    @cached_property
    def self_query(self) -> str:
        """The query string of this page's self link (with the cursor it was asked with),
        encoded once: the self link and the search's AuditEvent both give it."""
        return urlencode(self.link_params(self.cursor.token if self.cursor else None))

    def sort_signature(self) -> str:
        """The ``_sort`` a cursor belongs to; a cursor is refused under any other sort."""
        return ",".join(("-" if k.descending else "") + k.param.code for k in self.sort)
