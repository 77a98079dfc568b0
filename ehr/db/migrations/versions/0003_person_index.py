"""person index: golden persons by national-ID hash, patient links and their history, blocking keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 19:55:00

The master patient index tables of ``ehr.db.schema``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "person_national_id",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index(
        "ix_person_national_id_person_id", "person_national_id", ["person_id"], unique=False
    )
    op.create_table(
        "person_link",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("link_type", sa.String(length=8), nullable=False),
        sa.Column("grade", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("patient_id"),
    )
    op.create_index("ix_person_link_person_id", "person_link", ["person_id"], unique=False)
    op.create_table(
        "person_link_history",
        sa.Column("hid", BIG_ID, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=True),
        sa.Column("previous_person_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("link_type", sa.String(length=8), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=512), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("explanation", sa.LargeBinary(), nullable=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hid"),
    )
    op.create_index("ix_link_history_patient", "person_link_history", ["patient_id", "hid"])
    op.create_table(
        "match_block",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("key", "patient_id"),
    )
    op.create_index("ix_match_block_patient", "match_block", ["patient_id"])


def downgrade() -> None:
    op.drop_index("ix_match_block_patient", table_name="match_block")
    op.drop_table("match_block")
    op.drop_index("ix_link_history_patient", table_name="person_link_history")
    op.drop_table("person_link_history")
    op.drop_index("ix_person_link_person_id", table_name="person_link")
    op.drop_table("person_link")
    op.drop_index("ix_person_national_id_person_id", table_name="person_national_id")
    op.drop_table("person_national_id")
