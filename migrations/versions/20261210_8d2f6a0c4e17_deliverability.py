"""Deliverability: failed deliveries by reason and domain, and paused domains.

`mail_events` records each failed or complained-about delivery (an SMTP
refusal, a bounce, a feedback report): when, the receiving domain, the
reason and its effect, the status code and the server's words without the
recipient's address. `mail_domain_pauses` holds the receiving domains whose
mail waits because they refused the sender, until when, and how many pauses
in a row.

Both start empty; nothing existing changes. Downgrading drops both.

Revision ID: 8d2f6a0c4e17
Revises: 7a4c2e91b3d5
Create Date: 2026-12-10 09:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '8d2f6a0c4e17'
down_revision = '7a4c2e91b3d5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'mail_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('domain', sa.String(length=253), nullable=True),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('effect', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=True),
        sa.Column('text', sa.Text(), nullable=True),
        sa.Column('customer_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_mail_events_customer_id_customers'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_events')),
    )
    op.create_index(op.f('ix_mail_events_occurred_at'), 'mail_events',
                    ['occurred_at'], unique=False)
    op.create_index(op.f('ix_mail_events_domain'), 'mail_events', ['domain'],
                    unique=False)
    op.create_index(op.f('ix_mail_events_customer_id'), 'mail_events',
                    ['customer_id'], unique=False)
    op.create_table(
        'mail_domain_pauses',
        sa.Column('domain', sa.String(length=253), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('text', sa.Text(), nullable=True),
        sa.Column('paused_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('until', sa.DateTime(timezone=True), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('released_by', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['released_by'], ['users.id'],
                                name=op.f('fk_mail_domain_pauses_released_by_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('domain', name=op.f('pk_mail_domain_pauses')),
    )


def downgrade():
    op.drop_table('mail_domain_pauses')
    op.drop_index(op.f('ix_mail_events_customer_id'), table_name='mail_events')
    op.drop_index(op.f('ix_mail_events_domain'), table_name='mail_events')
    op.drop_index(op.f('ix_mail_events_occurred_at'), table_name='mail_events')
    op.drop_table('mail_events')
