"""The module uvicorn serves (``ehr.api.main``) is ready before its first request: every
served type's model class is imported at startup, not by whichever request asks first
(that request waited a second and more, and the batch of reads it was in with it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
before = {m for m in sys.modules if m.startswith("fhir.resources.R4B.")}
import ehr.api.main as served
after = {m for m in sys.modules if m.startswith("fhir.resources.R4B.")}
registry = served.app.state.services.registry
print(json.dumps({
    "served": registry._served is not None,
    "types": len(registry.resource_types()),
    "imported": sorted(after - before),
}))
"""


def test_the_served_module_imports_every_model_before_its_first_request(tmp_path: Path):
    env = dict(
        os.environ,
        EHR_DATABASE_URL=f"sqlite:///{tmp_path / 'served.db'}",
        EHR_DATA_DIR=str(tmp_path / "data"),
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["served"], "resource types were left to the first request"
    assert found["types"] > 100
    for module in ("encounter", "observation", "immunization", "auditevent"):
        assert f"fhir.resources.R4B.{module}" in found["imported"]
