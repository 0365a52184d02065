"""Dashboard speed: the funnel's totals, kept by triggers on customers and invitations.

`funnel_totals` holds, per departure day, how many customers departed (not
erased) and how many invitations are in each status, with their reminders
and whether they were sent: for everyone and per segment, plan, region,
source, tenure band and revenue band. Every path that changes an invitation
or a customer (the ORM, bulk UPDATEs, SQL typed by hand) goes through the
database, so triggers on those two tables write what changed to
`funnel_changes` (insert only: concurrent writers never wait on each other
there), and karn.analysis.funnel folds those rows into the totals.

Customers and invitations are never deleted, so there are no DELETE
triggers. On SQLite, a later migration that recreates either table (a batch
operation that copies it) must create these triggers again: the test of the
migrations checks that they are there at head.

The upgrade fills the totals from the rows already stored.

Revision ID: e5b7c9d1f3a2
Revises: c6e8a2f4b1d7
Create Date: 2026-12-03 12:00:00.000000

"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'e5b7c9d1f3a2'
down_revision = 'c6e8a2f4b1d7'
branch_labels = None
depends_on = None

# The customer attributes as karn.analysis.totals computes them at this
# revision, over the customer row p (monthly revenue in cents).
def _tenure(p):
    return (
        f"CASE WHEN {p}.tenure_months >= 0 AND {p}.tenure_months < 6 THEN '0-6' "
        f"WHEN {p}.tenure_months >= 6 AND {p}.tenure_months < 12 THEN '6-12' "
        f"WHEN {p}.tenure_months >= 12 AND {p}.tenure_months < 24 THEN '12-24' "
        f"WHEN {p}.tenure_months >= 24 AND {p}.tenure_months < 60 THEN '24-60' "
        f"WHEN {p}.tenure_months >= 60 THEN '60+' END"
    )


def _revenue(p):
    return (
        f"CASE WHEN {p}.monthly_revenue >= 0 AND {p}.monthly_revenue < 2500 THEN '0-25' "
        f"WHEN {p}.monthly_revenue >= 2500 AND {p}.monthly_revenue < 5000 THEN '25-50' "
        f"WHEN {p}.monthly_revenue >= 5000 AND {p}.monthly_revenue < 10000 THEN '50-100' "
        f"WHEN {p}.monthly_revenue >= 10000 AND {p}.monthly_revenue < 25000 THEN '100-250' "
        f"WHEN {p}.monthly_revenue >= 25000 THEN '250+' END"
    )


def _values(p):
    return f"{p}.segment, {p}.plan, {p}.region, {p}.source, {_tenure(p)}, {_revenue(p)}"


_DAY = {
    "postgresql": "CAST({}.departed_at AT TIME ZONE 'UTC' AS DATE)",
    "sqlite": "substr({}.departed_at, 1, 10)",
}
_COLUMNS = "day, stage, reminders_sent, sent, n, segment, plan, region, source, tenure, revenue"
_TRACKED = ("segment", "plan", "region", "source", "tenure_months", "monthly_revenue", "departed_at")


def _differ(dialect, a, b, columns):
    op_ = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
    return " OR ".join(f"{a}.{c} {op_} {b}.{c}" for c in columns)


def _invitation_changed(dialect, a, b):
    return (
        _differ(dialect, a, b, ("status", "reminders_sent", "customer_id"))
        + f" OR ({a}.sent_at IS NULL) <> ({b}.sent_at IS NULL)"
    )


def _sqlite_triggers():
    day = _DAY["sqlite"].format
    moved = _differ("sqlite", "OLD", "NEW", _TRACKED)
    invitation_row = (
        "INSERT INTO funnel_changes ({cols}) "
        "SELECT {day}, {row}.status, {row}.reminders_sent, {row}.sent_at IS NOT NULL, "
        "{n}, {values} FROM customers c WHERE c.id = {row}.customer_id;"
    )
    customer_row = (
        "INSERT INTO funnel_changes ({cols}) "
        "SELECT {day}, 'departed', 0, 0, {n}, {values} WHERE {row}.erased_at IS NULL;"
    )
    invitations_of = (
        "INSERT INTO funnel_changes ({cols}) "
        "SELECT {day}, i.status, i.reminders_sent, i.sent_at IS NOT NULL, {n}, {values} "
        "FROM invitations i WHERE i.customer_id = {row}.id AND ({moved});"
    )
    c = dict(cols=_COLUMNS, values=_values("c"), day=day("c"))
    return [
        "CREATE TRIGGER funnel_invitation_inserted AFTER INSERT ON invitations "
        "BEGIN " + invitation_row.format(row="NEW", n=1, **c) + " END",
        "CREATE TRIGGER funnel_invitation_updated "
        "AFTER UPDATE OF status, reminders_sent, sent_at, customer_id ON invitations "
        f"WHEN {_invitation_changed('sqlite', 'OLD', 'NEW')} BEGIN "
        + invitation_row.format(row="OLD", n=-1, **c)
        + " "
        + invitation_row.format(row="NEW", n=1, **c)
        + " END",
        "CREATE TRIGGER funnel_customer_inserted AFTER INSERT ON customers BEGIN "
        + customer_row.format(
            cols=_COLUMNS, day=day("NEW"), n=1, values=_values("NEW"), row="NEW"
        )
        + " END",
        "CREATE TRIGGER funnel_customer_updated AFTER UPDATE OF "
        + ", ".join((*_TRACKED, "erased_at"))
        + f" ON customers WHEN {moved} "
        "OR (OLD.erased_at IS NULL) <> (NEW.erased_at IS NULL) BEGIN "
        + " ".join(
            template.format(
                cols=_COLUMNS, day=day(row), n=n, values=_values(row), row=row, moved=moved
            )
            for template in (customer_row, invitations_of)
            for row, n in (("OLD", -1), ("NEW", 1))
        )
        + " END",
    ]


_SQLITE_TRIGGERS = (
    "funnel_invitation_inserted",
    "funnel_invitation_updated",
    "funnel_customer_inserted",
    "funnel_customer_updated",
)


def _postgresql_triggers():
    day = _DAY["postgresql"].format
    changed = _invitation_changed("postgresql", "o", "w")
    moved = _differ("postgresql", "o", "w", _TRACKED)
    both = "FROM old_rows o JOIN new_rows w ON w.id = o.id"
    functions = {
        "funnel_invitations_inserted": f"""
            INSERT INTO funnel_changes ({_COLUMNS})
            SELECT {day('c')}, w.status, w.reminders_sent, w.sent_at IS NOT NULL, 1,
                   {_values('c')}
            FROM new_rows w JOIN customers c ON c.id = w.customer_id""",
        "funnel_invitations_updated": f"""
            INSERT INTO funnel_changes ({_COLUMNS})
            SELECT {day('c')}, x.status, x.reminders_sent, x.sent_at IS NOT NULL, x.n,
                   {_values('c')}
            FROM (
                SELECT o.customer_id, o.status, o.reminders_sent, o.sent_at, -1 AS n
                {both} WHERE {changed}
                UNION ALL
                SELECT w.customer_id, w.status, w.reminders_sent, w.sent_at, 1
                {both} WHERE {changed}
            ) AS x JOIN customers c ON c.id = x.customer_id""",
        "funnel_customers_inserted": f"""
            INSERT INTO funnel_changes ({_COLUMNS})
            SELECT {day('w')}, 'departed', 0, FALSE, 1, {_values('w')}
            FROM new_rows w WHERE w.erased_at IS NULL""",
        "funnel_customers_updated": f"""
            INSERT INTO funnel_changes ({_COLUMNS})
            SELECT {day('o')}, 'departed', 0, FALSE, -1, {_values('o')} {both}
            WHERE o.erased_at IS NULL AND ({moved} OR w.erased_at IS NOT NULL)
            UNION ALL
            SELECT {day('w')}, 'departed', 0, FALSE, 1, {_values('w')} {both}
            WHERE w.erased_at IS NULL AND ({moved} OR o.erased_at IS NOT NULL)
            UNION ALL
            SELECT {day('o')}, i.status, i.reminders_sent, i.sent_at IS NOT NULL, -1,
                   {_values('o')}
            {both} JOIN invitations i ON i.customer_id = o.id WHERE {moved}
            UNION ALL
            SELECT {day('w')}, i.status, i.reminders_sent, i.sent_at IS NOT NULL, 1,
                   {_values('w')}
            {both} JOIN invitations i ON i.customer_id = w.id WHERE {moved}""",
    }
    statements = []
    for name, body in functions.items():
        table = "invitations" if "invitations" in name else "customers"
        event = "INSERT" if name.endswith("inserted") else "UPDATE"
        tables = "NEW TABLE AS new_rows"
        if event == "UPDATE":
            tables = "OLD TABLE AS old_rows " + tables
        statements += [
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body}; RETURN NULL; END $$",
            # Once per statement, over all the rows it changed: an import's
            # batch of a thousand customers is one INSERT ... SELECT here.
            f"CREATE TRIGGER {name} AFTER {event} ON {table} "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
        ]
    return statements, list(functions)


_ATTRIBUTES = ("segment", "plan", "region", "source", "tenure", "revenue")
_KEY = "attribute, value, day, stage, reminders_sent, sent"
# Each fact under everyone ('') and under each attribute's value.
_EXPAND = " UNION ALL ".join(
    f"SELECT '{a}' AS attribute" for a in ("", *_ATTRIBUTES)
)
_VALUE = "CASE a.attribute {} ELSE '' END".format(
    " ".join(f"WHEN '{a}' THEN f.{a}" for a in _ATTRIBUTES)
)


def fill_statement(dialect):
    """The totals of the customers and invitations stored (as rebuilding does)."""
    day = _DAY[dialect].format("c")
    false = "FALSE" if dialect == "postgresql" else "0"
    values = (
        "c.segment AS segment, c.plan AS plan, c.region AS region, "
        f"c.source AS source, {_tenure('c')} AS tenure, {_revenue('c')} AS revenue"
    )
    facts = f"""
        SELECT {day} AS day, i.status AS stage, i.reminders_sent AS reminders_sent,
               i.sent_at IS NOT NULL AS sent, 1 AS n, {values}
        FROM invitations i JOIN customers c ON c.id = i.customer_id
        UNION ALL
        SELECT {day}, 'departed', 0, {false}, 1, {values}
        FROM customers c WHERE c.erased_at IS NULL
    """
    return f"""
        INSERT INTO funnel_totals ({_KEY}, n)
        SELECT {_KEY}, sum(n) FROM (
            SELECT a.attribute, {_VALUE} AS value, f.day, f.stage, f.reminders_sent,
                   f.sent, f.n
            FROM ({facts}) AS f CROSS JOIN ({_EXPAND}) AS a
        ) AS m
        WHERE value IS NOT NULL
        GROUP BY {_KEY}
    """


def upgrade():
    op.create_table('funnel_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('reminders_sent', sa.Integer(), nullable=False),
    sa.Column('sent', sa.Boolean(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('segment', sa.String(length=100), nullable=True),
    sa.Column('plan', sa.String(length=100), nullable=True),
    sa.Column('region', sa.String(length=100), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=True),
    sa.Column('tenure', sa.String(length=8), nullable=True),
    sa.Column('revenue', sa.String(length=8), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_funnel_changes'))
    )
    op.create_table('funnel_totals',
    sa.Column('attribute', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=100), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('reminders_sent', sa.Integer(), nullable=False),
    sa.Column('sent', sa.Boolean(), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('attribute', 'value', 'day', 'stage', 'reminders_sent', 'sent', name=op.f('pk_funnel_totals'))
    )
    bind = op.get_bind()
    dialect = bind.dialect.name
    if dialect == "postgresql":
        # No customer or invitation changes between the fill and the triggers.
        op.execute("LOCK TABLE customers, invitations IN SHARE MODE")
        statements, _names = _postgresql_triggers()
    else:
        statements = _sqlite_triggers()
    op.execute(fill_statement(dialect))
    for statement in statements:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name in _postgresql_triggers()[1]:
            table = "invitations" if "invitations" in name else "customers"
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION {name}()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table('funnel_totals')
    op.drop_table('funnel_changes')
