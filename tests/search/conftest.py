"""Fixtures of the search SQL tests: a module-wide database per backend, a rolled-back store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from search_query_helpers import BACKENDS, Store, database, rolled_back_session
from sqlalchemy import Engine


@pytest.fixture(scope="module", params=BACKENDS)
def search_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    yield from database(request.param, tmp_path_factory)


@pytest.fixture
def store(search_db: Engine) -> Iterator[Store]:
    with rolled_back_session(search_db) as session:
        yield Store(session)
