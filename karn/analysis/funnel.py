"""The funnel's totals: departed customers and invitations per stage, per departure day.

Triggers on `customers` and `invitations` (created by the migrations that add
these tables) write every change to what the funnel counts into
`funnel_changes`, one row per customer or invitation leaving (-1) or
entering (+1) a place, with the customer's attribute values and imported
attributes. Writing only new rows, concurrent transactions never wait for
each other there, and no code path (ORM, bulk UPDATE, SQL typed by hand) can
forget to.

`compact` folds those rows into two tables and deletes them; the worker does
it on every pass:

- `funnel_totals`, per departure day, stage, reminders sent and sent or not,
  for everyone and per value of each attribute in
  `karn.analysis.totals.ATTRIBUTES`: what a filter on at most one of those
  reads (`counts`);
- `funnel_cells`, the funnel's numbers (COUNTS) per departure day and
  combination of all the customer's values: what any other filter sums
  (`cell_counts`), one row per customer at most instead of a join of
  customers and invitations.

Both readers add the rows not yet folded in, so what they return is always
current. `rebuild` recomputes both tables from the customers and invitations
(`flask analysis rebuild-totals`), after a restore or anything else that went
past the triggers.
"""

import sqlalchemy as sa

from karn.analysis import totals
from karn.analysis.models import (
    EMPTY_CELL,
    FUNNEL_COUNTS,
    FunnelCell,
    FunnelChange,
    FunnelTotal,
)

# The stage of a customer row: departed and not erased.
DEPARTED = "departed"
_FAILED = ("bounced", "failed")


def _counted(row) -> dict:
    """What the funnel shows, as expressions to sum over rows shaped like
    funnel_changes (stage, reminders_sent, sent, n): how many customers
    departed, and how many invitations were sent, delivered (sent and neither
    bounced nor failed), answered (in all and after 0, 1 or 2 reminders),
    bounced and unsubscribed."""

    def n_if(*conditions):
        return sa.case((sa.and_(*conditions), row.n), else_=0)

    invitation = row.stage != DEPARTED
    responded = row.stage == "responded"
    return {
        "departed": n_if(row.stage == DEPARTED),
        "invited": n_if(invitation, row.sent),
        "delivered": n_if(invitation, row.stage.not_in(_FAILED), row.sent),
        "responded": n_if(responded),
        **{f"after_{r}": n_if(responded, row.reminders_sent == r) for r in range(3)},
        "bounced": n_if(row.stage == "bounced"),
        "unsubscribed": n_if(row.stage == "unsubscribed"),
    }


_ROW = sa.table(
    "f", *(sa.column(name) for name in ("stage", "reminders_sent", "sent", "n"))
)
COUNTS = tuple(_counted(_ROW.c))
assert COUNTS == FUNNEL_COUNTS, "the cells' columns are the funnel's numbers"

_KEY = "attribute, value, day, stage, reminders_sent, sent"
_FACT = "day, stage, reminders_sent, sent, n, " + ", ".join(
    (*totals.ATTRIBUTES, "extra")
)
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
_CELL_KEY = ("day", *totals.ATTRIBUTES, "extra")
_EMPTY = {"postgresql": "'{}'::jsonb", "sqlite": "'{}'"}


def _cell_fold(dialect: str, facts: str) -> str:
    """The INSERT that adds facts (rows shaped like funnel_changes) to the cells."""
    counted = _counted(_ROW.c)
    sums = ", ".join(
        "sum({})".format(expression.compile(compile_kwargs={"literal_binds": True}))
        for expression in counted.values()
    )
    keys = ", ".join(
        [
            "f.day",
            *(f"coalesce(f.{name}, '')" for name in totals.ATTRIBUTES),
            f"coalesce(f.extra, {_EMPTY[dialect]})",
        ]
    )
    places = ", ".join(str(i + 1) for i in range(len(_CELL_KEY)))
    return f"""
        INSERT INTO funnel_cells ({", ".join(_CELL_KEY)}, {", ".join(counted)})
        SELECT {keys}, {sums}
        FROM ({facts}) AS f
        WHERE TRUE
        GROUP BY {places}
        ORDER BY {places}
        ON CONFLICT ({", ".join(_CELL_KEY)}) DO UPDATE SET {
        ", ".join(f"{name} = funnel_cells.{name} + excluded.{name}" for name in counted)
    }
    """


def _stored_facts(dialect: str) -> str:
    """Every invitation and every customer not erased with a departure date
    (as the triggers count them), as facts."""
    values = ", ".join(
        f"{sql} AS {name}" for name, sql in totals.CUSTOMER_VALUES.items()
    )
    extra = "CAST(c.extra AS jsonb)" if dialect == "postgresql" else "c.extra"
    false = "FALSE" if dialect == "postgresql" else "0"
    day = totals.UTC_DAY[dialect].format("c.departed_at")
    return f"""
        SELECT {day} AS day, i.status AS stage,
               i.reminders_sent AS reminders_sent, i.sent_at IS NOT NULL AS sent,
               1 AS n, {values}, {extra} AS extra
        FROM invitations i JOIN customers c ON c.id = i.customer_id
        UNION ALL
        SELECT {day}, '{DEPARTED}', 0, {false}, 1, {values}, {extra}
        FROM customers c WHERE c.erased_at IS NULL AND c.departed_at IS NOT NULL
    """


def compact(conn: sa.Connection) -> int:
    """Fold the changes written so far into the totals and cells; returns how many."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # One compaction at a time (readers are not held up), in one
        # statement, so the rows deleted are exactly the rows added: a change
        # committed meanwhile waits for the next compaction.
        conn.execute(sa.text("LOCK TABLE funnel_totals IN SHARE ROW EXCLUSIVE MODE"))
        moved = "SELECT * FROM moved"
        count = conn.execute(
            sa.text(
                f"WITH moved AS (DELETE FROM funnel_changes RETURNING {_FACT}), "
                f"folded AS ({_FOLD.format(facts=moved)}), "
                f"celled AS ({_cell_fold(dialect, moved)}) "
                "SELECT count(*) FROM moved"
            )
        ).scalar_one()
    else:
        last = conn.execute(sa.select(sa.func.max(FunnelChange.id))).scalar()
        if last is None:
            return 0
        facts = f"SELECT {_FACT} FROM funnel_changes WHERE id <= :last"
        conn.execute(sa.text(_FOLD.format(facts=facts)), {"last": last})
        conn.execute(sa.text(_cell_fold(dialect, facts)), {"last": last})
        count = conn.execute(
            sa.delete(FunnelChange).where(FunnelChange.id <= last)
        ).rowcount
    # Cells with nothing left in them (from ix_funnel_cells_empty): their
    # values were only those of customers who moved away or were erased.
    conn.execute(sa.text(f"DELETE FROM funnel_cells WHERE {EMPTY_CELL}"))
    return count


def rebuild(conn: sa.Connection) -> int:
    """Recompute the totals and cells from the customers and invitations;
    returns the totals' rows."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # Changes to customers and invitations wait until the new totals are
        # committed (their triggers write to funnel_changes).
        conn.execute(
            sa.text(
                "LOCK TABLE funnel_totals, funnel_cells, funnel_changes "
                "IN EXCLUSIVE MODE"
            )
        )
    conn.execute(sa.delete(FunnelChange))
    conn.execute(sa.delete(FunnelTotal))
    conn.execute(sa.delete(FunnelCell))
    conn.execute(sa.text(_FOLD.format(facts=_stored_facts(dialect))))
    conn.execute(sa.text(_cell_fold(dialect, _stored_facts(dialect))))
    return conn.execute(
        sa.select(sa.func.count()).select_from(FunnelTotal)
    ).scalar_one()


def _period(day, since, until) -> list:
    conds = []
    if since:
        conds.append(day >= since)
    if until:
        conds.append(day <= until)
    return conds


def _summed(both) -> sa.Select:
    return sa.select(*(sa.func.sum(e).label(k) for k, e in _counted(both.c).items()))


def counts(scope: tuple[str, str], since=None, until=None) -> sa.Select:
    """SELECT of one row of COUNTS for the customers departed in [since, until]
    with that attribute value ('' for everyone): the totals plus the changes
    not yet folded in."""
    attribute, value = scope
    t, c = FunnelTotal, FunnelChange
    folded = sa.select(t.stage, t.reminders_sent, t.sent, t.n).where(
        t.attribute == attribute, t.value == value, *_period(t.day, since, until)
    )
    pending = sa.select(c.stage, c.reminders_sent, c.sent, c.n).where(
        *_period(c.day, since, until)
    )
    if attribute:
        pending = pending.where(getattr(c, attribute) == value)
    return _summed(sa.union_all(folded, pending).subquery())


def cell_counts(
    values: dict[str, str], extra: tuple[tuple[str, str], ...], since=None, until=None
) -> sa.Select:
    """SELECT of one row of COUNTS for the customers departed in [since, until]
    with these attribute values and imported attributes: the cells plus the
    changes not yet folded in."""

    def picked(model) -> list:
        conds = _period(model.day, since, until)
        conds += [getattr(model, name) == value for name, value in values.items()]
        conds += [model.extra[key].as_string() == value for key, value in extra]
        return conds

    c = FunnelChange
    folded = sa.select(
        *(getattr(FunnelCell, name).label(name) for name in COUNTS)
    ).where(*picked(FunnelCell))
    pending = sa.select(*(e.label(k) for k, e in _counted(c).items())).where(*picked(c))
    both = sa.union_all(folded, pending).subquery()
    return sa.select(*(sa.func.sum(both.c[name]).label(name) for name in COUNTS))
