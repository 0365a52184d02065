"""Experiments: the figures of a finished experiment, kept.

Adds ``experiments.final_figures`` (JSON, nullable) and
``experiments.closed_at`` (nullable). Once every assignment's horizon has
passed, an experiment's figures per group are stored there before any of its
assignments is removed by erasure or retention, so a finished result no longer
changes. Existing experiments get NULL (counted from their assignments, as
before) and are closed the first time one of their people is forgotten.

Revision ID: 5d9e0f1a2b3c
Revises: 4c8d9e0f1a2b
Create Date: 2026-12-21 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "5d9e0f1a2b3c"
down_revision = "4c8d9e0f1a2b"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("experiments") as batch_op:
        batch_op.add_column(sa.Column("final_figures", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table("experiments") as batch_op:
        batch_op.drop_column("closed_at")
        batch_op.drop_column("final_figures")
