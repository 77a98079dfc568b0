"""Running a parsed search: one page of matches, its includes, a total and paging cursors.

Design (https://hl7.org/fhir/R4/search.html, "Paging"):

- Matches are ``SELECT`` from ``resource`` with the ANDed criteria
  (``ehr.search.criteria_sql``), wrapped in a derived table that adds one column per
  ``_sort`` key (``ehr.search.keyset``), ordered by (sort keys..., rid).
- Paging is keyset, not offset: a page fetches ``size + 1`` rows after (or, going back,
  before) the boundary row in the cursor. Creating or deleting resources between page
  requests therefore never repeats or skips a resource that matched before and still
  matches; only a resource whose *sort value* changes can move across the boundary.
- ``total``: ``_total=none`` gives None; a first page that is not full gives its length
  without a COUNT. Otherwise a COUNT runs for ``_total=accurate|estimate``,
  ``_summary=count`` and ``_count=0``, and by default on the first page only
  (``count_first_page``); later pages reached by cursor leave it out unless asked, since
  counting a national table on every page request is not cheap.
- The page and count statements of a query whose values go into the SQL as they are (an
  identifier, a reference, a code) are built once per query shape and reused with each
  request's values (``ehr.search.templates``); other queries are built for themselves.
- Includes are read for the page's matches only, in one query per direction kind,
  deduplicated against each other and the matches, capped at ``max_included``, and never
  counted in the total. ``visible`` (the request's access policy) filters matches,
  chained targets and includes alike, so ``_include`` cannot leak what a search cannot.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    false,
    func,
    or_,
    select,
)
from sqlmodel import Session

from ehr.search.criteria_sql import RESOURCE, TABLES, Visibility, now_micros, search_clause
from ehr.search.cursor import encode_cursor
from ehr.search.keyset import OrderKey, after, order_by, sort_expression
from ehr.search.query_model import RESOURCE_COLUMN_PARAMS, Include, ParamRegistry, SearchQuery
from ehr.search.templates import Slotted, SlottedVisibility, slotted, template
from ehr.storage.repository import patients_column, patients_from


class ResourceRow(NamedTuple):
    """A current resource as stored: what a search bundle entry is made from."""

    rid: int
    res_type: str
    res_id: str
    version: int
    last_updated: int
    content: bytes | None
    patients: frozenset[str] | None = None
    """The Patients whose compartment holds it, where searched ``with_patients``."""


@dataclass
class SearchPage:
    matches: list[ResourceRow] = field(default_factory=list)
    included: list[ResourceRow] = field(default_factory=list)
    total: int | None = None
    next_cursor: str | None = None
    prev_cursor: str | None = None
    included_truncated: bool = False
    """More resources were to be included than ``max_included``; the rest were left out."""


_COLUMNS = ("rid", "res_type", "res_id", "version", "last_updated", "content")


def run_search(
    session: Session,
    registry: ParamRegistry,
    query: SearchQuery,
    *,
    page_size: int | None = None,
    visible: Visibility | None = None,
    max_included: int = 1000,
    now_us: int | None = None,
    count_first_page: bool = True,
    with_patients: bool = False,
) -> SearchPage:
    """One page of ``query`` (``page_size`` defaults to ``query.count``).

    ``visible`` is the request's access policy, applied to matches, chain targets and
    includes. ``count_first_page=False`` counts only when ``_total`` asks for it.
    ``with_patients`` reads each row's ``patients`` in the same statements (an audited
    search names them in its AuditEvent).
    ``registry`` is accepted for symmetry with ``parse_search``; the query is already
    resolved against it.
    """
    size = query.count if page_size is None else max(0, page_size)
    now = now_micros() if now_us is None else now_us
    where = _Where(query, visible, now)
    if query.summary == "count" or size == 0:
        wants_total = query.summary == "count" or query.total != "none"
        return SearchPage(total=_count(session, where) if wants_total else None)
    rows, more = _page(session, query, where, size, with_patients)
    page = SearchPage(matches=[_resource_row(row, with_patients) for row in rows])
    _cursors(page, query, rows, more)
    first = query.cursor is None
    if query.total != "none":
        if first and not more:
            page.total = len(rows)
        elif query.total in ("accurate", "estimate") or (first and count_first_page):
            page.total = _count(session, where)
    included = _included(session, query, page.matches, visible, max_included, with_patients)
    page.included, page.included_truncated = included
    return page


class _Where:
    """A search's condition, and the statements around it: built from a template of the
    query's shape when it has one (``ehr.search.templates``), else for this query alone."""

    def __init__(self, query: SearchQuery, visible: Visibility | None, now: int) -> None:
        self.query, self.visible, self.now = query, visible, now
        self.clause: ColumnElement[bool] | None = None
        self.slotted: Slotted | None = None  # a policy that cannot be built once: none
        self.shape_key: Hashable = None
        self.shaped_visible: Visibility | None = None
        self.values: dict[str, Any] = {}
        if isinstance(visible, SlottedVisibility):
            self.shape_key, self.shaped_visible = visible.key, visible.slotted
            self.values.update(visible.values)
        if visible is None or isinstance(visible, SlottedVisibility):
            self.slotted = slotted(query)
            if self.slotted is not None:
                self.values.update(self.slotted.values)

    def rows(
        self,
        session: Session,
        kind: Hashable,
        build: Callable[[ColumnElement[bool]], Select],
    ) -> list[Mapping[str, Any]]:
        """The rows of ``build(condition)`` by column name; ``kind`` names what ``build``
        makes, for the template."""
        if self.slotted is None:
            if self.clause is None:  # built once for the page and the count
                self.clause = search_clause(
                    self.query, RESOURCE, now_us=self.now, visible=self.visible
                )
            return [row._mapping for row in session.execute(build(self.clause))]
        shaped, visible = self.slotted.query, self.shaped_visible
        found = template(
            (kind, self.slotted.shape, self.shape_key),
            lambda: build(search_clause(shaped, RESOURCE, now_us=self.now, visible=visible)),
        )
        if found.driver is None:
            return [row._mapping for row in session.execute(found.statement, self.values)]
        keys = found.driver.keys
        rows = found.driver.rows(session, self.values)
        return [dict(zip(keys, row, strict=True)) for row in rows]


@lru_cache(maxsize=2)
def _columns(with_patients: bool) -> tuple[ColumnElement, ...]:
    """What a page selects of each ``resource`` row (``ResourceRow``'s fields); built once
    (the patients subquery took a tenth of an identifier search's CPU to build)."""
    columns = tuple(RESOURCE.c[c] for c in _COLUMNS)
    if with_patients:
        return (*columns, patients_column(RESOURCE).label("patients"))
    return columns


def _resource_row(values: Mapping[str, Any], with_patients: bool) -> ResourceRow:
    patients = patients_from(values["patients"]) if with_patients else None
    return ResourceRow(*(values[c] for c in _COLUMNS), patients=patients)


def _count(session: Session, where: _Where) -> int:
    def build(condition: ColumnElement[bool]) -> Select:
        return select(func.count().label("total")).select_from(RESOURCE).where(condition)

    return int(where.rows(session, "count", build)[0]["total"])


def _page(
    session: Session,
    query: SearchQuery,
    where: _Where,
    size: int,
    with_patients: bool,
) -> tuple[list[Mapping[str, Any]], bool]:
    """Up to ``size`` rows in sort order after/before the cursor, and whether more exist.

    Without ``_sort`` the rows are ordered by ``rid`` straight from the resource table;
    sort keys are computed in a subquery first (building one costs more than a lookup by
    identifier, so the common case goes without)."""
    cursor = query.cursor

    def build(condition: ColumnElement[bool]) -> Select:
        columns = _columns(with_patients)
        if query.sort:
            labelled = [
                sort_expression(k, RESOURCE).label(f"k{i}") for i, k in enumerate(query.sort)
            ]
            derived = select(*columns, *labelled).where(condition).subquery("m")
            keys = [
                OrderKey(
                    derived.c[f"k{i}"],
                    k.descending,
                    nullable=k.param.code not in RESOURCE_COLUMN_PARAMS,
                )
                for i, k in enumerate(query.sort)
            ]
            keys.append(OrderKey(derived.c.rid, nullable=False))
            statement = select(derived)
        else:
            keys = [OrderKey(RESOURCE.c.rid, nullable=False)]
            statement = select(*columns).where(condition)
        if cursor is not None and cursor.backward:
            keys = [key.reversed() for key in keys]
        statement = statement.order_by(*order_by(keys)).limit(size + 1)
        if cursor is not None:
            statement = statement.where(after(keys, [*cursor.keys, cursor.rid]))
        return statement

    rows = where.rows(session, ("page", size, with_patients), build)
    more = len(rows) > size
    rows = rows[:size]
    if cursor is not None and cursor.backward:
        rows.reverse()
    return rows, more


def _cursors(
    page: SearchPage, query: SearchQuery, rows: list[Mapping[str, Any]], more: bool
) -> None:
    """Fill ``next_cursor``/``prev_cursor``: from the edge rows, or the old boundary."""
    signature = query.sort_signature()

    def token(row: Mapping[str, Any], backward: bool) -> str:
        keys = tuple(row[f"k{i}"] for i in range(len(query.sort)))
        return encode_cursor(signature, backward, keys, row["rid"])

    cursor = query.cursor
    backward = cursor is not None and cursor.backward
    if rows:
        # Going forward, rows before exist iff we came from a cursor; going back, iff more.
        rows_before = more if backward else cursor is not None
        rows_after = cursor is not None if backward else more
        if rows_before:
            page.prev_cursor = token(rows[0], True)
        if rows_after:
            page.next_cursor = token(rows[-1], False)
    elif cursor is not None:
        # An empty page: offer the way back, starting just beyond the old boundary row.
        rid = cursor.rid - 1 if backward else cursor.rid + 1
        edge = encode_cursor(signature, not backward, cursor.keys, rid)
        if backward:
            page.next_cursor = edge
        else:
            page.prev_cursor = edge


def _included(
    session: Session,
    query: SearchQuery,
    matches: list[ResourceRow],
    visible: Visibility | None,
    limit: int,
    with_patients: bool,
) -> tuple[list[ResourceRow], bool]:
    """The live resources that ``_include``/``_revinclude`` add to the page."""
    if not matches or not (query.includes or query.revincludes):
        return [], False
    rids = [m.rid for m in matches]
    wanted = [RESOURCE.c.rid.in_(_include_targets(i, rids)) for i in query.includes]
    wanted += [RESOURCE.c.rid.in_(_revinclude_sources(i, rids)) for i in query.revincludes]
    conditions = [or_(*wanted), RESOURCE.c.deleted == false(), RESOURCE.c.rid.not_in(rids)]
    if visible is not None:
        conditions.append(visible(RESOURCE))
    statement = (
        select(*_columns(with_patients))
        .where(*conditions)
        .order_by(RESOURCE.c.rid)
        .limit(limit + 1)
    )
    rows = [_resource_row(row._mapping, with_patients) for row in session.execute(statement)]
    return rows[:limit], len(rows) > limit


def _include_targets(include: Include, rids: list[int]) -> Select:
    """rids of the resources that the page's matches refer to through ``include``."""
    ref = TABLES["reference"].alias("inc_ref")
    target = RESOURCE.alias("inc_target")
    on = and_(target.c.res_type == ref.c.target_type, target.c.res_id == ref.c.target_id)
    conditions = [ref.c.rid.in_(rids)]
    if include.source_type is not None:
        conditions.append(ref.c.res_type == include.source_type)
    if include.param is not None:
        conditions.append(ref.c.param == include.param)
    if include.target_type is not None:
        conditions.append(ref.c.target_type == include.target_type)
    return select(target.c.rid).select_from(ref.join(target, on)).where(*conditions)


def _revinclude_sources(include: Include, rids: list[int]) -> Select:
    """rids of the resources of ``include.source_type`` that refer to the page's matches."""
    ref = TABLES["reference"].alias("rev_ref")
    matched = RESOURCE.alias("rev_matched")
    on = and_(matched.c.res_type == ref.c.target_type, matched.c.res_id == ref.c.target_id)
    conditions = [matched.c.rid.in_(rids), ref.c.res_type == include.source_type]
    if include.param is not None:
        conditions.append(ref.c.param == include.param)
    if include.target_type is not None:
        conditions.append(matched.c.res_type == include.target_type)
    return select(ref.c.rid).select_from(ref.join(matched, on)).where(*conditions)
