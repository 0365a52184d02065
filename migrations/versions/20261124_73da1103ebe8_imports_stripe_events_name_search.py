"""Import runs, handled Stripe events, and indexes for the customer list.

The list pages by (departed_at, id) and searches by the start of the name, so
the single-column departure index gives way to a composite one and lower(name)
gets an expression index.

Revision ID: 73da1103ebe8
Revises: f778d21850f7
Create Date: 2026-11-24 23:18:49.442958

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '73da1103ebe8'
down_revision = 'f778d21850f7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('import_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('upload', sa.LargeBinary(), nullable=True),
    sa.Column('mapping', sa.JSON(), nullable=True),
    sa.Column('date_order', sa.String(length=3), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('rejected_csv', sa.LargeBinary(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'done', 'failed')", name=op.f('ck_import_runs_status_known')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_import_runs_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_runs'))
    )
    op.create_table('stripe_events',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_stripe_events_customer_id_customers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_departed_at'))
        batch_op.create_index('ix_customers_departed_id', ['departed_at', 'id'], unique=False)
    op.create_index('ix_customers_name_lower', 'customers', [sa.text('lower(name)')])



def downgrade():
    op.drop_index('ix_customers_name_lower', table_name='customers')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_departed_id')
        batch_op.create_index(batch_op.f('ix_customers_departed_at'), ['departed_at'], unique=False)

    op.drop_table('stripe_events')
    op.drop_table('import_runs')
