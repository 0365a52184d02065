"""Dashboard speed: daily reason totals per tenure band, revenue band and departure day.

karn.analysis.totals now also keeps the totals under the customer's tenure
band and monthly revenue band, and once more by departure day instead of
response day, so those filters are answered from the totals too. The upgrade
adds those rows for the responses already stored.

The index of invitations by customer now also holds the funnel's columns, so
the funnel for a filtered set of customers reads no invitation rows.

Revision ID: c6e8a2f4b1d7
Revises: b4d2f6e8a1c3
Create Date: 2026-11-25 07:00:00.000000

"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'c6e8a2f4b1d7'
down_revision = 'b4d2f6e8a1c3'
branch_labels = None
depends_on = None

# The new rows as karn.analysis.totals computes them at this revision.
_KEY = "attribute, value, day, survey_version_id, language, reason, is_secondary"
_TENURE = (
    "CASE WHEN c.tenure_months >= 0 AND c.tenure_months < 6 THEN '0-6' "
    "WHEN c.tenure_months >= 6 AND c.tenure_months < 12 THEN '6-12' "
    "WHEN c.tenure_months >= 12 AND c.tenure_months < 24 THEN '12-24' "
    "WHEN c.tenure_months >= 24 AND c.tenure_months < 60 THEN '24-60' "
    "WHEN c.tenure_months >= 60 THEN '60+' END"
)
# Monthly revenue in cents.
_REVENUE = (
    "CASE WHEN c.monthly_revenue >= 0 AND c.monthly_revenue < 2500 THEN '0-25' "
    "WHEN c.monthly_revenue >= 2500 AND c.monthly_revenue < 5000 THEN '25-50' "
    "WHEN c.monthly_revenue >= 5000 AND c.monthly_revenue < 10000 THEN '50-100' "
    "WHEN c.monthly_revenue >= 10000 AND c.monthly_revenue < 25000 THEN '100-250' "
    "WHEN c.monthly_revenue >= 25000 THEN '250+' END"
)
_VALUE = f"CASE a.attribute WHEN 'tenure' THEN {_TENURE} WHEN 'revenue' THEN {_REVENUE} ELSE '' END"
_NEW = ("tenure", "revenue", "departed")
_ALL = " UNION ALL ".join(f"SELECT '{name}' AS attribute" for name in _NEW)
_DAY = {
    "postgresql": "CAST({} AT TIME ZONE 'UTC' AS DATE)",
    "sqlite": "substr({}, 1, 10)",
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
WHERE value IS NOT NULL AND day IS NOT NULL
GROUP BY {_KEY}
"""


def fill_statement(dialect: str) -> str:
    day = _DAY[dialect]
    return _FILL.format(
        day=f"CASE a.attribute WHEN 'departed' THEN {day.format('c.departed_at')} "
        f"ELSE {day.format('r.submitted_at')} END"
    )


_DELETE = "DELETE FROM reason_totals WHERE attribute IN ('tenure', 'revenue', 'departed')"


def upgrade():
    bind = op.get_bind()
    # Submissions served by the new code before this upgrade may have added
    # some of these rows already: they are counted afresh.
    bind.execute(sa.text(_DELETE))
    bind.execute(sa.text(fill_statement(bind.dialect.name)))

    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index('ix_invitations_customer_funnel', ['customer_id', 'status', 'reminders_sent', 'sent_at'], unique=False)
        batch_op.drop_index('ix_invitations_customer_id')


def downgrade():
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index('ix_invitations_customer_id', ['customer_id'], unique=False)
        batch_op.drop_index('ix_invitations_customer_funnel')

    op.execute(_DELETE)
