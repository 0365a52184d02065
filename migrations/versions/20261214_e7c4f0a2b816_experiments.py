"""Follow-ups, campaigns and keep calls with control groups.

Adds two tables: ``experiments`` (what is tried, by whom, from when, the
horizon in days and the share treated) and ``experiment_assignments`` (each
customer drawn into an experiment: treated or held back, the random draw that
decided it, when, until when, and the monthly revenue at that moment). The
call list's ``call_tasks.source`` accepts a new value, ``keep_call``.

Existing installs: both tables start empty; existing call tasks keep their
sources. Nothing else changes.

Revision ID: e7c4f0a2b816
Revises: d5b2e8f1a604
Create Date: 2026-12-14 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e7c4f0a2b816"
down_revision = "d5b2e8f1a604"
branch_labels = None
depends_on = None

OLD_SOURCES = ("requested", "high_value", "selection", "manual")
NEW_SOURCES = (*OLD_SOURCES, "keep_call")


def _sources(values: tuple[str, ...]) -> str:
    return "source IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _replace_source_check(values: tuple[str, ...]) -> None:
    """SQLite copies call_tasks to a new table and drops the old one. With
    foreign keys on, that drop sets every call note's task to NULL (ON DELETE
    SET NULL): the notes' tasks are noted first and put back afterwards."""
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    links = []
    if sqlite:
        links = [
            {"i": i, "t": t}
            for i, t in conn.execute(
                sa.text("SELECT id, task_id FROM call_notes WHERE task_id IS NOT NULL")
            )
        ]
    with op.batch_alter_table("call_tasks") as batch_op:
        batch_op.drop_constraint(op.f("ck_call_tasks_call_task_source"), type_="check")
        batch_op.create_check_constraint("call_task_source", _sources(values))
    if links:
        conn.execute(
            sa.text(
                "UPDATE call_notes SET task_id = :t WHERE id = :i AND "
                "EXISTS (SELECT 1 FROM call_tasks WHERE call_tasks.id = :t)"
            ),
            links,
        )


def upgrade():
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "keep_call",
                "follow_up",
                "campaign",
                name="experiment_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("treatment_share", sa.Float(), nullable=False),
        sa.CheckConstraint(
            "horizon_days >= 1 AND horizon_days <= 3650",
            name=op.f("ck_experiments_horizon_days_range"),
        ),
        sa.CheckConstraint(
            "treatment_share > 0 AND treatment_share < 1",
            name=op.f("ck_experiments_share_range"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_experiments_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
    )
    op.create_index("ix_experiments_kind", "experiments", ["kind"], unique=False)
    op.create_table(
        "experiment_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column(
            "group",
            sa.Enum(
                "treated",
                "held_back",
                name="experiment_group",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("draw", sa.Float(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revenue", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.CheckConstraint(
            "draw >= 0 AND draw < 1", name=op.f("ck_experiment_assignments_draw_range")
        ),
        sa.CheckConstraint(
            "revenue >= 0",
            name=op.f("ck_experiment_assignments_revenue_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_experiment_assignments_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_assignments_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_assignments")),
        sa.UniqueConstraint(
            "experiment_id",
            "customer_id",
            name=op.f("uq_experiment_assignments_experiment_id"),
        ),
    )
    op.create_index(
        "ix_experiment_assignments_open",
        "experiment_assignments",
        ["customer_id", "ends_at"],
        unique=False,
    )
    op.create_index(
        "ix_experiment_assignments_held_back",
        "experiment_assignments",
        ["group", "ends_at"],
        unique=False,
    )
    _replace_source_check(NEW_SOURCES)


def downgrade():
    # Keep-call tasks have no source the older code knows: they go.
    op.execute("DELETE FROM call_tasks WHERE source = 'keep_call'")
    _replace_source_check(OLD_SOURCES)
    op.drop_index(
        "ix_experiment_assignments_held_back", table_name="experiment_assignments"
    )
    op.drop_index("ix_experiment_assignments_open", table_name="experiment_assignments")
    op.drop_table("experiment_assignments")
    op.drop_index("ix_experiments_kind", table_name="experiments")
    op.drop_table("experiments")
