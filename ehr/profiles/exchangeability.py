"""Which records are valid against the national profiles, for the interoperability indicator.

A record is exchangeable (as far as the profiles go) when its current version is stored,
not deleted, and not flagged in ``profile_flag``. The indicator (PRODUCT.md section 4.3)
counts Encounters *submitted* by a facility in a period: an Encounter is submitted when its
first version was stored (``resource_version`` version 1), so a corrected version pushed
later changes whether it is exchangeable, not which period it counts in. The facility is
the one that wrote it (the ``resource.facility`` column, the same facility its
``meta.source`` ``urn:ehr:facility:<code>`` names).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Exists, FromClause, and_, exists, func, select
from sqlmodel import Session

from ehr.db.schema import ProfileFlag, Resource, ResourceVersion

_R = Resource.__table__  # type: ignore[attr-defined]
_V = ResourceVersion.__table__  # type: ignore[attr-defined]
_FLAG = ProfileFlag.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ExchangeCounts:
    submitted: int
    exchangeable: int


def _flagged(table: FromClause) -> Exists:
    return exists(
        select(1).where(_FLAG.c.res_type == table.c.res_type, _FLAG.c.res_id == table.c.res_id)
    )


def is_exchangeable(session: Session, res_type: str, res_id: str) -> bool:
    """Whether ``res_type/res_id`` exists, is not deleted, and its current version is valid."""
    row = session.execute(
        select(_R.c.deleted, _flagged(_R).label("flagged")).where(
            _R.c.res_type == res_type, _R.c.res_id == res_id
        )
    ).first()
    return row is not None and not row.deleted and not row.flagged


def encounter_counts(session: Session, facility: str, start: int, end: int) -> ExchangeCounts:
    """Encounters ``facility`` submitted in ``[start, end)`` (epoch microseconds), and how many
    of them are valid against the national profiles now."""
    submitted = and_(
        _V.c.rid == _R.c.rid, _V.c.version == 1, _V.c.last_updated >= start, _V.c.last_updated < end
    )
    query = select(
        func.count(),
        func.count().filter(~_flagged(_R)),  # type: ignore[operator]
    ).where(
        _R.c.res_type == "Encounter",
        _R.c.facility == facility,
        _R.c.deleted.is_(False),
        exists(select(1).where(submitted)),
    )
    total, valid = session.execute(query).one()
    return ExchangeCounts(submitted=total, exchangeable=valid)
