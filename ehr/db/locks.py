"""Serialising writers that must not race: conditional create/update/delete.

A conditional create is "search, and create only if nothing matched"; two concurrent
requests would both see nothing and both create (the bug every major FHIR server shipped,
see STYLE.md). Before searching, a conditional write takes a transaction-scoped lock on
its criteria. PostgreSQL: ``pg_advisory_xact_lock`` on a 64-bit hash of the key, released
at commit; the search that follows runs at READ COMMITTED and so sees the winner's row.
SQLite: every write transaction already holds the database write lock from
``BEGIN IMMEDIATE`` (``ehr.db.engine``), so writers are serial and nothing more is needed.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlmodel import Session


def lock_key(key: str) -> int:
    """A stable signed 64-bit integer for ``key`` (PostgreSQL advisory lock ids are bigint)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def serialize_on(session: Session, key: str) -> None:
    """Hold a lock on ``key`` until the unit of work ends."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(key)})
