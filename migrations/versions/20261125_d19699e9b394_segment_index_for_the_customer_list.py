"""Customer list within a segment: (segment, departed_at, id) replaces (segment).

The composite index serves the segment filter in list order, and its leading
column still serves the drop-down of segments.

Revision ID: d19699e9b394
Revises: 25aebdaaf60e
Create Date: 2026-11-25 00:23:04.278821

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'd19699e9b394'
down_revision = '25aebdaaf60e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_segment'))
        batch_op.create_index('ix_customers_segment_departed', ['segment', 'departed_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_segment_departed')
        batch_op.create_index(batch_op.f('ix_customers_segment'), ['segment'], unique=False)

