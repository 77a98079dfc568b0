"""The ``ehr`` command line; each subcommand lives in its own module of ``ehr.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ehr.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ehr", description="Vietnam national EHR exchange")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"ehr.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
