"""``ehr serve``: run the API and web pages under uvicorn."""

from __future__ import annotations

import argparse
import logging
from typing import Any

APP = "ehr.api.main:app"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the FHIR API and web pages")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import multiprocessing

    import uvicorn

    from ehr.api.app import build_services
    from ehr.audit.indexer import run_indexer_process
    from ehr.config import get_settings

    # Migrate (and create keys) once here, so that several workers do not race to do it.
    settings = get_settings()
    build_services(settings).engine.dispose()
    indexer = None
    if settings.audit_index_interval_s > 0:
        spawn = multiprocessing.get_context("spawn")
        indexer = spawn.Process(target=run_indexer_process, name="audit-indexer", daemon=True)
        indexer.start()
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": "info",
        "access_log": False,  # URLs carry national IDs in search parameters: never log them.
    }
    try:
        if args.workers > 1:
            _run_workers(args.workers, options)
        else:
            uvicorn.run(APP, **options)
    finally:
        if indexer is not None:
            indexer.terminate()
            indexer.join(timeout=10)
    return 0


def _run_workers(workers: int, options: dict[str, Any]) -> None:
    """uvicorn's worker processes and supervisor, each worker with a listening socket of
    its own (``ehr.commands.worker_sockets``) instead of one shared."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    from ehr.commands.worker_sockets import port_socket

    config = uvicorn.Config(APP, workers=workers, **options)
    log = logging.getLogger("uvicorn.error")
    try:
        sock = port_socket(options["host"], options["port"])
    except OSError as exc:  # the port is taken: say so, as uvicorn does for one worker
        log.error(exc)
        raise SystemExit(STARTUP_FAILURE) from exc
    log.info(
        "Uvicorn running on http://%s:%d, %d workers with a socket each",
        options["host"],
        sock.getsockname()[1],
        workers,
    )
    Multiprocess(config, sockets=[sock]).run()
