"""The ``ehr`` command line: ``ehr serve`` runs the API (more subcommands join as they land)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ehr", description="Vietnam national EHR exchange")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the FHIR API and web pages")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")

    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args.host, args.port, args.workers)
    parser.error(f"unknown command {args.command}")
    return 2


def _serve(host: str, port: int, workers: int) -> int:
    import uvicorn

    from ehr.api.app import build_services
    from ehr.config import get_settings

    # Migrate once here, so that several workers do not race to create the schema.
    build_services(get_settings()).engine.dispose()
    uvicorn.run(
        "ehr.api.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
