"""The generic FHIR store: one resource table, one version table, typed search indexes.

Nothing here is per resource type (HAPI's design, see STYLE.md): a new resource type or
search parameter never needs a migration. ``resource`` holds the current version of each
resource, ``resource_version`` every version ever written (the tombstone of a delete
included), and each ``search_*`` table the index rows of the *current* version for one
search parameter type. Times are epoch microseconds (UTC) so that they compare the same on
SQLite and PostgreSQL and match the index values in ``ehr.search.values``.

Schema changes go through Alembic (``ehr/db/migrations``); this module is its target.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, ForeignKey, Index, Integer, LargeBinary, String
from sqlmodel import Field, SQLModel

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for scale.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# String search is a prefix range on normalised text (``value >= p AND value < p + max``),
# exact only under code-point order: PostgreSQL must compare these columns in the "C"
# collation whatever the database default is (SQLite's BINARY already is code-point order).
SearchText = String(1024).with_variant(String(1024, collation="C"), "postgresql")


def _rid_column() -> Column:
    return Column(BigId, ForeignKey("resource.rid"), nullable=False, index=True)


class Resource(SQLModel, table=True):
    """The current version of every resource, deleted ones kept as tombstones."""

    __tablename__ = "resource"
    __table_args__ = (
        Index("uq_resource_type_id", "res_type", "res_id", unique=True),
        Index("ix_resource_type_updated", "res_type", "last_updated"),
    )

    rid: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    res_type: str = Field(sa_column=Column(String(64), nullable=False))
    res_id: str = Field(sa_column=Column(String(64), nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    last_updated: int = Field(sa_column=Column(BigInteger, nullable=False))
    deleted: bool = Field(default=False, nullable=False)
    content: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    """The resource JSON exactly as served (``meta.versionId``/``lastUpdated`` filled in)."""
    facility: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    """The facility code that wrote the current version (``None``: the exchange itself)."""


class ResourceVersion(SQLModel, table=True):
    """Every version of every resource; ``vid`` orders the whole history of the server."""

    __tablename__ = "resource_version"
    __table_args__ = (
        Index("uq_version_rid_version", "rid", "version", unique=True),
        Index("ix_version_type_vid", "res_type", "vid"),
    )

    vid: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    rid: int = Field(sa_column=Column(BigId, ForeignKey("resource.rid"), nullable=False))
    res_type: str = Field(sa_column=Column(String(64), nullable=False))
    res_id: str = Field(sa_column=Column(String(64), nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    last_updated: int = Field(sa_column=Column(BigInteger, nullable=False))
    method: str = Field(sa_column=Column(String(8), nullable=False))
    """The HTTP verb that made this version: POST, PUT, PATCH or DELETE."""
    deleted: bool = Field(default=False, nullable=False)
    content: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class SearchToken(SQLModel, table=True):
    __tablename__ = "search_token"
    __table_args__ = (Index("ix_token_lookup", "res_type", "param", "code", "system"),)

    row_id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    rid: int = Field(sa_column=_rid_column())
    res_type: str = Field(sa_column=Column(String(64), nullable=False))
    param: str = Field(sa_column=Column(String(100), nullable=False))
    system: str | None = Field(default=None, sa_column=Column(String(512)))
    code: str | None = Field(default=None, sa_column=Column(String(512)))
    text: str | None = Field(default=None, sa_column=Column(String(1024)))


class SearchString(SQLModel, table=True):
    __tablename__ = "search_string"
    __table_args__ = (Index("ix_string_lookup", "res_type", "param", "value"),)

    row_id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    rid: int = Field(sa_column=_rid_column())
    res_type: str = Field(sa_column=Column(String(64), nullable=False))
    param: str = Field(sa_column=Column(String(100), nullable=False))
    value: str = Field(sa_column=Column(SearchText, nullable=False))
    exact: str = Field(sa_column=Column(SearchText, nullable=False))


class SearchDate(SQLModel, table=True):
    __tablename__ = "search_date"
    __table_args__ = (
        Index("ix_date_low", "res_type", "param", "low"),
        Index("ix_date_high", "res_type", "param", "high"),
    )

    row_id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    rid: int = Field(sa_column=_rid_column())
    res_type: str = Field(sa_column=Column(String(64), nullable=False))
    param: str = Field(sa_column=Column(String(100), nullable=False))
    low: int | None = Field(default=None, sa_column=Column(BigInteger))
    high: int | None = Field(default=None, sa_column=Column(BigInteger))


class SearchNumber(SQLModel, table=True):
    __tablename__ = "search_number"
    __table_args__ = (Index("ix_number_lookup", "res_type", "param", "value"),)

    row_id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    rid: int = Field(sa_column=_rid_column())
    res_type: str = Field(sa_column=Column(String(64), nullable=False))
    param: str = Field(sa_column=Column(String(100), nullable=False))
    value: float = Field(sa_column=Column(Float, nullable=False))
    low: float = Field(sa_column=Column(Float, nullable=False))
    high: float = Field(sa_column=Column(Float, nullable=False))


class SearchQuantity(SQLModel, table=True):
    __tablename__ = "search_quantity"
    __table_args__ = (Index("ix_quantity_lookup", "res_type", "param", "value"),)

    row_id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    rid: int = Field(sa_column=_rid_column())
    res_type: str = Field(sa_column=Column(String(64), nullable=False))
    param: str = Field(sa_column=Column(String(100), nullable=False))
    value: float = Field(sa_column=Column(Float, nullable=False))
    low: float = Field(sa_column=Column(Float, nullable=False))
    high: float = Field(sa_column=Column(Float, nullable=False))
    system: str | None = Field(default=None, sa_column=Column(String(512)))
    code: str | None = Field(default=None, sa_column=Column(String(256)))
    unit: str | None = Field(default=None, sa_column=Column(String(256)))


class SearchReference(SQLModel, table=True):
    __tablename__ = "search_reference"
    __table_args__ = (
        Index("ix_reference_lookup", "res_type", "param", "target_type", "target_id"),
        Index("ix_reference_target", "target_type", "target_id"),
    )

    row_id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    rid: int = Field(sa_column=_rid_column())
    res_type: str = Field(sa_column=Column(String(64), nullable=False))
    param: str = Field(sa_column=Column(String(100), nullable=False))
    target_type: str | None = Field(default=None, sa_column=Column(String(64)))
    target_id: str | None = Field(default=None, sa_column=Column(String(64)))
    url: str | None = Field(default=None, sa_column=Column(String(1024)))


class SearchUri(SQLModel, table=True):
    __tablename__ = "search_uri"
    __table_args__ = (Index("ix_uri_lookup", "res_type", "param", "value"),)

    row_id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    rid: int = Field(sa_column=_rid_column())
    res_type: str = Field(sa_column=Column(String(64), nullable=False))
    param: str = Field(sa_column=Column(String(100), nullable=False))
    value: str = Field(sa_column=Column(String(1024), nullable=False))


class Compartment(SQLModel, table=True):
    """Patient compartment membership of current resources, kept by the write path.

    One row per (resource, patient) from the R4 Patient CompartmentDefinition; the access
    policy filters person-level data through it inside the search SQL.
    """

    __tablename__ = "compartment"
    __table_args__ = (Index("ix_compartment_patient", "patient_id", "rid"),)

    rid: int = Field(sa_column=Column(BigId, ForeignKey("resource.rid"), primary_key=True))
    patient_id: str = Field(sa_column=Column(String(64), primary_key=True))


class CareRelationship(SQLModel, table=True):
    """A facility treats a patient: it has pushed an Encounter for them (PRODUCT.md section 5)."""

    __tablename__ = "care_relationship"
    __table_args__ = (Index("ix_care_patient", "patient_id"),)

    facility: str = Field(sa_column=Column(String(64), primary_key=True))
    patient_id: str = Field(sa_column=Column(String(64), primary_key=True))
    since: int = Field(sa_column=Column(BigInteger, nullable=False))


class UsedAssertion(SQLModel, table=True):
    """Client assertion ``jti`` values seen, so that a replayed assertion is refused."""

    __tablename__ = "used_assertion"
    __table_args__ = (Index("ix_used_assertion_expires", "expires_at"),)

    jti_hash: str = Field(sa_column=Column(String(128), primary_key=True))
    client_id: str = Field(sa_column=Column(String(128), nullable=False))
    expires_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class PersonNationalId(SQLModel, table=True):
    """One golden person per national ID, enforced by the primary key on its keyed hash.

    Deterministic linking inserts here first (ignoring a duplicate) and then reads the row:
    two facilities pushing one CCCD at the same instant meet on this key, not on a
    read-then-write race. The number itself is never stored, only ``HMAC(secret, number)``.
    """

    __tablename__ = "person_national_id"

    id_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    person_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    created: int = Field(sa_column=Column(BigInteger, nullable=False))


class PersonLink(SQLModel, table=True):
    """Which golden person each facility Patient belongs to (exactly one)."""

    __tablename__ = "person_link"

    patient_id: str = Field(sa_column=Column(String(64), primary_key=True))
    person_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    link_type: str = Field(sa_column=Column(String(8), nullable=False))
    """AUTO (the matcher decided) or MANUAL (a reviewer decided)."""
    grade: str = Field(sa_column=Column(String(16), nullable=False))
    """certain (national ID), probable, possible (grey zone, under review)."""
    score: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    updated: int = Field(sa_column=Column(BigInteger, nullable=False))


class PersonLinkHistory(SQLModel, table=True):
    """Every change of a link, so that each can be explained and undone."""

    __tablename__ = "person_link_history"
    __table_args__ = (Index("ix_link_history_patient", "patient_id", "hid"),)

    hid: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    patient_id: str = Field(sa_column=Column(String(64), nullable=False))
    person_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    previous_person_id: str | None = Field(
        default=None, sa_column=Column(String(64), nullable=True)
    )
    action: str = Field(sa_column=Column(String(16), nullable=False))
    """link, unlink, merge, undo."""
    link_type: str = Field(sa_column=Column(String(8), nullable=False))
    actor: str = Field(sa_column=Column(String(128), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))
    score: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    explanation: str | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    """The matcher's per-field explanation (JSON), for AUTO decisions."""
    at: int = Field(sa_column=Column(BigInteger, nullable=False))
    change_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True, index=True)
    )
    """The ``person_link_change`` this move belongs to (one merge moves many records)."""


class PersonLinkChange(SQLModel, table=True):
    """One change of the person index (a link, a merge, a review decision, an undo).

    The unit an admin reads in the link history and undoes; the records it moved are the
    ``person_link_history`` rows with its ``change_id``.
    """

    __tablename__ = "person_link_change"

    change_id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    action: str = Field(sa_column=Column(String(24), nullable=False))
    """link, unlink, merge, not-duplicate, review, undo."""
    link_type: str = Field(sa_column=Column(String(8), nullable=False))
    """AUTO (the exchange decided) or MANUAL (an admin decided)."""
    actor: str = Field(sa_column=Column(String(128), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))
    at: int = Field(sa_column=Column(BigInteger, nullable=False))
    undoes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    undone_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class PersonReplaced(SQLModel, table=True):
    """A golden person merged into another: its national IDs now resolve to the survivor."""

    __tablename__ = "person_replaced"

    person_id: str = Field(sa_column=Column(String(64), primary_key=True))
    replaced_by: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    change_id: int = Field(sa_column=Column(BigInteger, nullable=False))


class PersonDistinct(SQLModel, table=True):
    """Two persons a reviewer declared not the same (``person_a < person_b``): the index
    never merges them on its own."""

    __tablename__ = "person_distinct"

    person_a: str = Field(sa_column=Column(String(64), primary_key=True))
    person_b: str = Field(sa_column=Column(String(64), primary_key=True))
    change_id: int = Field(sa_column=Column(BigInteger, nullable=False))


class MatchBlock(SQLModel, table=True):
    """Blocking keys of facility Patients: where the matcher looks for candidates."""

    __tablename__ = "match_block"
    __table_args__ = (Index("ix_match_block_patient", "patient_id"),)

    key: str = Field(sa_column=Column(String(128), primary_key=True))
    patient_id: str = Field(sa_column=Column(String(64), primary_key=True))


class MatchFeatures(SQLModel, table=True):
    """What the matcher compares of each facility Patient, precomputed on write
    (``ehr.mpi.features.record_to_json``, the national ID as its keyed hash): scoring a
    candidate then needs no Patient parsing or name normalisation."""

    __tablename__ = "match_features"

    patient_id: str = Field(sa_column=Column(String(64), primary_key=True))
    features: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class AuditPending(SQLModel, table=True):
    """AuditEvents written in the transaction of their access, not indexed yet.

    Each row is the complete AuditEvent as it will be served (id, ``meta`` and all);
    ``ehr.audit.pending`` stores it as a resource with its index rows in bulk, later or
    before any read that could see it."""

    __tablename__ = "audit_pending"

    seq: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    res_id: str = Field(sa_column=Column(String(64), nullable=False))
    recorded: int = Field(sa_column=Column(BigInteger, nullable=False))
    """``meta.lastUpdated`` of the event, in microseconds since the epoch."""
    facility: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


SEARCH_TABLES = {
    "token": SearchToken,
    "string": SearchString,
    "date": SearchDate,
    "number": SearchNumber,
    "quantity": SearchQuantity,
    "reference": SearchReference,
    "uri": SearchUri,
}
"""The index table of each search parameter type."""


class ProfileFlag(SQLModel, table=True):
    """A resource whose current version fails a national profile (stored under the
    ``accept-and-flag`` policy): not exchangeable until a valid version replaces it.

    One row per resource, replaced by each new failing version, removed by a valid one or a
    delete (``ehr.profiles.participant``). ``outcome`` is the OperationOutcome (JSON) the
    facility sees through ``$validate``.
    """

    __tablename__ = "profile_flag"

    res_type: str = Field(sa_column=Column(String(64), primary_key=True))
    res_id: str = Field(sa_column=Column(String(64), primary_key=True))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    profiles: str = Field(sa_column=Column(String(2048), nullable=False))
    """The canonical URLs of the failed profiles, space-separated."""
    outcome: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    flagged_at: int = Field(sa_column=Column(BigInteger, nullable=False))
