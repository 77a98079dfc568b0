"""The least a Python server on this stack can do per read or identifier search: the floor
under ``read_search.py``'s numbers (``floor.py`` runs it; docs/benchmarks.md).

A bare ASGI application (no FastAPI, no ``ehr`` code) served by the same uvicorn, httptools
and uvloop as ``ehr serve``, answering ``GET /fhir/Patient/{id}`` and
``GET /fhir/Patient?identifier=system|value`` from a database ``load_patients.py`` filled.
What it leaves out is everything the service must do besides (authentication, access
policy, the FHIR Bundle's links, the AuditEvent's content, a unit of work); what it keeps,
by ``FLOOR_MODE``:

- ``http``: no database; every answer is one stored Patient's bytes, read at start.
- ``select``: one statement per request (the resource by id, or the resources whose
  identifier token matches), prepared, answered with the stored bytes.
- ``audit``: ``select`` and the request's audit record (an ``INSERT`` of a 1 KB row), both
  in one transaction: on PostgreSQL one pipelined round trip (the service needs two, since
  its audit record names what the read found).

PostgreSQL is driven by psycopg's asyncio connections on the event loop itself (eight per
worker), SQLite by ``sqlite3`` on the event loop (a lookup takes microseconds), so neither
pays for a thread hand-off as the service's units of work do, unless ``FLOOR_THREADED=1``
(SQLite only): then each lookup runs in a worker thread, as the service's do. Environment:
``FLOOR_MODE``, ``FLOOR_DATABASE_URL`` (``sqlite:////path`` or ``postgresql://...``),
``FLOOR_THREADED``.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

MODE = os.environ.get("FLOOR_MODE", "select")
URL = os.environ["FLOOR_DATABASE_URL"]
CONNECTIONS = 8
THREADED = os.environ.get("FLOOR_THREADED") == "1"
POOL = ThreadPoolExecutor(1)
"""One thread, as the service's group commit runs one batch per worker at a time."""
AUDIT_ROW = b'{"resourceType":"AuditEvent",' + b'"x":"' + b"a" * 1000 + b'"}'

READ = "SELECT content FROM resource WHERE res_type = 'Patient' AND res_id = {p}"
SEARCH = (
    "SELECT content FROM resource WHERE deleted = false AND rid IN (SELECT rid FROM "
    "search_token WHERE res_type = 'Patient' AND param = 'identifier' AND system = {p} "
    "AND code = {p}) ORDER BY rid LIMIT 21"
)
AUDIT = "INSERT INTO floor_audit (res_id, recorded, content) VALUES ({p}, {p}, {p})"
AUDIT_TABLE = (
    "CREATE TABLE IF NOT EXISTS floor_audit (seq {serial} PRIMARY KEY, res_id TEXT NOT NULL, "
    "recorded BIGINT NOT NULL, content {blob} NOT NULL)"
)
HEADERS = [(b"content-type", b"application/fhir+json")]


class Sqlite:
    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(AUDIT_TABLE.format(serial="INTEGER", blob="BLOB"))

    async def rows(self, sql: str, args: tuple[Any, ...], audit: bool) -> list[bytes]:
        if THREADED:
            return await asyncio.get_running_loop().run_in_executor(
                POOL, self._rows, sql, args, audit
            )
        return self._rows(sql, args, audit)

    def _rows(self, sql: str, args: tuple[Any, ...], audit: bool) -> list[bytes]:
        sql = sql.format(p="?")
        if not audit:
            return [row[0] for row in self.db.execute(sql, args)]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            found = [row[0] for row in self.db.execute(sql, args)]
            self.db.execute(AUDIT.format(p="?"), (str(uuid.uuid4()), time.time_ns(), AUDIT_ROW))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return found


class Postgres:
    def __init__(self) -> None:
        self.idle: asyncio.Queue[Any] = asyncio.Queue()

    async def open(self, url: str) -> None:
        import psycopg

        for _ in range(CONNECTIONS):
            conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
            await conn.execute(AUDIT_TABLE.format(serial="BIGSERIAL", blob="BYTEA"))
            self.idle.put_nowait(conn)

    async def rows(self, sql: str, args: tuple[Any, ...], audit: bool) -> list[bytes]:
        conn = await self.idle.get()
        try:
            if not audit:
                cursor = await conn.execute(sql.format(p="%s"), args, prepare=True)
                return [row[0] for row in await cursor.fetchall()]
            async with conn.pipeline():
                await conn.execute("BEGIN")
                cursor = await conn.execute(sql.format(p="%s"), args, prepare=True)
                row = (str(uuid.uuid4()), time.time_ns(), AUDIT_ROW)
                await conn.execute(AUDIT.format(p="%s"), row, prepare=True)
                await conn.execute("COMMIT")
            return [row[0] for row in await cursor.fetchall()]
        finally:
            self.idle.put_nowait(conn)


class Floor:
    def __init__(self) -> None:
        self.db: Sqlite | Postgres | None = None
        self.fixed = b""

    async def start(self) -> None:
        if URL.startswith("sqlite:///"):
            self.db = Sqlite(URL.removeprefix("sqlite:///"))
        else:
            self.db = Postgres()
            await self.db.open(URL.replace("postgresql+psycopg://", "postgresql://"))
        sample = "SELECT content FROM resource WHERE res_type = 'Patient' LIMIT 1"
        found = await self.db.rows(sample.replace("{", "{{").replace("}", "}}"), (), False)
        self.fixed = bytes(found[0])

    async def answer(self, path: str, query: str) -> tuple[int, bytes]:
        assert self.db is not None
        if MODE == "http":
            return 200, self.fixed
        audit = MODE == "audit"
        if path.startswith("/fhir/Patient/"):
            found = await self.db.rows(READ, (path.rsplit("/", 1)[1],), audit)
            return (200, bytes(found[0])) if found else (404, b"{}")
        if path == "/fhir/Patient" and query.startswith("identifier="):
            system, _, code = unquote(query.removeprefix("identifier=")).partition("|")
            found = await self.db.rows(SEARCH, (system, code), audit)
            entries = b",".join(b'{"resource":' + bytes(r) + b"}" for r in found)
            total = str(len(found)).encode()
            body = b'{"resourceType":"Bundle","type":"searchset","total":' + total
            return 200, body + b',"entry":[' + entries + b"]}"
        return 404, b"{}"


FLOOR = Floor()


async def app(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await FLOOR.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    status, body = await FLOOR.answer(scope["path"], scope["query_string"].decode())
    await send({"type": "http.response.start", "status": status, "headers": HEADERS})
    await send({"type": "http.response.body", "body": body})
