"""Suppression list and the survey's public link.

Revision ID: 926956bca25f
Revises: 73da1103ebe8
Create Date: 2026-11-24 23:36:58.484874

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '926956bca25f'
down_revision = '73da1103ebe8'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('suppressions',
    sa.Column('email_hash', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('email_hash', name=op.f('pk_suppressions'))
    )
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_token', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_surveys_public_token'), ['public_token'])



def downgrade():
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_surveys_public_token'), type_='unique')
        batch_op.drop_column('public_token')

    op.drop_table('suppressions')
