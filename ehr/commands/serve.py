"""``ehr serve``: run the API and web pages under uvicorn."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the FHIR API and web pages")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ehr.api.app import build_services
    from ehr.config import get_settings

    # Migrate (and create keys) once here, so that several workers do not race to do it.
    build_services(get_settings()).engine.dispose()
    uvicorn.run(
        "ehr.api.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        access_log=False,  # URLs carry national IDs in search parameters: never log them.
    )
    return 0
