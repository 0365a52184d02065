"""At risk: churn-risk model versions and the scores of current customers.

`risk_models` holds each trained churn-risk model (its evaluation and the
fitted model itself), at most one active; `risk_scores` the latest score per
active customer, ranked by revenue at risk.

Both start empty; nothing existing changes. Downgrading drops both.

Revision ID: 4b7e1f9c2a63
Revises: 8d2f6a0c4e17
Create Date: 2026-12-11 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "4b7e1f9c2a63"
down_revision = "8d2f6a0c4e17"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "risk_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_models")),
        sa.UniqueConstraint("version", name=op.f("uq_risk_models_version")),
    )
    op.create_table(
        "risk_scores",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("revenue_at_risk", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=True),
        sa.Column("likely_reason", sa.String(length=32), nullable=True),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_risk_scores_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_risk_scores")),
    )
    op.create_index(
        "ix_risk_scores_rank",
        "risk_scores",
        ["revenue_at_risk", "customer_id"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_risk_scores_rank", table_name="risk_scores")
    op.drop_table("risk_scores")
    op.drop_table("risk_models")
