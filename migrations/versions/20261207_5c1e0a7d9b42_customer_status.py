"""Customer status: active customers beside departed ones; currency and kind of
departure.

`customers` gets `status` ('active' or 'departed'; every customer stored so far
departed), and `departed_at` may be empty: for a customer who never left, and
for a departure whose date a file did not give. Such customers have no day
to file in the funnel, so the triggers of d4ba5ef2e9be are created again
with one more condition: a customer row counts in the funnel only with a
departure date. Their invitations need no condition: only customers with a
departure date are invited.

Also on `customers`: `currency` (ISO 4217 of the amounts; empty for the
reporting currency), `involuntary` (left because paying failed) and
`trial_only` (left at the end of a trial without ever paying).

SQLite recreates the table for the changed column, which loses the index on
lower(name): it is created again. The triggers are replaced while changes to customers and invitations wait
(PostgreSQL) or run in the migration's own transaction (SQLite); the funnel's
pending changes are folded first, as d4ba5ef2e9be does.

Revision ID: 5c1e0a7d9b42
Revises: 6903adba9af0
Create Date: 2026-12-07 05:00:00.000000

"""
import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5c1e0a7d9b42'
down_revision = '6903adba9af0'
branch_labels = None
depends_on = None


def _cells():
    """The migration whose triggers are replaced (for their SQL)."""
    path = next(Path(__file__).parent.glob("*_d4ba5ef2e9be_*.py"))
    spec = importlib.util.spec_from_file_location("funnel_cells_d4ba5ef2e9be", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Where d4ba5ef2e9be's SQL counts a customer row, a departure date is needed too.
_DATED = {
    "sqlite": [
        ("WHERE NEW.erased_at IS NULL;",
         "WHERE NEW.erased_at IS NULL AND NEW.departed_at IS NOT NULL;"),
        ("WHERE OLD.erased_at IS NULL;",
         "WHERE OLD.erased_at IS NULL AND OLD.departed_at IS NOT NULL;"),
    ],
    "postgresql": [
        ("FROM new_rows w WHERE w.erased_at IS NULL",
         "FROM new_rows w WHERE w.erased_at IS NULL AND w.departed_at IS NOT NULL"),
        ("WHERE o.erased_at IS NULL AND (",
         "WHERE o.erased_at IS NULL AND o.departed_at IS NOT NULL AND ("),
        ("WHERE w.erased_at IS NULL AND (",
         "WHERE w.erased_at IS NULL AND w.departed_at IS NOT NULL AND ("),
    ],
}


def _dated(sql, dialect):
    for old, new in _DATED[dialect]:
        sql = sql.replace(old, new)
    return sql


def _create_triggers(dialect, cells, dated):
    """d4ba5ef2e9be's triggers, with the departure-date condition when dated."""
    fix = (lambda sql: _dated(sql, dialect)) if dated else (lambda sql: sql)
    if dialect != "postgresql":
        for statement in cells._sqlite_triggers():
            op.execute(fix(statement))
        return
    for name, body in cells._postgresql_functions().items():
        table = "invitations" if "invitations" in name else "customers"
        event = "INSERT" if name.endswith("inserted") else "UPDATE"
        tables = "NEW TABLE AS new_rows"
        if event == "UPDATE":
            tables = "OLD TABLE AS old_rows " + tables
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {fix(body)}; RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )


def _check_the_replacements(dialect, cells):
    """Every condition above must be found, or the triggers would count wrong."""
    if dialect == "postgresql":
        sql = " ".join(cells._postgresql_functions().values())
    else:
        sql = " ".join(cells._sqlite_triggers())
    missing = [old for old, _new in _DATED[dialect] if old not in sql]
    if missing:
        raise RuntimeError(f"trigger SQL not as expected: {missing}")


def _name_index():
    """SQLite's batch mode recreates the table without expression indexes."""
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_customers_name_lower ON customers (lower(name))"
    )


def upgrade():
    cells = _cells()
    dialect = cells._without_triggers()
    _check_the_replacements(dialect, cells)
    with op.batch_alter_table('customers') as batch_op:
        batch_op.add_column(sa.Column(
            'status', sa.Enum('active', 'departed', name='customer_status',
                              native_enum=False, create_constraint=True, length=8),
            server_default='departed', nullable=False))
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('involuntary', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('trial_only', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))
        batch_op.alter_column('departed_at', existing_type=sa.DateTime(timezone=True),
                              nullable=True)
    _name_index()
    _create_triggers(dialect, cells, dated=True)


def downgrade():
    cells = _cells()
    dialect = cells._without_triggers()
    # Customers without a departure date cannot be kept in the older schema.
    op.execute("DELETE FROM customers WHERE departed_at IS NULL")
    with op.batch_alter_table('customers') as batch_op:
        batch_op.alter_column('departed_at', existing_type=sa.DateTime(timezone=True),
                              nullable=False)
        batch_op.drop_column('trial_only')
        batch_op.drop_column('involuntary')
        batch_op.drop_column('currency')
        batch_op.drop_constraint('customer_status', type_='check')
        batch_op.drop_column('status')
    _name_index()
    _create_triggers(dialect, cells, dated=False)
