"""``INSERT ... ON CONFLICT DO NOTHING`` on both databases, for idempotent relationship rows."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from ehr.db.driver_write import DriverWrite


def insert_ignoring_duplicates(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table``; rows whose key already exists are left as they are."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    _insert_ignoring(dialect, table, tuple(rows[0])).execute(session, rows)


def inserted_unless_present(session: Session, table: Table, row: dict[str, Any]) -> bool:
    """Insert ``row`` unless a row with its key exists; whether it went in.

    One statement (``ON CONFLICT DO NOTHING RETURNING``) where an insert ignoring the
    duplicate and a read of the key were two: a first-seen national ID is registered so.
    """
    dialect = session.get_bind().dialect.name
    return bool(_insert_returning(dialect, table, tuple(row)).returned(session, row))


def upsert(session: Session, table: Table, row: dict[str, Any], key: tuple[str, ...]) -> None:
    """Insert ``row``, or update the existing row with the same ``key`` columns to match it."""
    dialect = session.get_bind().dialect.name
    _upsert(dialect, table, tuple(row), key).execute(session, row)


def _insert(dialect: str, table: Table, columns: tuple[str, ...]) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).values({name: bindparam(name) for name in columns})


@lru_cache(maxsize=64)
def _insert_ignoring(dialect: str, table: Table, columns: tuple[str, ...]) -> DriverWrite:
    """Built once per shape and run on the driver: linking and care relationships insert
    such rows on every Patient and Encounter write (``ehr.db.driver_write``)."""
    return DriverWrite(_insert(dialect, table, columns).on_conflict_do_nothing())


@lru_cache(maxsize=64)
def _insert_returning(dialect: str, table: Table, columns: tuple[str, ...]) -> DriverWrite:
    """Built once per shape, as ``_insert_ignoring``; gives back the first column of a row
    that went in, nothing for one left out."""
    first = table.c[columns[0]]
    statement = _insert(dialect, table, columns).on_conflict_do_nothing().returning(first)
    return DriverWrite(statement, returning=(first,))


@lru_cache(maxsize=256)
def _upsert(
    dialect: str, table: Table, columns: tuple[str, ...], key: tuple[str, ...]
) -> DriverWrite:
    """Built once per shape, as ``_insert_ignoring``."""
    statement = _insert(dialect, table, columns)
    changes = {name: statement.excluded[name] for name in columns if name not in key}
    return DriverWrite(statement.on_conflict_do_update(index_elements=list(key), set_=changes))
