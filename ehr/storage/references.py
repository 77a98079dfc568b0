"""Referential integrity: every local reference a stored resource makes must resolve.

A reference ``Type/id`` must name a resource that exists (and is not deleted) when the
unit of work ends; checking at the end, not per write, lets one transaction bundle create
resources that refer to each other in any order. References to other servers (absolute
URLs), contained resources (``#x``) and logical references (identifier only) are not
checked. A ``urn:uuid:``/``urn:oid:`` left over after bundle resolution can never resolve,
nor can any other relative reference (``Patient/``, ``/Patient/x``, ``Patient?name=x``
outside a transaction): all are 422.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import and_, or_, select
from sqlmodel import Session

from ehr.db.schema import Resource
from ehr.errors import Issue, Unprocessable

_R = Resource.__table__  # type: ignore[attr-defined]
LOCAL_REFERENCE = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
"""A URI with a scheme (``http:``, ``urn:``...): a reference this server does not resolve."""


def iter_references(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every ``(reference string, element path)`` inside a resource, contained ones excluded."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "contained":
                continue
            child = f"{path}.{key}" if path else key
            if key == "reference" and isinstance(item, str):
                yield item, path
            elif isinstance(item, dict | list):
                yield from iter_references(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_references(item, f"{path}[{index}]")


def rewrite_references(value: Any, mapping: dict[str, str]) -> Any:
    """``value`` with every ``reference`` found in ``mapping`` replaced (in place), and returned."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str) and item in mapping:
                value[key] = mapping[item]
            elif isinstance(item, dict | list):
                rewrite_references(item, mapping)
    elif isinstance(value, list):
        for item in value:
            rewrite_references(item, mapping)
    return value


def verify_references(
    session: Session,
    pending: Iterable[tuple[str, dict[str, Any]]],
    written: Mapping[tuple[str, str], bool] | None = None,
) -> None:
    """Raise ``Unprocessable`` naming each reference of ``pending`` that does not resolve.

    ``written``: what the unit of work itself stored (True) or deleted (False); only the
    other targets are looked up, in one statement per 200.
    """
    written = written or {}
    wanted: dict[tuple[str, str], list[str]] = {}
    issues: list[Issue] = []
    for res_type, body in pending:
        for reference, path in iter_references(body):
            where = f"{res_type}.{path}" if path else res_type
            if reference.startswith(("urn:uuid:", "urn:oid:")):
                issues.append(
                    Issue(
                        "error", "not-found", f"{where}: {reference} is not in the bundle", (where,)
                    )
                )
                continue
            match = LOCAL_REFERENCE.fullmatch(reference)
            if match:
                wanted.setdefault((match.group(1), match.group(2)), []).append(where)
            elif not reference.startswith("#") and not _ABSOLUTE.match(reference):
                issues.append(Issue("error", "value", _malformed(where, reference), (where,)))
    if wanted:
        found = {target for target in wanted if written.get(target)}
        unknown = [target for target in wanted if target not in written]
        if unknown:
            found |= _existing(session, unknown)
        for target, paths in wanted.items():
            if target not in found:
                issues.extend(
                    Issue(
                        "error", "not-found", f"{p}: {target[0]}/{target[1]} does not exist", (p,)
                    )
                    for p in paths
                )
    if issues:
        raise Unprocessable(issues[0].diagnostics, issues=issues[:50])


def _malformed(where: str, reference: str) -> str:
    """Why a relative reference that is not ``Type/id`` can never resolve."""
    if "?" in reference:
        return (
            f"{where}: conditional reference {reference[:200]!r} is only resolved in a "
            "transaction Bundle"
        )
    return f"{where}: {reference[:200]!r} is not a reference (Type/id, an absolute URL or #id)"


def _existing(session: Session, targets: list[tuple[str, str]]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for start in range(0, len(targets), 200):
        chunk = targets[start : start + 200]
        condition = or_(*(and_(_R.c.res_type == t, _R.c.res_id == i) for t, i in chunk))
        rows = session.execute(
            select(_R.c.res_type, _R.c.res_id).where(condition, _R.c.deleted.is_(False))
        )
        found.update((row.res_type, row.res_id) for row in rows)
    return found
