"""Tags of the customers' stated comments; an index on involuntary departures.

`customer_comment_tags` holds the reason and sentiment tags of a customer's
stated comment (a CRM comment column, Stripe's feedback comment), one row per
customer, with a digest of the text tagged. It starts empty: the worker tags
the comments already stored, a batch per pass.

A partial index on `customers.involuntary` (only the rows where it is true):
the dashboard counts the few departures where paying failed.

Both are new objects: SQLite keeps the customers table, its index on
lower(name) and the funnel's triggers as they are. Downgrading drops both.

Revision ID: 7a4c2e91b3d5
Revises: 3f8b2d6c1e90
Create Date: 2026-12-09 09:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '7a4c2e91b3d5'
down_revision = '3f8b2d6c1e90'
branch_labels = None
depends_on = None

REASONS = ('service', 'quality', 'brand', 'price', 'need', 'other')


def upgrade():
    op.create_table(
        'customer_comment_tags',
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('digest', sa.String(length=16), nullable=False),
        sa.Column('sentiment', sa.Enum('negative', 'neutral', 'positive',
                                       name='sentiment', native_enum=False,
                                       create_constraint=True, length=8),
                  nullable=True),
        sa.Column('sentiment_score', sa.Double(), nullable=True),
        sa.Column('tag_reason', sa.Enum(*REASONS, name='reason', native_enum=False,
                                        create_constraint=True, length=7),
                  nullable=True),
        sa.Column('tags', sa.JSON(), nullable=True),
        sa.Column('tagged_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['customer_id'], ['customers.id'],
            name=op.f('fk_customer_comment_tags_customer_id_customers'),
            ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_comment_tags')),
    )
    op.create_index(op.f('ix_customer_comment_tags_tag_reason'),
                    'customer_comment_tags', ['tag_reason'], unique=False)
    op.create_index('ix_customers_involuntary', 'customers', ['departed_at'],
                    unique=False,
                    sqlite_where=sa.text('involuntary'),
                    postgresql_where=sa.text('involuntary'))


def downgrade():
    op.drop_index('ix_customers_involuntary', table_name='customers')
    op.drop_index(op.f('ix_customer_comment_tags_tag_reason'),
                  table_name='customer_comment_tags')
    op.drop_table('customer_comment_tags')
