"""access: compartment membership, care relationships, assertion replay cache, author facility

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:30:00

The tables the access policy and SMART Backend Services need (``ehr.db.schema``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.add_column(sa.Column("facility", sa.String(length=64), nullable=True))

    op.create_table(
        "compartment",
        sa.Column("rid", BIG_ID, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["rid"], ["resource.rid"]),
        sa.PrimaryKeyConstraint("rid", "patient_id"),
    )
    op.create_index("ix_compartment_patient", "compartment", ["patient_id", "rid"])

    op.create_table(
        "care_relationship",
        sa.Column("facility", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("since", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("facility", "patient_id"),
    )
    op.create_index("ix_care_patient", "care_relationship", ["patient_id"])

    op.create_table(
        "used_assertion",
        sa.Column("jti_hash", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("jti_hash"),
    )
    op.create_index("ix_used_assertion_expires", "used_assertion", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_used_assertion_expires", table_name="used_assertion")
    op.drop_table("used_assertion")
    op.drop_index("ix_care_patient", table_name="care_relationship")
    op.drop_table("care_relationship")
    op.drop_index("ix_compartment_patient", table_name="compartment")
    op.drop_table("compartment")
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_column("facility")
