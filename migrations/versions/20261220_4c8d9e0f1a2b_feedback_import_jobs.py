"""Feedback import jobs: the worker imports a confirmed feedback CSV file.

`feedback_imports` gets what the worker needs to run an import in the
background and to go on after a crash: whether dates are month first, about
how many rows to expect (for the progress shown), which worker holds it and
when it last committed a batch, and why a failed import stopped. Existing
imports are finished ones; they keep their counts.

The partial index of the items waiting to be tagged leaves out items without
text (erased before they were tagged): the pages count the waiting items
from the index alone, which with a million items just imported took a look
at every row.

Revision ID: 4c8d9e0f1a2b
Revises: 3b7c8d9e0f1a
Create Date: 2026-12-20 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "4c8d9e0f1a2b"
down_revision = "3b7c8d9e0f1a"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("feedback_imports") as batch_op:
        batch_op.add_column(
            sa.Column(
                "month_first", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("expected_rows", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("claimed_by", sa.String(length=100), nullable=True)
        )
        batch_op.add_column(
            sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("error", sa.JSON(), nullable=True))
    _untagged_index("tagged_at IS NULL AND text IS NOT NULL")


def _untagged_index(where: str) -> None:
    op.drop_index("ix_feedback_items_untagged", table_name="feedback_items")
    op.create_index(
        "ix_feedback_items_untagged",
        "feedback_items",
        ["id"],
        unique=False,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def downgrade():
    _untagged_index("tagged_at IS NULL")
    # An import still waiting for the worker cannot be run by the older code,
    # which imported in the request: it goes back to its mapping page.
    op.execute(
        "UPDATE feedback_imports SET status = 'pending' "
        "WHERE status IN ('queued', 'running') AND upload IS NOT NULL"
    )
    op.execute(
        "UPDATE feedback_imports SET status = 'failed' "
        "WHERE status IN ('queued', 'running')"
    )
    with op.batch_alter_table("feedback_imports") as batch_op:
        batch_op.drop_column("error")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("expected_rows")
        batch_op.drop_column("month_first")
