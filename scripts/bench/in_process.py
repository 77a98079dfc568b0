"""The service's ASGI application driven in process, for the benchmarks that measure its
CPU without HTTP or a load generator (``request_cpu.py``, ``audit_indexing.py``).

The application is built as ``ehr serve`` builds it, from the ``EHR_*`` environment the
caller sets first (database, audit indexer off, rate limit), and every request carries an
admin token it mints with the same keys (run with the loader's ``EHR_DATA_DIR``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def busy_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (``/proc/stat``): the whole machine's
    share, the database server's included."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class InProcessClient:
    """GETs sent straight to the application; the statuses of the answers counted."""

    def __init__(self) -> None:
        from ehr.api.app import create_app
        from ehr.auth.claims import DEFAULT_SCOPES
        from ehr.config import get_settings

        self.app = create_app(get_settings())
        token = self.app.state.services.auth.mint(
            subject="admin", role="admin", scopes=DEFAULT_SCOPES["admin"], lifetime_s=86400
        )
        self._headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())]
        self.statuses: dict[int, int] = {}
        """How many answers had each status."""

    async def get(self, path: str, query: bytes = b"") -> None:
        """``GET path?query``, as uvicorn would hand it over; its body is dropped."""
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "root_path": "",
            "headers": self._headers,
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 8000),
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                self.statuses[status] = self.statuses.get(status, 0) + 1

        await self.app(scope, receive, send)
