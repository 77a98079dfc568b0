"""``ehr serve --workers N``: each worker listens on a socket of its own (``SO_REUSEPORT``),
so that the kernel spreads connections over the workers (``ehr.commands.worker_sockets``)."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from app_fixtures import free_port, wait_for

from ehr.commands.worker_sockets import port_socket


def test_the_parents_socket_arrives_in_a_worker_as_a_new_socket_on_the_same_port() -> None:
    parent = port_socket("127.0.0.1", 0)
    try:
        worker = pickle.loads(pickle.dumps(parent))
        try:
            assert worker.fileno() != parent.fileno()
            assert worker.getsockname() == parent.getsockname()
            assert worker.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            worker.listen(8)
            with socket.create_connection(parent.getsockname(), timeout=5):
                accepted, _ = worker.accept()  # the worker's socket is the one listening
                accepted.close()
            assert parent.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0
        finally:
            worker.close()
    finally:
        parent.close()


def test_a_taken_port_is_refused_at_once() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        try:
            port_socket("127.0.0.1", taken.getsockname()[1])
        except OSError:
            return
        raise AssertionError("a port another socket listens on (without SO_REUSEPORT) was bound")


def test_two_workers_listen_on_two_sockets_and_serve(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "EHR_DATABASE_URL": f"sqlite:///{tmp_path / 'ehr.db'}",
        "EHR_DATA_DIR": str(tmp_path / "data"),
        "EHR_AUDIT_INDEX_INTERVAL_S": "0",
    }
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ehr.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}/fhir"
        wait_for(lambda: _listening(port) == 2, seconds=60)
        # Connections opened at once, each used: every one is answered, by either worker.
        clients = [httpx.Client(base_url=base) for _ in range(16)]
        try:
            assert all(c.get("/metadata").status_code == 200 for c in clients)
        finally:
            for client in clients:
                client.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert _listening(port) == 0


def _listening(port: int) -> int:
    """How many sockets listen on ``port`` (``/proc/net/tcp``; state ``0A`` is LISTEN)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        if int(local.rsplit(":", 1)[1], 16) == port and state == "0A":
            count += 1
    return count


def test_workers_on_a_taken_port_exit_with_uvicorns_startup_failure(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "EHR_DATABASE_URL": f"sqlite:///{tmp_path / 'ehr.db'}",
        "EHR_DATA_DIR": str(tmp_path / "data"),
        "EHR_AUDIT_INDEX_INTERVAL_S": "0",
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "ehr.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 3  # uvicorn's STARTUP_FAILURE, as with one worker
    assert "Address already in use" in done.stderr
    assert "Traceback" not in done.stderr
