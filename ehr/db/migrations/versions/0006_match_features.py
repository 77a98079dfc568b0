"""match features: what the matcher compares of each facility Patient, precomputed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 23:30:00

The ``match_features`` table of ``ehr.db.schema`` (``ehr.mpi.candidates``). Patients
stored before it have no row; the matcher reads those from the Patient itself, and the
next write of each Patient fills its row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_features",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("features", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("patient_id"),
    )


def downgrade() -> None:
    op.drop_table("match_features")
