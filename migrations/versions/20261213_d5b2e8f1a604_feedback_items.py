"""Feedback items from other channels.

Three new tables; nothing existing changes. `feedback_items` holds feedback
from support tickets, complaints, reviews, social media, NPS comments and
other channels, each tagged for reason and sentiment by the worker after it
is stored; `feedback_channels` the channels administrators add beside the six
built in, with a Dutch and an English name; `feedback_imports` the CSV
imports of feedback (the upload until it is imported, then the counts). All
start empty. Downgrading drops the three tables and the feedback in them.

Revision ID: d5b2e8f1a604
Revises: c3a1d7e5f902
Create Date: 2026-12-13 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "d5b2e8f1a604"
down_revision = "c3a1d7e5f902"
branch_labels = None
depends_on = None

REASONS = ("service", "quality", "brand", "price", "need", "other")


def upgrade():
    op.create_table(
        "feedback_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_nl", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_channels")),
        sa.UniqueConstraint("code", name=op.f("uq_feedback_channels_code")),
    )
    op.create_table(
        "feedback_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rating", sa.Double(), nullable=True),
        sa.Column(
            "language",
            sa.Enum(
                "nl",
                "en",
                name="language",
                native_enum=False,
                create_constraint=True,
                length=2,
            ),
            nullable=True,
        ),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("source_id", sa.String(length=200), nullable=True),
        sa.Column("dedupe_key", sa.String(length=16), nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column(
            "sentiment",
            sa.Enum(
                "negative",
                "neutral",
                "positive",
                name="sentiment",
                native_enum=False,
                create_constraint=True,
                length=8,
            ),
            nullable=True,
        ),
        sa.Column("sentiment_score", sa.Double(), nullable=True),
        sa.Column(
            "tag_reason",
            sa.Enum(
                *REASONS,
                name="reason",
                native_enum=False,
                create_constraint=True,
                length=7,
            ),
            nullable=True,
        ),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("tagged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rating >= 0 AND rating <= 100",
            name=op.f("ck_feedback_items_rating_range"),
        ),
        sa.CheckConstraint(
            "via IN ('csv', 'api', 'form')", name=op.f("ck_feedback_items_via_known")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_feedback_items_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_items")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_feedback_items_dedupe_key")),
    )
    op.create_index(
        op.f("ix_feedback_items_customer_id"),
        "feedback_items",
        ["customer_id"],
        unique=False,
    )
    op.create_index(
        "ix_feedback_items_channel_reason",
        "feedback_items",
        ["channel", "tag_reason", "received_at"],
        unique=False,
    )
    op.create_index(
        "ix_feedback_items_untagged",
        "feedback_items",
        ["id"],
        unique=False,
        sqlite_where=sa.text("tagged_at IS NULL"),
        postgresql_where=sa.text("tagged_at IS NULL"),
    )
    op.create_table(
        "feedback_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("upload", sa.LargeBinary(), nullable=True),
        sa.Column("mapping", sa.JSON(), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_feedback_imports_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_imports")),
    )


def downgrade():
    op.drop_table("feedback_imports")
    op.drop_index("ix_feedback_items_untagged", table_name="feedback_items")
    op.drop_index("ix_feedback_items_channel_reason", table_name="feedback_items")
    op.drop_index(op.f("ix_feedback_items_customer_id"), table_name="feedback_items")
    op.drop_table("feedback_items")
    op.drop_table("feedback_channels")
