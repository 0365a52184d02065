"""We fixed it campaigns: a mail from an improvement action, with a control group.

Adds one table, ``campaigns``: the action it came from, its experiment (who
was mailed, who held back), the reason and period of departure it went to, the
subject and text in Dutch and English, the share mailed, the counts at sending
(matched, eligible, mailed, held back, left out per rule), who sent it and
when, and a unique key that keeps a second confirm from sending it again.

Existing installs: the table starts empty; nothing else changes.

Revision ID: 2a6b7c8d9e0f
Revises: 1f0a2b3c4d5e
Create Date: 2026-12-18 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "2a6b7c8d9e0f"
down_revision = "1f0a2b3c4d5e"
branch_labels = None
depends_on = None


REASONS = ("service", "quality", "brand", "price", "need", "other")


def upgrade():
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.Column(
            "reason",
            sa.Enum(*REASONS, name="reason", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("period_since", sa.Date(), nullable=False),
        sa.Column("period_until", sa.Date(), nullable=False),
        sa.Column("subject_nl", sa.String(length=200), nullable=False),
        sa.Column("body_nl", sa.Text(), nullable=False),
        sa.Column("subject_en", sa.String(length=200), nullable=False),
        sa.Column("body_en", sa.Text(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("eligible", sa.Integer(), nullable=False),
        sa.Column("mailed", sa.Integer(), nullable=False),
        sa.Column("held_back", sa.Integer(), nullable=False),
        sa.Column("excluded", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "period_until >= period_since",
            name=op.f("ck_campaigns_period_in_order"),
        ),
        sa.CheckConstraint(
            "share > 0 AND share < 1", name=op.f("ck_campaigns_share_range")
        ),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["improvement_actions.id"],
            name=op.f("fk_campaigns_action_id_improvement_actions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_campaigns_experiment_id_experiments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_campaigns_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("key", name=op.f("uq_campaigns_key")),
        sa.UniqueConstraint("experiment_id", name=op.f("uq_campaigns_experiment_id")),
    )
    op.create_index("ix_campaigns_action_id", "campaigns", ["action_id"], unique=False)


def downgrade():
    op.drop_index("ix_campaigns_action_id", table_name="campaigns")
    op.drop_table("campaigns")
