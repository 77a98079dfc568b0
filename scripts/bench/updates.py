"""What one update costs in process: a PUT that changes a stored Observation.

Every update (a facility correcting a result, a golden record rebuilt for a returning
person, the exchange relabelling a record after a merge) stores a new version, its history
row and its index and compartment rows anew. This times ``--updates`` such writes through
``ehr.storage.write.write_resource``, each in its own unit of work as a request would be
(``ctx.finish()`` included), over ``--resources`` Observations written first, round robin,
and prints the median and mean. No HTTP: the write path and the database alone.

    .venv/bin/python scripts/bench/updates.py --database-url sqlite:////tmp/updates.db
    .venv/bin/python scripts/bench/updates.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/updates

Use an empty database (or a new SQLite file): the Observations' ids are fixed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from ehr.access.policy import AccessPolicy
from ehr.api.app import build_services
from ehr.config import Settings
from ehr.context import RequestContext, Services
from ehr.db.unit_of_work import unit_of_work
from ehr.storage.write import write_resource

BASE_URL = "http://127.0.0.1:8000/fhir"


def observation(res_id: str, value: float) -> dict[str, Any]:
    """A heart rate (LOINC 8867-4) of ``value`` beats per minute."""
    return {
        "resourceType": "Observation",
        "id": res_id,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "effectiveDateTime": "2026-11-20T08:10:00+07:00",
        "valueQuantity": {
            "value": value,
            "unit": "/min",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
    }


def put(services: Services, policy: AccessPolicy, res_id: str, value: float) -> float:
    """Write one version in its own unit of work; the seconds it took."""
    started = time.perf_counter()
    with unit_of_work(services.engine) as session:
        ctx = RequestContext(services, session, BASE_URL, policy)
        body = observation(res_id, value)
        write_resource(ctx, method="PUT", res_type="Observation", res_id=res_id, body=body)
        ctx.finish()
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--resources", type=int, default=200)
    parser.add_argument("--updates", type=int, default=2000)
    args = parser.parse_args(argv)
    services = build_services(Settings(database_url=args.database_url))
    policy = AccessPolicy(None, services.compartment.person_types, services.settings.cccd_system)
    ids = [f"bench-obs-{index}" for index in range(args.resources)]
    for res_id in ids:
        put(services, policy, res_id, 60)
    # a new value every time: an update that changes nothing stores no version
    seconds = [put(services, policy, ids[n % len(ids)], 61 + n) for n in range(args.updates)]
    print(
        f"update: median {1000 * statistics.median(seconds):.2f} ms, "
        f"mean {1000 * statistics.mean(seconds):.2f} ms over {args.updates:,} updates"
    )
    services.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
