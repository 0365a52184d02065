"""Outbound webhooks (placeholder, filled in by its change).

Revision ID: 3b7c8d9e0f1a
Revises: 2a6b7c8d9e0f
Create Date: 2026-12-19 09:00:00.000000

"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

# revision identifiers, used by Alembic.
revision = "3b7c8d9e0f1a"
down_revision = "2a6b7c8d9e0f"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
