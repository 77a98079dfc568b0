"""What one read or identifier search costs the machine, without HTTP or a load generator.

``read_search.py`` measures what clients see, but on a shared 2-core machine its rates
move by 20-30% between runs of the same code (the load generator, the database server and
the workers share the cores, and a connection split of 11/5 is not one of 8/8), which
hides changes of a few percent. This drives the ASGI application in process, as
``ehr serve`` builds it (group commit, the audit trail, the access policy; the audit
indexer off, so each request leaves its event pending) with ``--concurrency`` requests in
flight, and reports the CPU per request of this process and of the whole machine (with
PostgreSQL, the database server's share comes on top), best of ``--rounds``: CPU time is
what the 2-core targets are made of, and it varies far less than a rate.

    EHR_DATA_DIR=/tmp/ehr_bench-data .venv/bin/python scripts/bench/request_cpu.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/ehr_bench \\
        --ids /tmp/ids-sqlite.tsv

``PYTHONPATH=/tmp/ehr-src`` measures another source tree (a ``git archive`` of a commit);
alternate the two, as runs on this machine drift. Use the same ``EHR_DATA_DIR`` as the
load (the signing and national-ID keys). Every request leaves an AuditEvent pending: run
it on a copy of the database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from pathlib import Path
from urllib.parse import quote

from in_process import InProcessClient, busy_seconds

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--ids", type=Path, required=True, help="id<TAB>cccd lines")
    parser.add_argument("--requests", type=int, default=4000, help="per round and interaction")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1000, help="requests before measuring")
    parser.add_argument("--concurrency", type=int, default=8, help="as one worker's connections")
    parser.add_argument("--interactions", nargs="+", default=["read", "search"])
    args = parser.parse_args()

    os.environ["EHR_DATABASE_URL"] = args.database_url
    os.environ["EHR_AUDIT_INDEX_INTERVAL_S"] = "0"  # no indexer: its work is not a request's
    os.environ.setdefault("EHR_RATE_LIMIT_PER_MINUTE", str(10**9))
    import uvloop

    client = InProcessClient()
    pairs = [line.split("\t") for line in args.ids.read_text().splitlines() if line]
    statuses = client.statuses

    def target(interaction: str) -> tuple[str, bytes]:
        res_id, cccd = random.choice(pairs)
        if interaction == "read":
            return f"/fhir/Patient/{res_id}", b""
        return "/fhir/Patient", f"identifier={quote(f'{CCCD}|{cccd.strip()}')}".encode()

    async def request(interaction: str) -> None:
        await client.get(*target(interaction))

    async def run(interaction: str, count: int) -> None:
        async def one_client(n: int) -> None:
            for _ in range(n):
                await request(interaction)

        share = count // args.concurrency
        await asyncio.gather(*(one_client(share) for _ in range(args.concurrency)))

    for interaction in args.interactions:
        uvloop.run(run(interaction, args.warmup))  # warm-up: caches, plans
        best: tuple[float, float, float] | None = None
        for _ in range(args.rounds):
            statuses.clear()
            busy, cpu, wall = busy_seconds(), time.process_time(), time.perf_counter()
            uvloop.run(run(interaction, args.requests))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            busy = busy_seconds() - busy
            done = sum(statuses.values())
            if set(statuses) != {200}:
                raise SystemExit(f"{interaction}: unexpected statuses {statuses}")
            per = (1000 * cpu / done, 1000 * busy / done, done / wall)
            print(
                f"  {interaction}: process {per[0]:.3f} ms, machine {per[1]:.3f} ms "
                f"a request ({per[2]:,.0f}/s)"
            )
            if best is None or per[0] < best[0]:
                best = per
        assert best is not None
        print(
            f"{interaction}: best of {args.rounds}: process {best[0]:.3f} ms, "
            f"machine {best[1]:.3f} ms a request"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
