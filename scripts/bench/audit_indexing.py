"""What storing an AuditEvent costs: the audit indexer working off a backlog.

Every audited read or search writes an AuditEvent as a pending row, which the audit
indexer later stores as a resource with its index rows (``ehr.audit.indexer``). Under a
read peak the indexer yields, so ``read_search.py``'s requests/s leave that work out (its
"Audit indexing behind" column says how much); over a day it must all be done, so the CPU
an event takes to store is part of what a read costs the machine.

1. ``fill``: ``--reads`` reads by id of random Patients (``--ids``, from
   ``load_patients.py``), in process through the ASGI application as ``ehr serve`` builds
   it (group commit included, no HTTP), with the indexer off: each leaves its event pending.
2. ``drain``: store every pending event with ``index_once``, as the indexer does, and
   print events/s, the CPU of this process per event, and the CPU of the whole machine per
   event (on PostgreSQL the rest is mostly the database server).

``drain`` empties the backlog, so compare code on copies of one filled database (a
PostgreSQL ``TEMPLATE``, or the SQLite file with its ``-audit`` file)::

    EHR_DATA_DIR=/tmp/ehr_bench-data .venv/bin/python scripts/bench/audit_indexing.py fill \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/backlog \\
        --ids /tmp/ids-sqlite.tsv --reads 16000
    psql -h 127.0.0.1 -U postgres -d test -c 'CREATE DATABASE drain TEMPLATE backlog'
    EHR_DATA_DIR=/tmp/ehr_bench-data .venv/bin/python scripts/bench/audit_indexing.py drain \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/drain

Use the same ``EHR_DATA_DIR`` as the load (the signing and national-ID keys).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from pathlib import Path

from in_process import InProcessClient, busy_seconds

CONCURRENCY = 16
"""Reads in flight at once, as ``read_search.py``'s connections."""


def fill(database_url: str, ids_file: Path, reads: int) -> None:
    os.environ["EHR_DATABASE_URL"] = database_url
    os.environ["EHR_AUDIT_INDEX_INTERVAL_S"] = "0"  # no indexer: every event stays pending
    os.environ.setdefault("EHR_RATE_LIMIT_PER_MINUTE", str(10**9))
    import uvloop

    client = InProcessClient()
    ids = [line.split("\t", 1)[0] for line in ids_file.read_text().splitlines() if line]
    statuses = client.statuses

    async def read(res_id: str) -> None:
        await client.get(f"/fhir/Patient/{res_id}")

    async def one_client(count: int) -> None:
        for _ in range(count):
            await read(random.choice(ids))

    async def main() -> None:
        await asyncio.gather(*(one_client(reads // CONCURRENCY) for _ in range(CONCURRENCY)))

    started = time.perf_counter()
    uvloop.run(main())
    print(f"{sum(statuses.values()):,} reads in {time.perf_counter() - started:.1f} s: {statuses}")


def drain(database_url: str) -> None:
    os.environ["EHR_DATABASE_URL"] = database_url
    from ehr.api.app import build_services
    from ehr.audit.indexer import FileCursor, index_once
    from ehr.config import get_settings
    from ehr.db.audit_file import audit_file_of

    services = build_services(get_settings())
    cursor = FileCursor() if audit_file_of(services.engine) is not None else None
    stored = 0
    busy, cpu, wall = busy_seconds(), time.process_time(), time.perf_counter()
    while done := index_once(services, cursor):
        stored += done
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    busy = busy_seconds() - busy
    if not stored:
        raise SystemExit("nothing was pending: fill a database first")
    print(
        f"stored {stored:,} events in {wall:.1f} s: {stored / wall:,.0f}/s; "
        f"CPU per event: indexer {1000 * cpu / stored:.3f} ms, "
        f"machine {1000 * busy / stored:.3f} ms (others {1000 * (busy - cpu) / stored:.3f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("fill", "drain"))
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--ids", type=Path, help="fill: ids file of load_patients.py")
    parser.add_argument("--reads", type=int, default=16000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    random.seed(args.seed)
    if args.step == "fill":
        if args.ids is None:
            parser.error("fill needs --ids")
        fill(args.database_url, args.ids, args.reads)
    else:
        drain(args.database_url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
