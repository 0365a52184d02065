"""We fixed it campaigns (placeholder, filled in by its change).

Revision ID: 2a6b7c8d9e0f
Revises: 1f0a2b3c4d5e
Create Date: 2026-12-18 09:00:00.000000

"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

# revision identifiers, used by Alembic.
revision = "2a6b7c8d9e0f"
down_revision = "1f0a2b3c4d5e"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
