"""Follow-up mails by reason (placeholder, filled in by its change).

Revision ID: 1f0a2b3c4d5e
Revises: 0a1e7b5c3d49
Create Date: 2026-12-17 09:00:00.000000

"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

# revision identifiers, used by Alembic.
revision = "1f0a2b3c4d5e"
down_revision = "0a1e7b5c3d49"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
