"""Dashboard speed: daily reason totals, and partial indexes for the analysis pages.

reason_totals counts submitted responses per response day, survey version,
language, reason and main/"also played a part", for all respondents and per
customer segment, plan, region and source (karn.analysis.totals keeps it in
step); the upgrade fills it from the responses already stored. The indexes
serve "also played a part" counts, the comments page and the funnel.

Revision ID: b4d2f6e8a1c3
Revises: a7c3e5d1b9f2
Create Date: 2026-11-25 02:10:00.000000

"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'b4d2f6e8a1c3'
down_revision = 'a7c3e5d1b9f2'
branch_labels = None
depends_on = None

# The totals as karn.analysis.totals computes them at this revision.
_KEY = "attribute, value, day, survey_version_id, language, reason, is_secondary"
_ATTRIBUTES = ("segment", "plan", "region", "source")
_VALUE = "CASE a.attribute {} ELSE '' END".format(
    " ".join(f"WHEN '{name}' THEN c.{name}" for name in _ATTRIBUTES)
)
_ALL = " UNION ALL ".join(f"SELECT '{name}' AS attribute" for name in ("", *_ATTRIBUTES))
_DAY = {
    "postgresql": "CAST(r.submitted_at AT TIME ZONE 'UTC' AS DATE)",
    "sqlite": "substr(r.submitted_at, 1, 10)",
}
_FILL = f"""
INSERT INTO reason_totals ({_KEY}, n, monthly_revenue, lifetime_value)
SELECT {_KEY}, count(*), sum(mr), sum(ltv)
FROM (
    SELECT a.attribute, {_VALUE} AS value, {{day}} AS day, r.survey_version_id,
           r.language, r.primary_reason AS reason, FALSE AS is_secondary,
           coalesce(c.monthly_revenue, 0) AS mr, coalesce(c.lifetime_value, 0) AS ltv
    FROM responses r
    LEFT JOIN customers c ON c.id = r.customer_id
    CROSS JOIN ({_ALL}) a
    WHERE r.submitted_at IS NOT NULL AND r.primary_reason IS NOT NULL
    UNION ALL
    SELECT a.attribute, {_VALUE}, {{day}}, r.survey_version_id,
           r.language, rr.reason, TRUE, 0, 0
    FROM response_reasons rr
    JOIN responses r ON r.id = rr.response_id
    LEFT JOIN customers c ON c.id = r.customer_id
    CROSS JOIN ({_ALL}) a
    WHERE rr.is_secondary AND r.submitted_at IS NOT NULL
) AS m
WHERE value IS NOT NULL
GROUP BY {_KEY}
"""


def upgrade():
    op.create_table('reason_totals',
    sa.Column('attribute', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=100), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('survey_version_id', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('is_secondary', sa.Boolean(), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.Column('monthly_revenue', sa.BigInteger(), nullable=False),
    sa.Column('lifetime_value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('attribute', 'value', 'day', 'survey_version_id', 'language', 'reason', 'is_secondary', name=op.f('pk_reason_totals'))
    )
    bind = op.get_bind()
    bind.execute(sa.text(_FILL.format(day=_DAY[bind.dialect.name])))

    with op.batch_alter_table('response_reasons', schema=None) as batch_op:
        batch_op.create_index('ix_response_reasons_secondary', ['reason', 'response_id'], unique=False, sqlite_where=sa.text('is_secondary = 1'), postgresql_where=sa.text('is_secondary'))

    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.create_index('ix_answers_sentiment', ['response_id', 'sentiment'], unique=False, sqlite_where=sa.text('sentiment IS NOT NULL'), postgresql_where=sa.text('sentiment IS NOT NULL'))
        batch_op.create_index('ix_answers_score', ['sentiment_score', 'response_id'], unique=False, sqlite_where=sa.text('sentiment_score IS NOT NULL AND text IS NOT NULL'), postgresql_where=sa.text('sentiment_score IS NOT NULL AND text IS NOT NULL'))

    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index('ix_invitations_funnel', ['status', 'reminders_sent', 'sent_at'], unique=False)

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index('ix_customers_kept_departed', ['departed_at'], unique=False, sqlite_where=sa.text('erased_at IS NULL'), postgresql_where=sa.text('erased_at IS NULL'))


def downgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_kept_departed', sqlite_where=sa.text('erased_at IS NULL'), postgresql_where=sa.text('erased_at IS NULL'))

    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index('ix_invitations_funnel')

    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.drop_index('ix_answers_score', sqlite_where=sa.text('sentiment_score IS NOT NULL AND text IS NOT NULL'), postgresql_where=sa.text('sentiment_score IS NOT NULL AND text IS NOT NULL'))
        batch_op.drop_index('ix_answers_sentiment', sqlite_where=sa.text('sentiment IS NOT NULL'), postgresql_where=sa.text('sentiment IS NOT NULL'))

    with op.batch_alter_table('response_reasons', schema=None) as batch_op:
        batch_op.drop_index('ix_response_reasons_secondary', sqlite_where=sa.text('is_secondary = 1'), postgresql_where=sa.text('is_secondary'))

    op.drop_table('reason_totals')
