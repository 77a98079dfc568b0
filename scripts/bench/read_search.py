"""Benchmark read by id and search by identifier against a running ``ehr serve``.

For each ``--run LABEL DATABASE_URL IDS_FILE`` (ids from ``load_patients.py``):

1. start ``ehr serve --workers 2`` as a subprocess with ``EHR_DATABASE_URL`` set, and wait
   for ``GET /fhir/metadata``; mint an admin access token (``ehr token --role admin``, with
   the server's environment, so the same signing key) that every request carries as
   ``Authorization: Bearer``;
2. check a sample: reads give 200, and an identifier search finds its Patient and nothing
   but that Patient's golden person (the master patient index copies the CCCD onto it);
3. for (a) ``GET /fhir/Patient/{id}`` and (b) ``GET /fhir/Patient?identifier=system|value``
   with ids/CCCDs drawn at random from the file, drive load from a separate process for a
   warm-up (discarded) and then a measured period, and record requests/s, p50 and p99;
4. with ``--profile-dir``, run each interaction once more while ``py-spy`` samples the
   workers, and print the functions with the most cumulative time;
5. stop the server.

The load generator is ``wrk`` when installed (``apt-get install wrk``; a Lua script picks a
random request path per request), else a multi-process asyncio ``httpx`` generator, which
needs far more CPU per request and so understates the server on a small machine. Load is
closed-loop: ``--connections`` clients each send the next request when the previous one
is answered. Prints one markdown table of all runs.

Every request is one client (the admin token), so the server is started with
``EHR_RATE_LIMIT_PER_MINUTE`` set to ``--rate-limit`` (default 10^9): the limiter's bucket is
still taken on every request, but the service's default of 1,200 per minute per worker would
answer nearly all of them 429. Each read and search writes its AuditEvent, so the database
grows by one AuditEvent (and its index rows) per request while the benchmark runs.

    .venv/bin/python scripts/bench/read_search.py \\
        --run sqlite sqlite:////tmp/ehr_bench.db /tmp/ids-sqlite.tsv \\
        --run postgresql postgresql+psycopg://postgres@127.0.0.1:5432/ehr_bench /tmp/ids-pg.tsv
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parents[2]
CCCD_SYSTEM = "http://fhir.hl7.org.vn/core/sid/cccd"
HOST = "127.0.0.1"
TARGETS = {"read": (4000.0, 20.0), "search": (3000.0, 20.0)}
"""Interaction -> (requests/s at least, p99 in ms under), from the benchmark issue."""
LABELS = {"read": "read `Patient/{id}`", "search": "search `Patient?identifier=`"}

WRK_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""
"""wrk's ``done`` hook: prints the run's counts and latency percentiles as a ``RESULT``
JSON line for ``run_wrk`` (shared by every wrk script of the benchmarks)."""

WRK_SCRIPT = r"""
-- Each request GETs a random line of the paths file (args[1]); done() prints JSON.
local paths = {}
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do paths[#paths + 1] = line end
  f:close()
  math.randomseed(os.time() * 1000 + (tid or 0))
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


@dataclass
class Result:
    label: str
    interaction: str
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    connections: int
    generator: str
    foreign: float
    """Share of the machine's CPU used by other processes while measuring."""
    server_cpu_ms: float
    """CPU time of the server (all workers) per request."""
    audit_lag: float | None = None
    """AuditEvents per second the indexer fell behind while measuring (``audit_pending``
    grew by this much); ``None`` for code without the pending table."""
    split: str = ""
    """The load's connections per worker process while measuring, most first ("9/7");
    empty where ``ss`` could not tell."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# --- the server ---------------------------------------------------------------------------


def server_env(url: str, source: Path | None, rate_limit: int) -> dict[str, str]:
    """The environment of ``ehr serve`` and ``ehr token``: one database, one signing key."""
    env = dict(os.environ, EHR_DATABASE_URL=url, EHR_RATE_LIMIT_PER_MINUTE=str(rate_limit))
    if source is not None:
        env["PYTHONPATH"] = str(source)
    return env


def start_server(
    env: dict[str, str], port: int, workers: int, log: Path, source: Path | None
) -> subprocess.Popen:
    """``ehr serve`` with ``env``, from ``source`` (a source tree) or the installed package."""
    command = [sys.executable, "-m", "ehr.cli", "serve", "--host", HOST, "--port", str(port)]
    command += ["--workers", str(workers)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command,
            env=env,
            cwd=source or REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"ehr serve exited with {server.returncode}; see {log}")
        try:
            if httpx.get(f"http://{HOST}:{port}/fhir/metadata", timeout=2).status_code == 200:
                time.sleep(1)  # let the second worker finish starting too
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_server(server)
    raise SystemExit(f"ehr serve did not answer /fhir/metadata within 180 s; see {log}")


def mint_token(env: dict[str, str], source: Path | None, role: str, lifetime: int) -> str:
    """An access token from ``ehr token`` (signed with the key the server checks against)."""
    command = [sys.executable, "-m", "ehr.cli", "token", "--role", role]
    command += ["--lifetime", str(lifetime)]
    done = subprocess.run(
        command, env=env, cwd=source or REPO, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"ehr token failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout.strip()


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def worker_pids(server: subprocess.Popen) -> list[int]:
    """The uvicorn worker processes (spawned children of the ``ehr serve`` process)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == server.pid and b"spawn_main" in cmdline:
            pids.append(int(entry.name))
    return sorted(pids)


# --- other load on the machine -------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds spent busy by all CPUs since boot (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICKS


def session_cpu_seconds(session: int) -> float:
    """CPU seconds used so far by the live processes of ``session`` (the server)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(stat[3]) == session:  # field 6 of stat: session id
            total += int(stat[11]) + int(stat[12])  # utime + stime
    return total / TICKS


def wait_quiet(max_seconds: float, threshold: float = 0.15) -> float:
    """Wait until the machine is idle (busy < ``threshold`` of all CPUs over 1 s), bounded."""
    cpus = os.cpu_count() or 1
    started = time.monotonic()
    while time.monotonic() - started < max_seconds:
        before = machine_busy_seconds()
        time.sleep(1)
        if (machine_busy_seconds() - before) / cpus < threshold:
            break
    return time.monotonic() - started


def connection_split(port: int) -> str:
    """How the established connections to ``port`` are spread over the server's processes,
    most first ("9/7"), from ``ss`` (iproute2); empty without it. Each connection stays with
    the worker that accepted it, so the split explains much of the spread between runs
    (docs/benchmarks.md): with uvicorn's one shared socket (before session 8) 16/0 was
    common; with a socket per worker the kernel spreads them by address hash."""
    if shutil.which("ss") is None:
        return ""
    filter_ = f"( sport = :{port} )"
    command = ["ss", "-Htnp", "state", "established", filter_]
    done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    counts = Counter(re.findall(r"pid=(\d+)", done.stdout))
    return "/".join(str(n) for n in sorted(counts.values(), reverse=True))


class SplitSample:
    """``connection_split`` taken once, a few seconds into a measured load."""

    def __init__(self, port: int, after_s: float) -> None:
        self.split = ""
        self._timer = threading.Timer(after_s, self._take, args=(port,))

    def _take(self, port: int) -> None:
        self.split = connection_split(port)

    def __enter__(self) -> SplitSample:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


class ForeignLoad:
    """The share of the machine's CPUs used by anything but the server and the load generator."""

    def __init__(self, server: subprocess.Popen) -> None:
        self.server = server

    def __enter__(self) -> ForeignLoad:
        self.start = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._sample()
        elapsed = end[0] - self.start[0]
        foreign = sum(e - s for e, s in zip(end[1:], self.start[1:], strict=True))
        self.share = max(0.0, foreign / elapsed / (os.cpu_count() or 1)) if elapsed else 0.0
        self.server_cpu = self.start[2] - end[2]

    def _sample(self) -> tuple[float, float, float, float]:
        times = os.times()
        server = session_cpu_seconds(self.server.pid)
        client = times.children_user + times.children_system + times.user + times.system
        return (time.monotonic(), machine_busy_seconds(), -server, -client)


# --- requests -----------------------------------------------------------------------------


def read_ids(path: Path) -> list[tuple[str, str]]:
    rows = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            res_id, cccd = line.rstrip("\n").split("\t")
            rows.append((res_id, cccd))
    if not rows:
        raise SystemExit(f"{path} holds no ids")
    return rows


def request_paths(ids: list[tuple[str, str]]) -> dict[str, list[str]]:
    return {
        "read": [f"/fhir/Patient/{res_id}" for res_id, _ in ids],
        "search": [
            f"/fhir/Patient?identifier={quote(f'{CCCD_SYSTEM}|{cccd}', safe='')}" for _, cccd in ids
        ],
    }


def check_sample(
    base: str, ids: list[tuple[str, str]], paths: dict[str, list[str]], headers: dict[str, str]
) -> None:
    """A random sample must read with 200 and be found by its CCCD, with nothing else but
    the golden person it is linked to (which carries the same CCCD)."""
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        for index in random.Random(1).sample(range(len(ids)), min(20, len(ids))):
            res_id, cccd = ids[index]
            read = client.get(paths["read"][index])
            if read.status_code != 200 or read.json()["id"] != res_id:
                raise SystemExit(
                    f"read of Patient/{res_id} gave {read.status_code}: {read.text[:300]}"
                )
            response = client.get(paths["search"][index])
            if response.status_code != 200:
                raise SystemExit(
                    f"search for {cccd} gave {response.status_code}: {response.text[:300]}"
                )
            bundle = response.json()
            found = [e["resource"] for e in bundle.get("entry", [])]
            others = [r for r in found if r["id"] != res_id]
            linked = [r for r in others if _is_golden_of(r, res_id)]
            if len(found) - len(others) != 1 or linked != others or len(others) > 1:
                names = [r["id"] for r in found]
                raise SystemExit(
                    f"identifier {cccd} found {names}, expected {res_id} and its golden person"
                )


def _is_golden_of(resource: dict, patient_id: str) -> bool:
    """``resource`` is a golden person record (``ehr.mpi.golden``) uniting ``patient_id``."""
    tags = (resource.get("meta") or {}).get("tag") or []
    links = [(link.get("other") or {}).get("reference") for link in resource.get("link") or []]
    return any(tag.get("code") == "golden" for tag in tags) and f"Patient/{patient_id}" in links


# --- load generators ----------------------------------------------------------------------


def run_wrk(
    base: str,
    paths_file: Path,
    script: Path,
    seconds: int,
    connections: int,
    threads: int,
    headers: dict[str, str],
) -> dict:
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command += ["--timeout", "10s", "-s", str(script), base, "--", str(paths_file)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise SystemExit(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")


def _httpx_process(  # type: ignore[no-untyped-def]
    base: str, paths: list[str], seconds: float, tasks: int, headers: dict[str, str], out
) -> None:
    async def client_loop(client: httpx.AsyncClient, deadline: float, latencies: list, bad: list):
        rng = random.Random()
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                response = await client.get(rng.choice(paths))
                ok = 200 <= response.status_code < 400
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started)
            if not ok:
                bad.append(1)

    async def main() -> tuple[list[float], int]:
        latencies: list[float] = []
        bad: list[int] = []
        limits = httpx.Limits(max_connections=tasks, max_keepalive_connections=tasks)
        async with httpx.AsyncClient(
            base_url=base, headers=headers, limits=limits, timeout=10
        ) as client:
            deadline = time.monotonic() + seconds
            await asyncio.gather(
                *(client_loop(client, deadline, latencies, bad) for _ in range(tasks))
            )
        return latencies, len(bad)

    out.put(asyncio.run(main()))


def run_httpx(
    base: str,
    paths: list[str],
    seconds: int,
    connections: int,
    processes: int,
    headers: dict[str, str],
) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    per = max(1, connections // processes)
    started = time.monotonic()
    procs = [
        context.Process(target=_httpx_process, args=(base, paths, seconds, per, headers, queue))
        for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=seconds + 60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    elapsed = time.monotonic() - started
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(bad for _, bad in results)

    def pct(p: float) -> int:
        return int(latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1e6)

    return {
        "requests": len(latencies),
        "duration_us": int(min(elapsed, seconds + 1) * 1e6),
        "errors": 0,
        "non_2xx": errors,
        "p50_us": pct(50) if latencies else 0,
        "p99_us": pct(99) if latencies else 0,
    }


# --- profiling ----------------------------------------------------------------------------


IDLE_MARKERS = ("Queue.get (queue.py:", "epoll_wait", "epoll_pwait")
"""A stack holding one of these is an idle thread (thread pool waiting for work, loop polling):
py-spy's own idle detection does not work on every kernel, so such stacks are dropped."""


def profile_top(raws: list[Path], top: int) -> str:
    """Cumulative and self share of busy samples per function, from py-spy ``--format raw``."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    package: Counter[str] = Counter()
    total = idle = 0
    lines = [
        line
        for raw in raws
        for line in raw.read_text(encoding="utf-8", errors="replace").splitlines()
    ]
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        if any(marker in stack for marker in IDLE_MARKERS):
            idle += count
            continue
        frames = [_function(frame) for frame in stack.split(";")]
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
        package[_package(frames[-1])] += count
    if not total:
        return "(no samples)"
    lines = [f"{total} busy samples of all workers and threads ({idle} idle ones dropped)", ""]
    lines.append("cumulative  self  function")
    for name, count in inclusive.most_common(top):
        lines.append(f"{100 * count / total:9.1f}% {100 * own[name] / total:5.1f}%  {name}")
    lines += ["", "self      function"]
    for name, count in own.most_common(top // 2):
        lines.append(f"{100 * count / total:5.1f}%    {name}")
    lines += ["", "self      package of the innermost frame"]
    for name, count in package.most_common():
        lines.append(f"{100 * count / total:5.1f}%    {name}")
    return "\n".join(lines)


def _package(function: str) -> str:
    """``do_execute (sqlalchemy/engine/default.py)`` -> ``sqlalchemy``."""
    where = function.partition(" (")[2].rstrip(")")
    if function.startswith("Runner.run (asyncio/"):
        return "event loop in C (uvloop, httptools; I/O)"
    if "/" not in where:
        return where or function
    return where.split("/", 1)[0]


def _function(frame: str) -> str:
    """``handle (ehr/api/fhir_routes.py:42)`` -> ``handle (ehr/api/fhir_routes.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
    where = where.replace(str(REPO) + "/", "")
    return f"{name} ({where})" if where else name


def profile_run(  # type: ignore[no-untyped-def]
    server: subprocess.Popen, load, seconds: int, out: Path, *, gil: bool = False
) -> str:
    """Profile every worker with py-spy while ``load`` runs; the summary of all of them.

    All workers, because clients keep their connections and the kernel hands each new
    connection to whichever worker accepts first: one worker may serve most of them.
    ``gil``: only samples of threads holding the interpreter lock, i.e. Python's own CPU
    (a thread waiting on the database in C, the event loop in ``epoll``, are left out).
    """
    pyspy = shutil.which("py-spy") or str(REPO / ".venv/bin/py-spy")
    pids = worker_pids(server)
    if not pids or not Path(pyspy).exists():
        return "(py-spy or the worker processes not found: no profile)"
    spies = []
    for pid in pids:
        raw = out.with_suffix(f".{pid}.raw")
        command = [pyspy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate"]
        command += ["100", "--nonblocking", "--format", "raw", "--output", str(raw)]
        command += ["--gil"] if gil else []
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        spies.append((spy, raw))
    load(seconds)
    raws = []
    for spy, raw in spies:
        _, err = spy.communicate(timeout=seconds + 60)
        if spy.returncode != 0 or not raw.exists():
            return f"(py-spy failed: {err.decode(errors='replace').strip()[-300:]})"
        raws.append(raw)
    return profile_top(raws, 30)


# --- main ---------------------------------------------------------------------------------


def bench_one(
    label: str, url: str, ids_file: Path, args: argparse.Namespace, work: Path
) -> list[Result]:
    ids = read_ids(ids_file)
    paths = request_paths(ids)
    base = f"http://{HOST}:{args.port}"
    files = {}
    for name, lines in paths.items():
        files[name] = work / f"{label}-{name}.paths"
        files[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    script = work / "random_path.lua"
    script.write_text(WRK_SCRIPT + WRK_DONE, encoding="utf-8")
    use_wrk = args.generator == "wrk" or (args.generator == "auto" and shutil.which("wrk"))
    generator = "wrk" if use_wrk else "httpx"
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    env = server_env(url, args.source, args.rate_limit)

    def load(name: str, seconds: int) -> dict:
        if use_wrk:
            return run_wrk(
                base, files[name], script, seconds, args.connections, args.threads, headers
            )
        return run_httpx(base, paths[name], seconds, args.connections, args.processes, headers)

    log = work / f"{label}-server.log"
    print(f"[{label}] starting ehr serve --workers {args.workers} on {url}", file=sys.stderr)
    server = start_server(env, args.port, args.workers, log, args.source)
    results = []
    try:
        if args.token_role != "none" and "authorization" not in {k.lower() for k in headers}:
            token = mint_token(env, args.source, args.token_role, args.token_lifetime)
            headers["Authorization"] = f"Bearer {token}"
        check_sample(base, ids, paths, headers)
        for name in args.interactions:
            waited = wait_quiet(args.quiet_wait)
            print(f"[{label}] {name}: waited {waited:.0f} s for a quiet machine; "
                  f"warm-up {args.warmup} s", file=sys.stderr)  # fmt: skip
            load(name, args.warmup)
            print(f"[{label}] {name}: measuring {args.duration} s", file=sys.stderr)
            pending_before = pending_audit(url)
            with ForeignLoad(server) as foreign, SplitSample(args.port, 3) as split:
                raw = load(name, args.duration)
            pending_after = pending_audit(url)
            seconds = raw["duration_us"] / 1e6
            lag = (
                (pending_after - pending_before) / seconds
                if pending_before is not None and pending_after is not None
                else None
            )
            result = Result(
                label=label,
                interaction=name,
                requests=raw["requests"],
                seconds=raw["duration_us"] / 1e6,
                errors=raw["errors"] + raw["non_2xx"],
                p50_ms=raw["p50_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                connections=args.connections,
                generator=generator,
                foreign=foreign.share,
                server_cpu_ms=1000 * foreign.server_cpu / max(1, raw["requests"]),
                audit_lag=lag,
                split=split.split,
            )
            print(
                f"[{label}] {name}: {result.rps:,.0f}/s p50 {result.p50_ms:.2f} ms "
                f"p99 {result.p99_ms:.2f} ms errors {result.errors} "
                f"server CPU {result.server_cpu_ms:.2f} ms/request "
                f"other load {100 * result.foreign:.0f}%",
                file=sys.stderr,
            )
            results.append(result)
        if args.profile_dir:
            args.profile_dir.mkdir(parents=True, exist_ok=True)
            for name in args.interactions:
                out = args.profile_dir / f"{label}-{name}.raw"
                print(f"[{label}] {name}: profiling the workers {args.profile_seconds} s",
                      file=sys.stderr)  # fmt: skip
                report = profile_run(
                    server,
                    lambda s, n=name: load(n, s),
                    args.profile_seconds,
                    out,
                    gil=args.profile_gil,
                )
                (args.profile_dir / f"{label}-{name}.txt").write_text(report + "\n")
                print(f"\n### profile: {label}, {name}\n\n```\n{report}\n```\n")
    finally:
        stop_server(server)
    return results


def pending_audit(url: str) -> int | None:
    """How many AuditEvents wait to be indexed (``ehr.audit.pending.backlog``), if the
    schema has that table."""
    from sqlalchemy.exc import DBAPIError

    from ehr.audit.pending import backlog
    from ehr.db.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return backlog(connection)
    except DBAPIError:
        return None
    finally:
        engine.dispose()


def markdown(results: list[Result]) -> str:
    lines = [
        "| Database | Interaction | Requests/s | p50 (ms) | p99 (ms) | Errors "
        "| Server CPU/request (ms) | Other load | Audit indexing behind (events/s) "
        "| Connections per worker | Target | Met |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        rps_target, p99_target = TARGETS[r.interaction]
        met = r.rps >= rps_target and r.p99_ms < p99_target and r.errors == 0
        lines.append(
            f"| {r.label} | {LABELS[r.interaction]} | {r.rps:,.0f} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {r.errors} | {r.server_cpu_ms:.2f} | {100 * r.foreign:.0f}% | "
            f"{'n/a' if r.audit_lag is None else f'{r.audit_lag:,.0f}'} | {r.split or 'n/a'} | "
            f">= {rps_target:,.0f}/s, p99 < {p99_target:.0f} ms "
            f"| {'yes' if met else 'no'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--run",
        nargs=3,
        action="append",
        required=True,
        metavar=("LABEL", "DATABASE_URL", "IDS_FILE"),
    )
    parser.add_argument("--interactions", nargs="+", default=["read", "search"])
    parser.add_argument("--duration", type=int, default=20, help="measured seconds")
    parser.add_argument("--warmup", type=int, default=5, help="discarded seconds before")
    parser.add_argument("--connections", type=int, default=16, help="concurrent clients")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--processes", type=int, default=2, help="httpx generator processes")
    parser.add_argument("--generator", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument(
        "--quiet-wait", type=float, default=120, help="most seconds to wait for an idle machine"
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--source", type=Path, help="serve from this source tree (e.g. a `git archive` of a commit)"
    )
    parser.add_argument(
        "--header", action="append", default=[], help="'Name: value' sent with every request"
    )
    parser.add_argument(
        "--token-role",
        default="admin",
        help="role of the token minted with `ehr token` for the requests ('none': no token); "
        "ignored when --header gives an Authorization",
    )
    parser.add_argument(
        "--token-lifetime", type=int, default=24 * 3600, help="seconds the minted token lives"
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=10**9,
        help="EHR_RATE_LIMIT_PER_MINUTE of the server (all requests are one client)",
    )
    parser.add_argument("--profile-dir", type=Path, help="also profile the workers with py-spy")
    parser.add_argument("--profile-seconds", type=int, default=15)
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="profile only threads holding the GIL (Python's own CPU, not its waits)",
    )
    args = parser.parse_args(argv)
    if min(args.duration, args.warmup, args.profile_seconds) < 1 or args.duration > 600:
        parser.error("durations must be between 1 and 600 s")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="ehr-bench-") as tmp:
        for label, url, ids_file in args.run:
            results += bench_one(label, url, Path(ids_file), args, Path(tmp))
    generator = results[0].generator if results else "-"
    print(
        f"\n{args.workers} uvicorn workers, {args.connections} connections ({generator}), "
        f"{args.warmup} s warm-up, {args.duration} s measured\n"
    )
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
