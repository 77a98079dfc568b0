"""Database fixtures: every database test runs on SQLite and on PostgreSQL.

- ``database_url`` (parametrised, ids ``sqlite`` and ``postgresql``): the URL of a migrated,
  empty database. SQLite: a fresh file per test, copied from a template migrated once per
  session. PostgreSQL: one database per session and xdist worker, migrated once and
  emptied (``TRUNCATE ... RESTART IDENTITY CASCADE``) before each test.
- ``engine``: ``make_engine(database_url)``, disposed after the test.
- ``blank_database_url`` (same parametrisation): a database with no tables at all, for
  migration tests.

PostgreSQL is reached through ``EHR_TEST_POSTGRES_URL`` (an admin URL; default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). If it cannot be reached the
PostgreSQL tests fail when ``EHR_REQUIRE_POSTGRES=1`` (as ``scripts/test`` and CI set it)
and are skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text

from ehr.db.driver_select import DriverSelect
from ehr.db.engine import make_engine
from ehr.db.migrate import upgrade

pytest_plugins = ["app_fixtures"]
"""``client``, ``app``, ``store_counts``, ``live_server``: see ``tests/app_fixtures.py``."""

BACKENDS = ["sqlite", "postgresql"]
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_required() -> bool:
    return os.environ.get("EHR_REQUIRE_POSTGRES", "").lower() in {"1", "true", "yes"}


@dataclass
class _Postgres:
    """The session's PostgreSQL server: an admin engine, or why there is none."""

    admin_url: str
    admin: Engine | None = None
    problem: str = ""

    def url_of(self, database: str) -> str:
        url = make_url(self.admin_url).set(database=database)
        return url.render_as_string(hide_password=False)

    def recreate(self, database: str) -> str:
        self.drop(database)
        self._execute(f'CREATE DATABASE "{database}"')
        return self.url_of(database)

    def drop(self, database: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def _execute(self, statement: str) -> None:
        assert self.admin is not None
        with self.admin.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql(statement)

    def require(self) -> None:
        """Fail or skip the calling test if the server is unreachable."""
        if not self.problem:
            return
        if _postgres_required():
            pytest.fail(f"{self.problem} (EHR_REQUIRE_POSTGRES=1, so this fails)", pytrace=False)
        pytest.skip(f"{self.problem}; set EHR_REQUIRE_POSTGRES=1 to make this a failure")


def _worker() -> str:
    """A name unique to this pytest process: the xdist worker id and the process id.

    The process id keeps two sessions on one server (two developers, or CI and a local
    run) from dropping each other's databases.
    """
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


@pytest.fixture(scope="session")
def _postgres() -> Iterator[_Postgres]:
    given = make_url(os.environ.get("EHR_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    url = given.update_query_dict({"connect_timeout": given.query.get("connect_timeout", "5")})
    server = _Postgres(admin_url=url.render_as_string(hide_password=False))
    admin = make_engine(server.admin_url)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except Exception as error:  # any driver or network error means "unreachable"
        admin.dispose()
        shown = given.render_as_string(hide_password=True)
        detail = (str(error).strip().splitlines() or [repr(error)])[0]
        server.problem = f"PostgreSQL is not reachable at {shown}: {detail}"
        yield server
        return
    server.admin = admin
    yield server
    admin.dispose()


@dataclass
class _MigratedPostgres:
    url: str
    engine: Engine
    truncate: str


@pytest.fixture(scope="session")
def _postgres_database(_postgres: _Postgres) -> Iterator[_MigratedPostgres]:
    """This worker's migrated PostgreSQL database, dropped at the end of the session."""
    _postgres.require()
    name = f"ehr_test_{_worker()}"
    url = _postgres.recreate(name)
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        tables = connection.scalars(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                " AND tablename <> 'alembic_version' ORDER BY tablename"
            )
        ).all()
    names = ", ".join(f'"{table}"' for table in tables)
    yield _MigratedPostgres(url, engine, f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()
    _postgres.drop(name)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head, in rollback-journal mode so one file copy is whole."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
    finally:
        connection.close()
    return path


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a migrated database with no rows, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "ehr.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    request.getfixturevalue("_postgres").require()
    database: _MigratedPostgres = request.getfixturevalue("_postgres_database")
    with database.engine.begin() as connection:
        # A test that left a transaction open would block TRUNCATE: fail, don't hang.
        connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
        connection.exec_driver_sql(database.truncate)
    return database.url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on ``database_url``, disposed after the test."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database without any tables (not migrated), on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    server: _Postgres = request.getfixturevalue("_postgres")
    server.require()
    name = f"ehr_test_{_worker()}_blank"
    yield server.recreate(name)
    server.drop(name)


@pytest.fixture
def gathered(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many sets of values each ``DriverSelect.many`` call ran together."""
    sizes: list[int] = []
    many = DriverSelect.many

    def spy(self, session, values):  # type: ignore[no-untyped-def]
        sizes.append(len(values))
        return many(self, session, values)

    monkeypatch.setattr(DriverSelect, "many", spy)
    return sizes
