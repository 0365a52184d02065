"""Stripe subscriptions: revenue and departure per subscription, and the lookup.

`stripe_subscriptions` keeps each Stripe subscription Karn heard of, as its
latest event left it (status, end, monthly revenue in its currency, plan,
product, trial-only, involuntary), with the state of the worker's lookup at
Stripe (when due, attempts, last error). A customer departs when their last
running subscription ends (karn.customers.stripe_subscriptions).

Departures Stripe sent before this revision are copied in, one ended
subscription each (the id their `extra` kept), due for the lookup: with an
API key the worker then fills in their email, name, language and country, the
product's name and the amount as Stripe's rules give it (whole yen, not
hundredths), and invites those who can now be reached. A plan stored as a
product id (`prod_…`) becomes that subscription's product, to be named.

Also a partial index on `customers.currency` (only rows that have one): the
dashboard counts the few customers in another currency than the reporting
one. It is a plain CREATE INDEX, so SQLite keeps the customers table, its
index on lower(name) and the funnel's triggers as they are.

Downgrading drops both; the customers keep what the lookup filled in.

Revision ID: 3f8b2d6c1e90
Revises: 5c1e0a7d9b42
Create Date: 2026-12-08 09:00:00.000000

"""
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '3f8b2d6c1e90'
down_revision = '5c1e0a7d9b42'
branch_labels = None
depends_on = None

BATCH = 1000


def _copy_stripe_departures() -> None:
    """One ended subscription per departure Stripe sent, due for the lookup."""
    bind = op.get_bind()
    customers = sa.table(
        'customers',
        sa.column('id', sa.Integer),
        sa.column('external_id', sa.String),
        sa.column('source', sa.String),
        sa.column('departed_at', sa.DateTime(timezone=True)),
        sa.column('plan', sa.String),
        sa.column('monthly_revenue', sa.BigInteger),
        sa.column('extra', sa.JSON),
        sa.column('erased_at', sa.DateTime(timezone=True)),
    )
    subscriptions = sa.table(
        'stripe_subscriptions',
        sa.column('id', sa.String),
        sa.column('customer_id', sa.Integer),
        sa.column('status', sa.String),
        sa.column('ended_at', sa.DateTime(timezone=True)),
        sa.column('event_at', sa.DateTime(timezone=True)),
        sa.column('monthly_revenue', sa.BigInteger),
        sa.column('event_revenue', sa.BigInteger),
        sa.column('plan', sa.String),
        sa.column('product_id', sa.String),
        sa.column('lookup_due_at', sa.DateTime(timezone=True)),
        sa.column('created_at', sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    if bind.dialect.name == 'sqlite':
        now = now.replace(tzinfo=None)
    query = (
        sa.select(
            customers.c.id, customers.c.departed_at, customers.c.plan,
            customers.c.monthly_revenue, customers.c.extra,
        )
        .where(
            customers.c.source == 'stripe',
            customers.c.erased_at.is_(None),
            customers.c.external_id.is_not(None),
            customers.c.departed_at.is_not(None),
        )
        .order_by(customers.c.id)
    )
    seen: set[str] = set()
    rows = []
    for cid, departed, plan, revenue, extra in bind.execute(query):
        if isinstance(extra, str):
            extra = json.loads(extra or '{}')
        sub = (extra or {}).get('stripe_subscription')
        if not sub or sub in seen:
            continue
        seen.add(sub)
        product = plan if plan and plan.startswith('prod_') else None
        rows.append({
            'id': sub[:255], 'customer_id': cid, 'status': 'canceled',
            'ended_at': departed, 'event_at': departed,
            'monthly_revenue': revenue, 'event_revenue': revenue,
            'plan': None if product else plan, 'product_id': product,
            'lookup_due_at': now, 'created_at': now,
        })
        if len(rows) >= BATCH:
            bind.execute(subscriptions.insert(), rows)
            rows = []
    if rows:
        bind.execute(subscriptions.insert(), rows)


def upgrade():
    op.create_table(
        'stripe_subscriptions',
        sa.Column('id', sa.String(length=255), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('event_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('monthly_revenue', sa.BigInteger(), nullable=True),
        sa.Column('event_revenue', sa.BigInteger(), nullable=True),
        sa.Column('unknown', sa.String(length=16), nullable=True),
        sa.Column('currency', sa.String(length=3), nullable=True),
        sa.Column('plan', sa.String(length=100), nullable=True),
        sa.Column('product_id', sa.String(length=255), nullable=True),
        sa.Column('trial_only', sa.Boolean(), server_default=sa.false(),
                  nullable=False),
        sa.Column('involuntary', sa.Boolean(), server_default=sa.false(),
                  nullable=False),
        sa.Column('lookup_due_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lookup_attempts', sa.Integer(), server_default='0',
                  nullable=False),
        sa.Column('lookup_error', sa.String(length=255), nullable=True),
        sa.Column('looked_up_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_stripe_subscriptions_customer_id_customers'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_subscriptions')),
    )
    op.create_index(op.f('ix_stripe_subscriptions_customer_id'),
                    'stripe_subscriptions', ['customer_id'], unique=False)
    op.create_index(op.f('ix_stripe_subscriptions_lookup_due_at'),
                    'stripe_subscriptions', ['lookup_due_at'], unique=False)
    op.create_index('ix_customers_currency', 'customers', ['currency'], unique=False,
                    sqlite_where=sa.text('currency IS NOT NULL'),
                    postgresql_where=sa.text('currency IS NOT NULL'))
    _copy_stripe_departures()


def downgrade():
    op.drop_index('ix_customers_currency', table_name='customers',
                  sqlite_where=sa.text('currency IS NOT NULL'),
                  postgresql_where=sa.text('currency IS NOT NULL'))
    op.drop_index(op.f('ix_stripe_subscriptions_lookup_due_at'),
                  table_name='stripe_subscriptions')
    op.drop_index(op.f('ix_stripe_subscriptions_customer_id'),
                  table_name='stripe_subscriptions')
    op.drop_table('stripe_subscriptions')
