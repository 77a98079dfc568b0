"""Benchmark ``Patient/$match`` against a large person index (issue 4: 1,000,000 persons).

Two steps:

``build``
    Fills a database with N persons, each one facility Patient without a national ID
    (the case the probabilistic matcher exists for) linked to its own golden Patient, and
    writes probe bodies for ``measure``. Loading a million Patients through the write path
    would take hours here (about 70/s with the person index, see ``load_patients.py``), so
    the rows are bulk-inserted directly: ``resource`` rows for the facility and golden
    Patients, ``person_link`` rows, the ``match_block`` keys and ``match_features``, each
    computed by the service's own code (``ehr.mpi.features``, ``ehr.mpi.blocking``,
    ``ehr.mpi.golden.golden_patient``). No search-index or history rows are written: ``$match``
    reads none of them (it finds candidates through ``match_block`` and returns golden
    Patients by ``_id``, which is the ``resource`` table itself).

    Probes: 70% are copies of indexed persons with the errors facilities make (diacritics
    dropped, given names swapped, a typo, day and month swapped, a changed phone), 30% are
    people who are not in the index, so both the "found" and the "nobody" paths are timed.

``measure``
    In-process: each probe through ``ehr.interactions.router.dispatch`` in its own unit of
    work as an admin would send it (policy check, matching, audit written, commit), one at a
    time: the latency distribution and CPU per match without HTTP. Then over HTTP (unless
    ``--no-http``): ``ehr serve --workers 2`` and ``wrk`` POSTing random probes, as
    ``read_search.py`` does for reads (same server, token and CPU accounting code).

    .venv/bin/python scripts/bench/match_index.py build --count 1000000 \\
        --database-url sqlite:////tmp/ehr_match.db --probes /tmp/match-probes.ndjson
    .venv/bin/python scripts/bench/match_index.py measure \\
        --database-url sqlite:////tmp/ehr_match.db --probes /tmp/match-probes.ndjson
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import unicodedata
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))

import read_search
from load_patients import PatientFactory, analyze_url

from ehr.access.policy import AccessPolicy
from ehr.api.app import build_services
from ehr.config import Settings
from ehr.context import RequestContext
from ehr.db.engine import make_engine
from ehr.db.migrate import upgrade
from ehr.db.schema import MatchBlock, MatchFeatures, PersonLink, Resource
from ehr.db.unit_of_work import unit_of_work
from ehr.interactions.messages import FhirRequest
from ehr.interactions.router import dispatch
from ehr.mpi.blocking import blocking_keys
from ehr.mpi.candidates import KEY_LENGTH
from ehr.mpi.features import default_province_index, match_record, record_to_json
from ehr.mpi.golden import golden_patient
from ehr.mpi.rules import default_rules

BASE_URL = "http://127.0.0.1:8000/fhir"
BATCH = 5_000
PROBE_SHARE = 0.002
"""Share of the indexed persons kept as the origin of a "found" probe."""

WRK_POST_SCRIPT = r"""
-- Each request POSTs a random line of the bodies file (args[1]) to Patient/$match.
local bodies = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do bodies[#bodies + 1] = line end
  f:close()
  math.randomseed(os.time() * 1000 + (tid or 0))
  wrk.headers["Content-Type"] = "application/fhir+json"
end

function request()
  return wrk.format("POST", "/fhir/Patient/$match", nil, bodies[math.random(#bodies)])
end
"""


# --- build --------------------------------------------------------------------------------


def _iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1e6, UTC).isoformat(timespec="microseconds")


def _stored(body: dict[str, Any], micros: int) -> dict[str, Any]:
    body["meta"] = {**(body.get("meta") or {}), "versionId": "1", "lastUpdated": _iso(micros)}
    return body


def build(settings: Settings, count: int, seed: int, probes: Path) -> None:
    upgrade(settings.resolved_database_url())
    engine = make_engine(settings.resolved_database_url())
    rules = default_rules(settings.profiles_dir)
    provinces = default_province_index(settings.seed_dir)
    factory = PatientFactory(seed)
    rng = random.Random(seed + 1)
    resource = Resource.__table__  # type: ignore[attr-defined]
    link = PersonLink.__table__  # type: ignore[attr-defined]
    block = MatchBlock.__table__  # type: ignore[attr-defined]
    features = MatchFeatures.__table__  # type: ignore[attr-defined]
    origins: list[dict[str, Any]] = []
    started = time.perf_counter()
    done = 0
    keys_total = 0
    while done < count:
        size = min(BATCH, count - done)
        resources, links, blocks, feature_rows = [], [], [], []
        now = int(time.time() * 1e6)
        for _ in range(size):
            body = _without_national_id(factory.patient())
            patient_id, person_id = str(uuid.uuid4()), str(uuid.uuid4())
            body = _stored({"resourceType": "Patient", "id": patient_id, **body}, now)
            golden = _stored(golden_patient(person_id, [body], settings.cccd_system), now)
            for res_id, content in ((patient_id, body), (person_id, golden)):
                resources.append(
                    {
                        "res_type": "Patient",
                        "res_id": res_id,
                        "version": 1,
                        "last_updated": now,
                        "deleted": False,
                        "content": orjson.dumps(content),
                        "facility": None,
                    }
                )
            links.append(
                {
                    "patient_id": patient_id,
                    "person_id": person_id,
                    "link_type": "AUTO",
                    "grade": "certain",
                    "score": None,
                    "updated": now,
                }
            )
            record = match_record(
                body, provinces=provinces, national_id_system=settings.cccd_system
            )
            keys = {k for k in blocking_keys(record, rules) if len(k) <= KEY_LENGTH}
            keys_total += len(keys)
            blocks.extend({"key": key, "patient_id": patient_id} for key in keys)
            feature_rows.append({"patient_id": patient_id, "features": record_to_json(record)})
            if rng.random() < PROBE_SHARE:
                origins.append((body, person_id))
        with engine.begin() as connection:
            connection.execute(insert(resource), resources)
            connection.execute(insert(link), links)
            connection.execute(insert(block), blocks)
            connection.execute(insert(features), feature_rows)
        done += size
        if done % (BATCH * 20) == 0 or done == count:
            elapsed = time.perf_counter() - started
            print(f"{done:>9,} persons {elapsed:7.1f} s", file=sys.stderr, flush=True)
    engine.dispose()
    analyze_url(settings.resolved_database_url())
    lines = [(_probe(rng, origin), person) for origin, person in origins]
    unseen = PatientFactory(seed + 2)
    for _ in range(len(origins) * 3 // 7):
        lines.append((_without_national_id(unseen.patient()), ""))
    rng.shuffle(lines)
    with probes.open("w", encoding="utf-8") as out, _expected(probes).open("w") as expected:
        for patient, person in lines:
            parameters = {
                "resourceType": "Parameters",
                "parameter": [{"name": "resource", "resource": patient}],
            }
            out.write(json.dumps(parameters, ensure_ascii=False) + "\n")
            expected.write(person + "\n")
    print(
        f"built {count:,} persons ({keys_total / count:.1f} blocking keys each) in "
        f"{time.perf_counter() - started:.0f} s; {len(lines)} probes in {probes}"
    )


def _without_national_id(patient: dict[str, Any]) -> dict[str, Any]:
    """A Patient as the matcher's case needs it: no national ID, and the province name in
    ``address.state``. ``load_patients.py`` writes the province name in ``city`` and one of
    about five districts per province in ``district``, either of which the matcher would
    read as the commune: strangers of one province would then share a "commune" (the
    matcher's u for that is about 1 in 10,000) and score far higher than real ones do."""
    patient.pop("identifier")
    for address in patient.get("address") or []:
        address["state"] = address.pop("city")
        address.pop("district", None)
    return {"resourceType": "Patient", **{k: v for k, v in patient.items() if k != "resourceType"}}


def _expected(probes: Path) -> Path:
    """Beside the probes: the person each probe was made from (empty: a stranger)."""
    return probes.with_name(probes.name + ".expected")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def _probe(rng: random.Random, origin: dict[str, Any]) -> dict[str, Any]:
    """A facility's copy of ``origin`` with one or two of the errors facilities make."""
    patient = json.loads(json.dumps(origin))
    for key in ("id", "meta"):
        patient.pop(key, None)
    name = patient["name"][0]
    for _ in range(rng.choice((1, 1, 2))):
        error = rng.choice(("fold", "swap", "typo", "date", "phone"))
        if error == "fold":
            name["family"] = _fold(name["family"])
            name["given"] = [_fold(g) for g in name["given"]]
        elif error == "swap" and len(name["given"]) > 1:
            name["given"] = list(reversed(name["given"]))
        elif error == "typo":
            word = name["given"][-1]
            at = rng.randrange(len(word))
            name["given"][-1] = word[:at] + word[at + 1 :] if len(word) > 2 else word
        elif error == "date":
            year, month, day = patient["birthDate"].split("-")
            if int(day) <= 12:
                patient["birthDate"] = f"{year}-{day}-{month}"
        elif error == "phone":
            patient["telecom"][0]["value"] = "09" + "".join(rng.choices("0123456789", k=8))
    name["text"] = " ".join([name["family"], *name["given"]])
    return patient


# --- measure ------------------------------------------------------------------------------


def measure_in_process(
    settings: Settings, bodies: list[dict[str, Any]], expected: list[str]
) -> dict[str, float]:
    """Latency and CPU per match, and whether each probe found the person it came from."""
    services = build_services(settings)
    policy = AccessPolicy(None, services.compartment.person_types, settings.cccd_system)
    wall: list[float] = []
    cpu: list[float] = []
    found = top = strangers_matched = 0
    for body in bodies[:20]:  # warm caches (rules, province index, statements)
        _match(services, policy, body)
    for body, person in zip(bodies, expected, strict=True):
        w0, c0 = time.perf_counter(), time.process_time()
        entries = _match(services, policy, body)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
        ids = [entry["fullUrl"].rsplit("/", 1)[1] for entry in entries]
        grades = [entry["search"]["extension"][0]["valueCode"] for entry in entries]
        if person:
            found += person in ids
            top += bool(ids) and ids[0] == person
        else:
            strangers_matched += any(g in ("certain", "probable") for g in grades)
    services.engine.dispose()
    wall.sort()
    origins = sum(1 for person in expected if person)
    return {
        "matches": len(bodies),
        "found_share": found / max(1, origins),
        "top_share": top / max(1, origins),
        "strangers_matched": strangers_matched,
        "p50_ms": 1000 * statistics.median(wall),
        "p99_ms": 1000 * wall[int(0.99 * (len(wall) - 1))],
        "max_ms": 1000 * wall[-1],
        "cpu_ms": 1000 * statistics.fmean(cpu),
    }


def _match(services: Any, policy: AccessPolicy, body: dict[str, Any]) -> list[dict[str, Any]]:
    with unit_of_work(services.engine) as session:
        ctx = RequestContext(services, session, BASE_URL, policy)
        response = dispatch(ctx, FhirRequest("POST", "Patient/$match", body=body))
        ctx.finish()
    if response.status != 200:
        raise SystemExit(f"$match gave {response.status}: {response.body}")
    return response.body.get("entry") or []


def measure_http(
    settings: Settings, probes: Path, args: argparse.Namespace, work: Path
) -> read_search.Result:
    script = work / "match_post.lua"
    script.write_text(WRK_POST_SCRIPT + read_search.WRK_DONE, encoding="utf-8")
    url = settings.resolved_database_url()
    env = read_search.server_env(url, args.source, 10**9)
    log = work / "match-server.log"
    server = read_search.start_server(env, args.port, 2, log, args.source)
    base = f"http://{read_search.HOST}:{args.port}"
    try:
        token = read_search.mint_token(env, args.source, "admin", 86400)
        headers = {"Authorization": f"Bearer {token}"}
        read_search.run_wrk(base, probes, script, 5, args.connections, 1, headers)  # warm-up
        pending_before = read_search.pending_audit(url)
        with read_search.ForeignLoad(server) as foreign:
            raw = read_search.run_wrk(
                base, probes, script, args.duration, args.connections, 1, headers
            )
        pending_after = read_search.pending_audit(url)
    finally:
        read_search.stop_server(server)
    seconds = raw["duration_us"] / 1e6
    lag = None
    if pending_before is not None and pending_after is not None:
        lag = (pending_after - pending_before) / seconds
    return read_search.Result(
        label=url.split(":", 1)[0],
        interaction="$match",
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=raw["errors"] + raw["non_2xx"],
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        connections=args.connections,
        generator="wrk",
        foreign=foreign.share,
        server_cpu_ms=1000 * foreign.server_cpu / max(1, raw["requests"]),
        audit_lag=lag,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("build", "measure"))
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--probes", type=Path, required=True, help="Parameters bodies, NDJSON")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--limit", type=int, default=0, help="in-process: the first N probes")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="HTTP: serve from this source tree (e.g. a `git archive` of an earlier commit)",
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--work", type=Path, default=Path("/tmp/ehr-match-bench"))
    args = parser.parse_args(argv)
    settings = Settings(database_url=args.database_url)
    if args.step == "build":
        build(settings, args.count, args.seed, args.probes)
        return 0
    bodies = [json.loads(line) for line in args.probes.read_text(encoding="utf-8").splitlines()]
    expected = _expected(args.probes).read_text().splitlines()
    limit = args.limit or len(bodies)
    result = measure_in_process(settings, bodies[:limit], expected[:limit])
    print(
        f"in-process, one at a time: {result['matches']} matches; the person a probe came "
        f"from found {100 * result['found_share']:.1f}% (first {100 * result['top_share']:.1f}%), "
        f"strangers matched as certain/probable: {result['strangers_matched']}; "
        f"p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms, "
        f"CPU {result['cpu_ms']:.2f} ms per match"
    )
    if not args.no_http:
        args.work.mkdir(parents=True, exist_ok=True)
        http = measure_http(settings, args.probes, args, args.work)
        print(
            f"HTTP, 2 workers, {http.connections} connections: {http.rps:,.0f} matches/s, "
            f"p50 {http.p50_ms:.1f} ms, p99 {http.p99_ms:.1f} ms, errors {http.errors}, "
            f"server CPU {http.server_cpu_ms:.2f} ms/match, other load {100 * http.foreign:.0f}%, "
            "audit indexing behind by "
            f"{'n/a' if http.audit_lag is None else f'{http.audit_lag:,.0f}'} events/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
