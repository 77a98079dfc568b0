"""The Alembic environment: migrates a database to the tables of ``ehr.db.schema``.

There is no ``alembic.ini``: ``ehr.db.migrate`` builds the configuration in code and hands
over an open connection in ``config.attributes["connection"]`` (already inside the
transaction the upgrade runs in). Without one, the URL comes from
``config.attributes["url"]``, the ``sqlalchemy.url`` option or ``EHR_DATABASE_URL``.

Revisions are rendered in batch mode so that one migration file runs on SQLite (which
cannot ALTER most things and needs "move and copy") and PostgreSQL alike.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import ehr.db.schema  # noqa: F401  (registers the tables on SQLModel.metadata)
from ehr.config import get_settings
from ehr.db.engine import make_engine
from ehr.db.locks import lock_key

config = context.config
target_metadata = SQLModel.metadata

MIGRATION_LOCK = lock_key("ehr:alembic-upgrade")
"""PostgreSQL advisory lock held while migrating, so concurrent upgrades run one by one."""


def _url() -> str:
    return (
        config.attributes.get("url")
        or config.get_main_option("sqlalchemy.url")
        or get_settings().resolved_database_url()
    )


def _render_item(type_: str, obj: object, _autogen_context: object) -> str | bool:
    """Render SQLModel's ``AutoString`` as a plain ``sa.String`` (no sqlmodel import needed)."""
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


OPTIONS = {
    "target_metadata": target_metadata,
    "render_as_batch": True,
    "compare_type": True,
    "render_item": _render_item,
}


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **OPTIONS)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        context.run_migrations()


def run_offline() -> None:
    context.configure(url=_url(), literal_binds=True, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
