"""``INSERT ... ON CONFLICT DO NOTHING`` on both databases, for idempotent relationship rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


def insert_ignoring_duplicates(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table``; rows whose key already exists are left as they are."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    session.execute(module.insert(table).on_conflict_do_nothing(), rows)


def upsert(session: Session, table: Table, row: dict[str, Any], key: tuple[str, ...]) -> None:
    """Insert ``row``, or update the existing row with the same ``key`` columns to match it."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table).values(**row)
    changes = {name: statement.excluded[name] for name in row if name not in key}
    session.execute(statement.on_conflict_do_update(index_elements=list(key), set_=changes))
