"""How fast this stack can answer reads and identifier searches at all: the floor under
``read_search.py`` (docs/benchmarks.md, "The floor").

Serves ``floor_app.py`` (a bare ASGI application, no ``ehr`` code) with uvicorn, httptools
and uvloop, two workers, on the same databases and the same requests as ``read_search.py``,
and drives it with the same ``wrk`` script, for each ``--mode``: ``http`` (no database),
``select`` (one prepared statement a request) and ``audit`` (that statement and a 1 KB
audit row in one transaction). What the service achieves beside these numbers is what its
own work costs; what these reach is as far as any change to it could go on this machine.

    .venv/bin/python scripts/bench/floor.py \\
        --run sqlite sqlite:////tmp/ehr_bench.db /tmp/ids-sqlite.tsv \\
        --run postgresql postgresql://postgres@127.0.0.1:5432/ehr_bench /tmp/ids-sqlite.tsv

The ``audit`` mode adds a ``floor_audit`` table to the database: use a copy.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from read_search import (  # a sibling script, not a package
    HOST,
    WRK_DONE,
    WRK_SCRIPT,
    ForeignLoad,
    read_ids,
    request_paths,
    run_wrk,
    stop_server,
    wait_quiet,
)

MODES = ("http", "select", "audit")


def start_floor(
    url: str, mode: str, port: int, workers: int, log: Path, threaded: bool
) -> subprocess.Popen:
    env = dict(os.environ, FLOOR_MODE=mode, FLOOR_DATABASE_URL=url)
    env["FLOOR_THREADED"] = "1" if threaded else "0"
    command = [sys.executable, "-m", "uvicorn", "floor_app:app", "--host", HOST]
    command += ["--port", str(port), "--workers", str(workers), "--http", "httptools"]
    command += ["--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command,
            env=env,
            cwd=Path(__file__).resolve().parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"uvicorn exited with {server.returncode}; see {log}")
        try:
            httpx.get(f"http://{HOST}:{port}/fhir/Patient/none", timeout=2)
            time.sleep(1)
            return server
        except httpx.HTTPError:
            time.sleep(0.3)
    stop_server(server)
    raise SystemExit(f"the floor server did not answer within 60 s; see {log}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", nargs=3, action="append", required=True,
                        metavar=("LABEL", "DATABASE_URL", "IDS_FILE"))  # fmt: skip
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--interactions", nargs="+", default=["read", "search"])
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8766)
    threaded = "SQLite: each lookup in a worker thread, as the service's"
    parser.add_argument("--threaded", action="store_true", help=threaded)
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="ehr-floor-") as tmp:
        work = Path(tmp)
        script = work / "random_path.lua"
        script.write_text(WRK_SCRIPT + WRK_DONE, encoding="utf-8")
        for label, url, ids_file in args.run:
            paths = request_paths(read_ids(Path(ids_file)))
            for mode in args.modes:
                log = work / f"{label}-{mode}.log"
                server = start_floor(url, mode, args.port, args.workers, log, args.threaded)
                try:
                    for name in args.interactions:
                        file = work / f"{name}.paths"
                        file.write_text("\n".join(paths[name]) + "\n", encoding="utf-8")
                        wait_quiet(30)
                        base = f"http://{HOST}:{args.port}"
                        run_wrk(base, file, script, args.warmup, args.connections, 1, {})
                        with ForeignLoad(server) as foreign:
                            raw = run_wrk(
                                base, file, script, args.duration, args.connections, 1, {}
                            )
                        seconds = raw["duration_us"] / 1e6
                        rps = raw["requests"] / seconds
                        cpu = 1000 * foreign.server_cpu / max(1, raw["requests"])
                        errors = raw["errors"] + raw["non_2xx"]
                        shown = f"{mode}, threaded" if args.threaded else mode
                        row = (
                            f"| {label} | {shown} | {name} | {rps:,.0f} | "
                            f"{raw['p50_us'] / 1000:.2f} | {raw['p99_us'] / 1000:.2f} | "
                            f"{errors} | {cpu:.3f} | {100 * foreign.share:.0f}% |"
                        )
                        print(row, file=sys.stderr)
                        rows.append(row)
                finally:
                    stop_server(server)
    print(f"\n{args.workers} uvicorn workers, {args.connections} connections (wrk), "
          f"{args.warmup} s warm-up, {args.duration} s measured\n")  # fmt: skip
    print("| Database | Mode | Interaction | Requests/s | p50 (ms) | p99 (ms) | Errors "
          "| Server CPU/request (ms) | Other load |")  # fmt: skip
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
