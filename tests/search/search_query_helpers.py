"""Shared pieces of the search query/SQL/execution tests.

- ``REGISTRY``: a small hand-written registry (the ``SearchRegistry`` protocol), so these
  tests do not depend on the definitions loaded from ``fhir_profiles/``.
- ``database``: a fresh database per test module, on SQLite and on PostgreSQL, made with
  ``SQLModel.metadata.create_all`` (PostgreSQL: a database ``ehr_b_<random>`` created and
  dropped through an autocommit connection to the ``test`` database).
- ``Store``: writes resources and hand-built index rows straight into the tables, so the
  tests do not depend on the extractor.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, delete, insert, make_url, update
from sqlmodel import Session, SQLModel

import ehr.db.schema  # noqa: F401  (registers the tables on SQLModel.metadata)
from ehr.db.engine import make_engine
from ehr.search.criteria_sql import RESOURCE, TABLES
from ehr.search.dates import date_range
from ehr.search.numbers import implicit_range
from ehr.search.query import parse_search
from ehr.search.query_model import SearchQuery
from ehr.search.registry import SearchParamDef
from ehr.search.values import (
    DateValue,
    IndexValue,
    NumberValue,
    QuantityValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
)
from ehr.text import normalize

BACKENDS = ["sqlite", "postgresql"]
ADMIN_URL = os.environ.get(
    "EHR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_RESOURCE_URL = "http://hl7.org/fhir/SearchParameter/Resource-"

_PARAMS: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "Patient": [
        ("name", "string", ()),
        ("family", "string", ()),
        ("gender", "token", ()),
        ("identifier", "token", ()),
        ("birthdate", "date", ()),
        ("general-practitioner", "reference", ("Organization", "Practitioner")),
        ("organization", "reference", ("Organization",)),
        ("link", "reference", ("Patient", "RelatedPerson")),
    ],
    "Observation": [
        ("code", "token", ()),
        ("date", "date", ()),
        ("value-quantity", "quantity", ()),
        ("value-string", "string", ()),
        ("subject", "reference", ("Group", "Location", "Patient")),
        ("patient", "reference", ("Patient",)),
        ("performer", "reference", ("Organization", "Practitioner")),
        ("focus", "reference", ()),
        ("code-value-quantity", "composite", ()),
    ],
    "Practitioner": [("name", "string", ()), ("family", "string", ())],
    "Organization": [("name", "string", ()), ("partof", "reference", ("Organization",))],
    "Location": [("name", "string", ()), ("near", "special", ())],
    "Group": [("name", "token", ()), ("code", "token", ())],
    "RiskAssessment": [("probability", "number", ()), ("subject", "reference", ("Patient",))],
    "ValueSet": [("url", "uri", ())],
    "RelatedPerson": [("name", "string", ())],
}
_COMMON = [("_tag", "token"), ("_profile", "uri")]


@dataclass(frozen=True)
class FakeRegistry:
    """The ``SearchRegistry`` protocol over a fixed table of definitions."""

    params: Mapping[str, Mapping[str, SearchParamDef]]

    def get(self, resource_type: str, code: str) -> SearchParamDef | None:
        return self.params.get(resource_type, {}).get(code)

    def params_for(self, resource_type: str) -> Mapping[str, SearchParamDef]:
        return self.params.get(resource_type, {})


def _registry() -> FakeRegistry:
    table: dict[str, dict[str, SearchParamDef]] = {}
    for resource_type, params in _PARAMS.items():
        defs = table.setdefault(resource_type, {})
        for code, kind, targets in params:
            url = f"http://hl7.org/fhir/SearchParameter/{resource_type}-{code}"
            defs[code] = SearchParamDef(
                code, kind, resource_type, f"{resource_type}.x", url, targets
            )
        for code, kind in [*_COMMON, ("_id", "token"), ("_lastUpdated", "date")]:
            url = _RESOURCE_URL + code[1:]
            defs[code] = SearchParamDef(code, kind, resource_type, "Resource.meta", url)
    return FakeRegistry(table)


REGISTRY = _registry()


def parse(
    resource_type: str | None, *pairs: tuple[str, str], strict: bool = True, **kw: object
) -> SearchQuery:
    """``parse_search`` over ``REGISTRY`` with pairs written inline."""
    return parse_search(resource_type, list(pairs), REGISTRY, strict=strict, **kw)  # type: ignore[arg-type]


def database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A fresh database with every table, for one test module; dropped afterwards."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("search-db") / "search.db"
        engine = make_engine(f"sqlite:///{path}")
        SQLModel.metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    name = f"ehr_b_{secrets.token_hex(6)}"
    admin = make_engine(ADMIN_URL)
    try:
        _admin_sql(admin, f'CREATE DATABASE "{name}"')
    except Exception as exc:  # unreachable server: a skip, unless required
        admin.dispose()
        if os.environ.get("EHR_REQUIRE_POSTGRES", "") in {"1", "true", "yes"}:
            raise
        pytest.skip(f"PostgreSQL not reachable: {str(exc).splitlines()[0]}")
    engine = make_engine(make_url(ADMIN_URL).set(database=name).render_as_string(False))
    SQLModel.metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        _admin_sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _admin_sql(admin: Engine, statement: str) -> None:
    with admin.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql(statement)


@contextmanager
def rolled_back_session(engine: Engine) -> Iterator[Session]:
    """A session in one transaction that is rolled back, so every test starts empty."""
    with engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, autoflush=False)
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


_KIND = {
    StringValue: "string",
    TokenValue: "token",
    DateValue: "date",
    NumberValue: "number",
    QuantityValue: "quantity",
    ReferenceValue: "reference",
    UriValue: "uri",
}


@dataclass
class Store:
    """Writes resources and their index rows directly; ``now`` is the next lastUpdated."""

    session: Session
    now: int = 1_700_000_000_000_000

    def add(self, res_type: str, res_id: str, *index: tuple[str, IndexValue]) -> int:
        """A live resource ``res_type/res_id`` indexed under ``(code, value)`` pairs."""
        self.now += 1_000_000
        values = dict(res_type=res_type, res_id=res_id, version=1, last_updated=self.now)
        content = f'{{"resourceType":"{res_type}","id":"{res_id}"}}'.encode()
        statement = insert(RESOURCE).values(**values, deleted=False, content=content)
        rid = self.session.execute(statement).inserted_primary_key[0]
        for code, value in index:
            row = dict(value.__dict__, rid=rid, res_type=res_type, param=code)
            self.session.execute(insert(TABLES[_KIND[type(value)]]).values(**row))
        return rid

    def delete(self, rid: int) -> None:
        """Make ``rid`` a tombstone and drop its index rows, as a FHIR delete does."""
        for table in TABLES.values():
            self.session.execute(delete(table).where(table.c.rid == rid))
        self.now += 1_000_000
        changes = dict(deleted=True, content=None, version=2, last_updated=self.now)
        self.session.execute(update(RESOURCE).where(RESOURCE.c.rid == rid).values(**changes))


def s(text: str) -> StringValue:
    return StringValue(normalize(text), text)


def tok(system: str | None, code: str | None, text: str | None = None) -> TokenValue:
    return TokenValue(system, code, normalize(text) if text else None)


def d(text: str) -> DateValue:
    return DateValue(*date_range(text))


def period(start: str | None, end: str | None) -> DateValue:
    """The period ``start``..``end``; None is an open end."""
    low = date_range(start)[0] if start else None
    high = date_range(end)[1] if end else None
    return DateValue(low, high)


def n(text: str) -> NumberValue:
    return NumberValue(*implicit_range(text))


def qty(text: str, system: str | None, code: str | None, unit: str | None = None) -> QuantityValue:
    return QuantityValue(*implicit_range(text), system, code, unit)


def ref(text: str) -> ReferenceValue:
    if "://" in text:
        return ReferenceValue(None, None, text)
    target_type, target_id = text.split("/")
    return ReferenceValue(target_type, target_id, None)


def uri(text: str) -> UriValue:
    return UriValue(text)
