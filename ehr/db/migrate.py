"""Bringing a database to the current schema with Alembic (``ehr/db/migrations``).

``upgrade`` runs the whole upgrade in one transaction on one connection: on SQLite it
begins with ``BEGIN IMMEDIATE`` (``ehr.db.engine``), on PostgreSQL the migration
environment takes an advisory lock first. Concurrent callers in several processes
therefore run one after the other, and the later ones find the database at head and do
nothing; calling it again is always safe. Within one process a lock serialises callers,
because Alembic's ``context`` and ``op`` are process-wide proxies.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ehr.db.engine import WRITE_OPTION, make_engine

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
_ALEMBIC_LOCK = threading.Lock()


def alembic_config(url: str = "") -> Config:
    """An Alembic configuration for ``url``, built in code (there is no ``alembic.ini``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # New revision files leave ``alembic revision --autogenerate`` already ruff-formatted.
    hooks = {"hooks": "ruff", "ruff.type": "exec", "ruff.executable": sys.executable}
    hooks["ruff.options"] = "-m ruff format REVISION_SCRIPT_FILENAME"
    for key, value in hooks.items():
        config.set_section_option("post_write_hooks", key, value)
    if url:
        config.attributes["url"] = url
    return config


def head_revision() -> str | None:
    """The newest revision in ``ehr/db/migrations/versions``."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (by default the newest)."""
    config = alembic_config(url)
    engine = make_engine(url)
    try:
        with _ALEMBIC_LOCK, engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at, ``None`` if it was never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
