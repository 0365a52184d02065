"""Feedback import jobs (placeholder, filled in by its change).

Revision ID: 4c8d9e0f1a2b
Revises: 3b7c8d9e0f1a
Create Date: 2026-12-20 09:00:00.000000

"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

# revision identifiers, used by Alembic.
revision = "4c8d9e0f1a2b"
down_revision = "3b7c8d9e0f1a"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
