"""The Alembic migrations build exactly the schema of ``ehr.db.schema``, on both databases."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, select
from sqlmodel import SQLModel

from ehr.db.engine import make_engine
from ehr.db.migrate import current_revision, head_revision, upgrade
from ehr.db.schema import Resource
from ehr.db.unit_of_work import unit_of_work


def _schema_differences(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def test_upgrading_an_empty_database_gives_exactly_the_schema_tables(blank_database_url):
    assert current_revision(blank_database_url) is None

    upgrade(blank_database_url)

    assert _schema_differences(blank_database_url) == []
    assert current_revision(blank_database_url) == head_revision()


def test_upgrade_is_safe_to_repeat(database_url):
    upgrade(database_url)
    upgrade(database_url)

    assert current_revision(database_url) == head_revision()
    assert _schema_differences(database_url) == []


def test_concurrent_upgrades_from_several_processes_all_succeed(blank_database_url):
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=3, mp_context=context) as pool:
        list(pool.map(upgrade, [blank_database_url] * 3))

    assert current_revision(blank_database_url) == head_revision()
    assert _schema_differences(blank_database_url) == []


def test_concurrent_upgrades_from_several_threads_all_succeed(blank_database_url):
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(upgrade, [blank_database_url] * 3))

    assert current_revision(blank_database_url) == head_revision()


@pytest.mark.parametrize("attempt", [1, 2])
def test_each_test_gets_an_empty_database_whose_ids_start_at_one(engine: Engine, attempt):
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Resource)) == 0
        resource = Resource(res_type="Patient", res_id="p", version=1, last_updated=0)
        session.add(resource)
        session.flush()
        assert resource.rid == 1
