"""profile flags: resources stored although they fail a national profile

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:00:00

The ``profile_flag`` table of ``ehr.db.schema`` (``ehr.profiles.participant``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "profile_flag",
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("res_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("profiles", sa.String(length=2048), nullable=False),
        sa.Column("outcome", sa.LargeBinary(), nullable=False),
        sa.Column("flagged_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("res_type", "res_id"),
    )


def downgrade() -> None:
    op.drop_table("profile_flag")
