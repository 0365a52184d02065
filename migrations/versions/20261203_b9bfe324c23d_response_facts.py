"""Dashboard speed: one row per submitted response with its customer's values.

`response_facts` holds each submitted response's moment, version, language,
main reason and "also played a part" reasons (as bits: service 1, quality 2,
brand 4, price 8, need 16, other 32) beside its customer's segment, plan,
region, source, tenure band, revenue band, revenue, departure and imported
attributes, as karn.analysis.totals keeps them. Filters the daily totals
cannot answer (two attributes at once, an imported attribute) read it instead
of joining responses, customers and reason rows, so the partial index of "also
played a part" mentions that the join used goes. The upgrade fills the facts
from the responses already stored.

Revision ID: b9bfe324c23d
Revises: e5b7c9d1f3a2
Create Date: 2026-12-03 13:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b9bfe324c23d'
down_revision = 'e5b7c9d1f3a2'
branch_labels = None
depends_on = None

# The facts as karn.analysis.totals computes them at this revision (monthly
# revenue in cents).
_FILL = """
INSERT INTO response_facts (response_id, customer_id, submitted_at, departed_at,
    survey_version_id, language, reason, also, segment, plan, region, source,
    tenure, revenue, monthly_revenue, lifetime_value, extra)
SELECT r.id, r.customer_id, r.submitted_at, c.departed_at, r.survey_version_id,
       r.language, r.primary_reason,
       coalesce((SELECT sum(CASE rr.reason WHEN 'service' THEN 1
                     WHEN 'quality' THEN 2 WHEN 'brand' THEN 4 WHEN 'price' THEN 8
                     WHEN 'need' THEN 16 WHEN 'other' THEN 32 END)
                 FROM response_reasons rr
                 WHERE rr.response_id = r.id AND rr.is_secondary), 0),
       c.segment, c.plan, c.region, c.source,
       CASE WHEN c.tenure_months >= 0 AND c.tenure_months < 6 THEN '0-6'
            WHEN c.tenure_months >= 6 AND c.tenure_months < 12 THEN '6-12'
            WHEN c.tenure_months >= 12 AND c.tenure_months < 24 THEN '12-24'
            WHEN c.tenure_months >= 24 AND c.tenure_months < 60 THEN '24-60'
            WHEN c.tenure_months >= 60 THEN '60+' END,
       CASE WHEN c.monthly_revenue >= 0 AND c.monthly_revenue < 2500 THEN '0-25'
            WHEN c.monthly_revenue >= 2500 AND c.monthly_revenue < 5000 THEN '25-50'
            WHEN c.monthly_revenue >= 5000 AND c.monthly_revenue < 10000 THEN '50-100'
            WHEN c.monthly_revenue >= 10000 AND c.monthly_revenue < 25000 THEN '100-250'
            WHEN c.monthly_revenue >= 25000 THEN '250+' END,
       c.monthly_revenue, c.lifetime_value, c.extra
FROM responses r
LEFT JOIN customers c ON c.id = r.customer_id
WHERE r.submitted_at IS NOT NULL
"""


def fill_statement(dialect):
    return _FILL


def upgrade():
    op.create_table('response_facts',
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('departed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('survey_version_id', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=True),
    sa.Column('also', sa.Integer(), nullable=False),
    sa.Column('segment', sa.String(length=100), nullable=True),
    sa.Column('plan', sa.String(length=100), nullable=True),
    sa.Column('region', sa.String(length=100), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=True),
    sa.Column('tenure', sa.String(length=8), nullable=True),
    sa.Column('revenue', sa.String(length=8), nullable=True),
    sa.Column('monthly_revenue', sa.BigInteger(), nullable=True),
    sa.Column('lifetime_value', sa.BigInteger(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_response_facts_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_response_facts_response_id_responses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('response_id', name=op.f('pk_response_facts'))
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # No submission between the fill and the new code's first one.
        op.execute("LOCK TABLE responses IN SHARE MODE")
    op.execute(fill_statement(bind.dialect.name))
    with op.batch_alter_table('response_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_response_facts_customer_id'), ['customer_id'], unique=False)

    with op.batch_alter_table('response_reasons', schema=None) as batch_op:
        batch_op.drop_index('ix_response_reasons_secondary')


def downgrade():
    with op.batch_alter_table('response_reasons', schema=None) as batch_op:
        batch_op.create_index('ix_response_reasons_secondary', ['reason', 'response_id'], unique=False, sqlite_where=sa.text('is_secondary = 1'), postgresql_where=sa.text('is_secondary'))

    with op.batch_alter_table('response_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_response_facts_customer_id'))

    op.drop_table('response_facts')
