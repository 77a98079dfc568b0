"""Blocking keys: which already-known records are worth scoring against a new one.

Scoring every pair of 100 million people is impossible, so records are indexed under a few
cheap keys and only records sharing at least one key are scored (the "candidate search" of
HAPI's ``mdm-rules.json``). The keys are built from parts named in the rules
(``blocking`` in ``fhir_profiles/mpi-rules.json``); each key is ``<name>:<part>|<part>``,
e.g. ``by:1990|nguyen`` or ``ph:0912345678``. Several keys per record make blocking
robust: a typo in the family name loses ``by`` but keeps ``ph`` and ``dg``.

The same function builds the keys a record is *stored* under and the keys a lookup
*searches*, so they cannot drift apart. A part that is missing (no phone, a birth date
with only the year) yields no key for that rule rather than a key that matches everyone.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

from ehr.mpi.features import MatchRecord
from ehr.mpi.rules import MatchRules

__all__ = ["blocking_keys", "key_part"]


def _birth_year(record: MatchRecord) -> list[str]:
    return [str(record.birth.year)] if record.birth else []


def _birth_date(record: MatchRecord) -> list[str]:
    birth = record.birth
    if birth is None or birth.month is None or birth.day is None:
        return []
    return [f"{birth.year:04d}-{birth.month:02d}-{birth.day:02d}"]


def _birth_date_unordered(record: MatchRecord) -> list[str]:
    """Year plus day and month in either order, so a day/month swap keeps the key."""
    birth = record.birth
    if birth is None or birth.month is None or birth.day is None:
        return []
    low, high = sorted((birth.month, birth.day))
    return [f"{birth.year:04d}-{low:02d}-{high:02d}"]


def _family(record: MatchRecord) -> list[str]:
    return [record.family] if record.family else []


def _given_last(record: MatchRecord) -> list[str]:
    """The called name (tên), the syllable Vietnamese address people by."""
    return [record.given[-1]] if record.given else []


def _phone(record: MatchRecord) -> list[str]:
    return sorted(record.phones)


_PARTS: dict[str, Callable[[MatchRecord], list[str]]] = {
    "birth_year": _birth_year,
    "birth_date": _birth_date,
    "birth_date_unordered": _birth_date_unordered,
    "family": _family,
    "given_last": _given_last,
    "phone": _phone,
}


def key_part(part: str, record: MatchRecord) -> list[str]:
    """The values of one key part for ``record`` (several for phones, none if missing)."""
    return _PARTS[part](record)


def blocking_keys(record: MatchRecord, rules: MatchRules) -> set[str]:
    """Every key ``record`` is indexed and looked up under."""
    keys: set[str] = set()
    for rule in rules.blocking:
        values = [key_part(part, record) for part in rule.parts]
        keys.update(f"{rule.name}:{'|'.join(combination)}" for combination in product(*values))
    return keys
