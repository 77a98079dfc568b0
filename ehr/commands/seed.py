"""``ehr seed [--demo]``: load the conformance resources of ``fhir_profiles/`` (profiles,
NamingSystems, terminology, OperationDefinitions), the province table and the facility
registry, idempotently.

Running it again writes nothing new; after a change of ``seed/`` or of the generator it
writes exactly what changed. ``--province`` and ``--scale`` seed part of the registry, for
development and tests.
"""

from __future__ import annotations

import argparse
import sys

DEMO_NOTICE = (
    "--demo: the synthetic demo population (persons and their records) arrives with a later "
    "issue; only the province table and the facility registry were loaded."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "seed", help="load the province table and the facility registry (idempotent)"
    )
    parser.add_argument(
        "--demo", action="store_true", help="also load a synthetic population (not yet built)"
    )
    parser.add_argument(
        "--province",
        action="append",
        metavar="CODE",
        help="only this 2025 province code (repeatable); default: all 34",
    )
    parser.add_argument(
        "--scale",
        type=_scale,
        default=1.0,
        help="fraction of the national facility targets to generate (default 1)",
    )
    parser.set_defaults(handler=run)


def _scale(value: str) -> float:
    scale = float(value)
    if not 0 < scale <= 1.5:
        raise argparse.ArgumentTypeError("the scale must be in (0, 1.5]")
    return scale


def run(args: argparse.Namespace) -> int:
    from ehr.api.app import build_services
    from ehr.config import get_settings
    from ehr.registry.seeding import seed_registry

    services = build_services(get_settings())
    try:
        report = seed_registry(
            services,
            province_codes=args.province,
            scale=args.scale,
            progress=_progress if sys.stderr.isatty() else None,
        )
    except ValueError as error:
        print(f"ehr seed: {error}", file=sys.stderr)
        return 2
    finally:
        services.engine.dispose()
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for line in report.lines():
        print(line)
    print(
        f"{report.total} resources, {report.written} written, in {report.seconds:.1f} s "
        f"({services.settings.resolved_database_url().split(':', 1)[0]})"
    )
    if args.demo:
        print(DEMO_NOTICE, file=sys.stderr)
    return 0


def _progress(done: int, total: int) -> None:
    print(f"\rseeding {done}/{total}", end="", file=sys.stderr, flush=True)
