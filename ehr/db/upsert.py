"""``INSERT ... ON CONFLICT DO NOTHING`` on both databases, for idempotent relationship rows."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Executable, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


def insert_ignoring_duplicates(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table``; rows whose key already exists are left as they are."""
    if not rows:
        return
    session.execute(_insert_ignoring_statement(session.get_bind().dialect.name, table), rows)


def upsert(session: Session, table: Table, row: dict[str, Any], key: tuple[str, ...]) -> None:
    """Insert ``row``, or update the existing row with the same ``key`` columns to match it."""
    dialect = session.get_bind().dialect.name
    session.execute(_upsert_statement(dialect, table, tuple(row), key), row)


@lru_cache(maxsize=64)
def _insert_ignoring_statement(dialect: str, table: Table) -> Executable:
    """Built once per table, as ``_upsert_statement``."""
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


@lru_cache(maxsize=256)
def _upsert_statement(
    dialect: str, table: Table, columns: tuple[str, ...], key: tuple[str, ...]
) -> Executable:
    """Built once per shape: building it costs more than running it (linking upserts
    several rows per Patient)."""
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table)
    changes = {name: statement.excluded[name] for name in columns if name not in key}
    return statement.on_conflict_do_update(index_elements=list(key), set_=changes)
