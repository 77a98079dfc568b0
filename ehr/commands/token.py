"""``ehr token``: print an access token signed with the service's key (a development tool).

For local use, demos and tests: whoever can read the key directory can mint any token, so
this is no more powerful than the file system already is. Facilities in production get
their tokens from ``POST /auth/token`` (SMART Backend Services), never from here.

    ehr token --role facility --facility 01001
    ehr token --role patient --cccd 001090012345
    ehr token --role admin --lifetime 3600
"""

from __future__ import annotations

import argparse
import sys

from ehr.auth.claims import DEFAULT_SCOPES
from ehr.auth.principal import ROLES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "token",
        help="print an access token signed with the service key (development tool)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--role", required=True, choices=ROLES)
    parser.add_argument("--facility", help="facility code (required for --role facility)")
    parser.add_argument("--cccd", help="12-digit national ID (role patient)")
    parser.add_argument("--patient", help="a Patient id (role patient, instead of --cccd)")
    parser.add_argument("--subject", help="sub claim (default: facility code, cccd or role)")
    parser.add_argument("--scope", help="space-separated SMART scopes (default: the role's)")
    parser.add_argument("--break-glass", dest="break_glass", help="emergency access reason")
    parser.add_argument(
        "--lifetime", type=int, default=None, help="seconds (default EHR_ACCESS_TOKEN_LIFETIME_S)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ehr.auth.service import AuthService
    from ehr.config import get_settings

    service = AuthService.from_settings(get_settings())
    subject = args.subject or args.facility or args.cccd or args.patient or args.role
    try:
        token = service.mint(
            subject=subject,
            role=args.role,
            scopes=DEFAULT_SCOPES[args.role] if args.scope is None else args.scope,
            facility=args.facility,
            cccd=args.cccd,
            patient=args.patient,
            client_id=args.facility if args.role == "facility" else None,
            break_glass=args.break_glass,
            lifetime_s=args.lifetime,
        )
    except ValueError as exc:
        print(f"ehr token: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0
