"""Survey drafts: questions being edited before they are published.

Revision ID: 25aebdaaf60e
Revises: 926956bca25f
Create Date: 2026-11-24 23:48:06.515960

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '25aebdaaf60e'
down_revision = '926956bca25f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('draft', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_column('draft')

