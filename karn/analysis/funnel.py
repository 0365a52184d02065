"""The funnel's totals: departed customers and invitations per stage, per departure day.

Triggers on `customers` and `invitations` (created by the migration that adds
these tables) write every change to what the funnel counts into
`funnel_changes`, one row per customer or invitation leaving (-1) or
entering (+1) a place, with the customer's attribute values. Writing only
new rows, concurrent transactions never wait for each other there, and no
code path (ORM, bulk UPDATE, SQL typed by hand) can forget to.

`compact` folds those rows into `funnel_totals` (per departure day, stage,
reminders sent and sent or not; for everyone and per value of each attribute
in `karn.analysis.totals.ATTRIBUTES`) and deletes them; the worker does it on
every pass. `counts` reads the totals plus the rows not yet folded in, so
what it returns is always current. `rebuild` recomputes both tables from the
customers and invitations (`flask analysis rebuild-totals`), after a restore
or anything else that went past the triggers.
"""

import sqlalchemy as sa

from karn.analysis import totals
from karn.analysis.models import FunnelChange, FunnelTotal

# The stage of a customer row: departed and not erased.
DEPARTED = "departed"

_KEY = "attribute, value, day, stage, reminders_sent, sent"
_FACT = "day, stage, reminders_sent, sent, n, " + ", ".join(totals.ATTRIBUTES)
_EXPAND = " UNION ALL ".join(
    f"SELECT '{name}' AS attribute" for name in ("", *totals.ATTRIBUTES)
)
_VALUE = "CASE a.attribute {} ELSE '' END".format(
    " ".join(f"WHEN '{name}' THEN f.{name}" for name in totals.ATTRIBUTES)
)
# Facts (rows shaped like funnel_changes, as f) added to the totals under
# everyone and under each attribute's value. Ordered by the key, so two
# writers would take the rows they share in the same order.
_FOLD = f"""
INSERT INTO funnel_totals ({_KEY}, n)
SELECT {_KEY}, sum(n) FROM (
    SELECT a.attribute, {_VALUE} AS value, f.day, f.stage, f.reminders_sent,
           f.sent, f.n
    FROM ({{facts}}) AS f CROSS JOIN ({_EXPAND}) AS a
) AS m
WHERE value IS NOT NULL
GROUP BY {_KEY}
ORDER BY {_KEY}
ON CONFLICT ({_KEY}) DO UPDATE SET n = funnel_totals.n + excluded.n
"""


def _stored_facts(dialect: str) -> str:
    """Every invitation and every customer not erased, as facts."""
    values = ", ".join(
        f"{sql} AS {name}" for name, sql in totals.CUSTOMER_VALUES.items()
    )
    false = "FALSE" if dialect == "postgresql" else "0"
    day = totals.UTC_DAY[dialect].format("c.departed_at")
    return f"""
        SELECT {day} AS day, i.status AS stage,
               i.reminders_sent AS reminders_sent, i.sent_at IS NOT NULL AS sent,
               1 AS n, {values}
        FROM invitations i JOIN customers c ON c.id = i.customer_id
        UNION ALL
        SELECT {day}, '{DEPARTED}', 0, {false}, 1, {values}
        FROM customers c WHERE c.erased_at IS NULL
    """


def compact(conn: sa.Connection) -> int:
    """Fold the changes written so far into the totals; returns how many."""
    if conn.dialect.name == "postgresql":
        # One compaction at a time (readers are not held up), in one
        # statement, so the rows deleted are exactly the rows added: a change
        # committed meanwhile waits for the next compaction.
        conn.execute(sa.text("LOCK TABLE funnel_totals IN SHARE ROW EXCLUSIVE MODE"))
        fold = _FOLD.format(facts="SELECT * FROM moved")
        return conn.execute(
            sa.text(
                f"WITH moved AS (DELETE FROM funnel_changes RETURNING {_FACT}), "
                f"folded AS ({fold}) SELECT count(*) FROM moved"
            )
        ).scalar_one()
    last = conn.execute(sa.select(sa.func.max(FunnelChange.id))).scalar()
    if last is None:
        return 0
    fold = _FOLD.format(facts=f"SELECT {_FACT} FROM funnel_changes WHERE id <= :last")
    conn.execute(sa.text(fold), {"last": last})
    return conn.execute(sa.delete(FunnelChange).where(FunnelChange.id <= last)).rowcount


def rebuild(conn: sa.Connection) -> int:
    """Recompute the totals from the customers and invitations; returns the rows."""
    if conn.dialect.name == "postgresql":
        # Changes to customers and invitations wait until the new totals are
        # committed (their triggers write to funnel_changes).
        conn.execute(
            sa.text("LOCK TABLE funnel_totals, funnel_changes IN EXCLUSIVE MODE")
        )
    conn.execute(sa.delete(FunnelChange))
    conn.execute(sa.delete(FunnelTotal))
    conn.execute(sa.text(_FOLD.format(facts=_stored_facts(conn.dialect.name))))
    return conn.execute(
        sa.select(sa.func.count()).select_from(FunnelTotal)
    ).scalar_one()


def counts(scope: tuple[str, str], since=None, until=None) -> sa.Select:
    """SELECT of (stage, reminders_sent, sent, n) for the customers departed in
    [since, until] with that attribute value ('' for everyone): the totals
    plus the changes not yet folded in."""
    attribute, value = scope
    t, c = FunnelTotal, FunnelChange

    def period(day) -> list:
        conds = []
        if since:
            conds.append(day >= since)
        if until:
            conds.append(day <= until)
        return conds

    folded = sa.select(t.stage, t.reminders_sent, t.sent, t.n).where(
        t.attribute == attribute, t.value == value, *period(t.day)
    )
    pending = sa.select(c.stage, c.reminders_sent, c.sent, c.n).where(*period(c.day))
    if attribute:
        pending = pending.where(getattr(c, attribute) == value)
    both = sa.union_all(folded, pending).subquery()
    return sa.select(
        both.c.stage, both.c.reminders_sent, both.c.sent, sa.func.sum(both.c.n)
    ).group_by(both.c.stage, both.c.reminders_sent, both.c.sent)
