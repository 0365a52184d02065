"""At risk: objection to profiling.

Adds ``customers.profiling_objected_at`` (nullable): when a customer objected
to being profiled. Such a customer is not scored for churn risk, not learned
from, and their existing score is deleted when the objection is recorded.
Existing customers get NULL (no objection); nothing else changes.

Revision ID: 0a1e7b5c3d49
Revises: e7c4f0a2b816
Create Date: 2026-12-16 09:00:00.000000

"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

# revision identifiers, used by Alembic.
revision = "0a1e7b5c3d49"
down_revision = "e7c4f0a2b816"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("customers") as batch_op:
        batch_op.add_column(
            sa.Column("profiling_objected_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade():
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy of the customers table
    # would break the triggers that keep the dashboard's totals.
    op.execute("ALTER TABLE customers DROP COLUMN profiling_objected_at")
