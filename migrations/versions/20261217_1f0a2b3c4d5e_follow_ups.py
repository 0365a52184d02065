"""Follow-up mails by reason.

Adds ``follow_ups``: one row per departure reason with whether its follow-up
is on, the days after answering it goes out, its experiment (the control
group), how far the worker has looked, and the subject, text and optional
offer line in Dutch and English; and an index on ``responses`` by main
reason and time of submission, for the worker's pass every minute.

Existing installs: the table starts empty, so no follow-up is on and nothing
is mailed until a manager writes one and switches it on.

Revision ID: 1f0a2b3c4d5e
Revises: 0a1e7b5c3d49
Create Date: 2026-12-17 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "1f0a2b3c4d5e"
down_revision = "0a1e7b5c3d49"
branch_labels = None
depends_on = None

REASONS = ("service", "quality", "brand", "price", "need", "other")


def upgrade():
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "reason",
            sa.Enum(*REASONS, name="reason", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("delay_days", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.Column("active_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scanned_id", sa.Integer(), nullable=True),
        sa.Column("subject_nl", sa.String(length=200), nullable=True),
        sa.Column("body_nl", sa.Text(), nullable=True),
        sa.Column("offer_nl", sa.String(length=300), nullable=True),
        sa.Column("subject_en", sa.String(length=200), nullable=True),
        sa.Column("body_en", sa.Text(), nullable=True),
        sa.Column("offer_en", sa.String(length=300), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "delay_days >= 1 AND delay_days <= 365",
            name=op.f("ck_follow_ups_delay_days_range"),
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_follow_ups_experiment_id_experiments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_follow_ups_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
        sa.UniqueConstraint("reason", name=op.f("uq_follow_ups_reason")),
    )
    # The worker's question every minute: a reason's responses submitted
    # after the follow-up's cursor, in order.
    op.create_index(
        "ix_responses_reason_submitted",
        "responses",
        ["primary_reason", "submitted_at", "id"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_responses_reason_submitted", table_name="responses")
    op.drop_table("follow_ups")
