"""person index changes: grouped link changes, merged persons, not-duplicate marks

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 10:00:00

The review and link-management tables of ``ehr.db.schema`` (``ehr.mpi.link_changes``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("person_link_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change_id", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_person_link_history_change_id", ["change_id"], unique=False)
    op.create_table(
        "person_link_change",
        sa.Column("change_id", BIG_ID, nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("link_type", sa.String(length=8), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=512), nullable=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("undoes", sa.BigInteger(), nullable=True),
        sa.Column("undone_by", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("change_id"),
    )
    op.create_table(
        "person_replaced",
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("replaced_by", sa.String(length=64), nullable=False),
        sa.Column("change_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("person_id"),
    )
    op.create_index(
        "ix_person_replaced_replaced_by", "person_replaced", ["replaced_by"], unique=False
    )
    op.create_table(
        "person_distinct",
        sa.Column("person_a", sa.String(length=64), nullable=False),
        sa.Column("person_b", sa.String(length=64), nullable=False),
        sa.Column("change_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("person_a", "person_b"),
    )


def downgrade() -> None:
    op.drop_table("person_distinct")
    op.drop_index("ix_person_replaced_replaced_by", table_name="person_replaced")
    op.drop_table("person_replaced")
    op.drop_table("person_link_change")
    with op.batch_alter_table("person_link_history", schema=None) as batch_op:
        batch_op.drop_index("ix_person_link_history_change_id")
        batch_op.drop_column("change_id")
