"""Daily reason totals, kept in step with the responses so the dashboard need not count.

`reason_totals` holds, per response day, survey version, language, reason and
main/"also played a part", how many submitted responses gave that reason and
the revenue of the customers who gave it as their main reason (amounts in the
reporting currency, CURRENCY, only: another currency's are left out, and a
changed CURRENCY needs `flask analysis rebuild-totals`): once for all
respondents (attribute and value ''), once more under the customer's value
of each attribute in ATTRIBUTES (segment, plan, region, source, tenure band,
revenue band), and once more by the customer's departure day instead of the
response day (attribute DEPARTED), so a filter on one of those is answered
from the totals as well. `karn.analysis.queries` reads them whenever the
filters allow, and otherwise `response_facts`: one narrow row per submitted
response with those customer values beside it, so two filters at once need
no join.

Every change to what the totals and facts count goes through here, in the
same transaction as the change:

- a submission adds its response (`add_response`: its facts row, and one
  INSERT ... SELECT ... ON CONFLICT DO UPDATE that increments the totals, so
  concurrent submissions add up);
- a change to a customer's attributes, tenure, revenue or departure date
  (import, API, Stripe, the form) takes their responses out of the totals
  before the UPDATE, and puts them back and writes their facts afresh after
  it (the session hooks below);
- `rebuild` recomputes everything, after responses were loaded or changed past
  Karn (`flask analysis rebuild-totals`).

Erasure and retention change neither responses nor these attributes (see
karn.privacy.operations), so they leave the totals as they are; responses and
customers are never deleted.
"""

import re

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from karn.analysis.models import ResponseFact
from karn.customers import currency as currencies
from karn.customers.models import Customer
from karn.enums import Reason
from karn.extensions import prepared

# Bands of the tenure (months) and monthly revenue (euros) filters: code ->
# [low, high).
TENURE_BANDS = {
    "0-6": (0, 6),
    "6-12": (6, 12),
    "12-24": (12, 24),
    "24-60": (24, 60),
    "60+": (60, None),
}
REVENUE_BANDS = {
    "0-25": (0, 25),
    "25-50": (25, 50),
    "50-100": (50, 100),
    "100-250": (100, 250),
    "250+": (250, None),
}


def _band(column: str, bands: dict, scale: int = 1) -> str:
    """SQL for the band a value falls in (NULL for none)."""
    whens = []
    for code, (low, high) in bands.items():
        test = f"{column} >= {low * scale}"
        if high is not None:
            test += f" AND {column} < {high * scale}"
        whens.append(f"WHEN {test} THEN '{code}'")
    return f"CASE {' '.join(whens)} END"


# Customer attributes the totals are also kept per value of, with the SQL of
# that value over the customer row c: the filters a manager uses most. Each
# adds a row per response and reason; a filter on two of them, or on anything
# else, is counted from the responses. The funnel's totals (karn.analysis.funnel)
# are kept per the same attributes.
CUSTOMER_VALUES = {
    "segment": "c.segment",
    "plan": "c.plan",
    "region": "c.region",
    "source": "c.source",
    "tenure": _band("c.tenure_months", TENURE_BANDS),
    # Money is kept in cents.
    "revenue": _band("c.monthly_revenue", REVENUE_BANDS, scale=100),
}
ATTRIBUTES = tuple(CUSTOMER_VALUES)
# The totals once more by the customer's departure day instead of the
# response day (value ''): a period by departure date.
DEPARTED = "departed"
# What a customer change must move the totals for.
TRACKED = (
    "segment",
    "plan",
    "region",
    "source",
    "monthly_revenue",
    "lifetime_value",
    "tenure_months",
    "departed_at",
    "currency",
)

_PENDING = "karn.analysis.totals.customers"
_PENDING_FACTS = "karn.analysis.totals.facts"

# The UTC day of a timestamp column, as a date column stores it.
UTC_DAY = {
    "postgresql": "CAST({} AT TIME ZONE 'UTC' AS DATE)",
    "sqlite": "substr({}, 1, 10)",
}
# The totals and facts band the revenue that is summed ({mr}, see _money):
# the bands are amounts in the reporting currency, and ¥5,000 a month falls
# in none. (The funnel's counts band the stored amount, whatever its currency.)
_COUNTED_VALUES = {
    **CUSTOMER_VALUES,
    "revenue": _band("({mr})", REVENUE_BANDS, scale=100),
}
_VALUE = "CASE a.attribute {whens} ELSE '' END".format(
    whens=" ".join(f"WHEN '{name}' THEN {sql}" for name, sql in _COUNTED_VALUES.items())
)
_ATTRIBUTES = " UNION ALL ".join(
    f"SELECT '{name}' AS attribute" for name in ("", *ATTRIBUTES, DEPARTED)
)
_KEY = "attribute, value, day, survey_version_id, language, reason, is_secondary"

# What a set of submitted responses ({where}, over r) adds to the totals, with
# {sign} '' or '-'. Ordered by the key, so concurrent writers lock the rows
# they share in the same order and cannot deadlock.
_UPSERT = f"""
INSERT INTO reason_totals ({_KEY}, n, monthly_revenue, lifetime_value)
SELECT {_KEY}, {{sign}}count(*), {{sign}}sum(mr), {{sign}}sum(ltv)
FROM (
    SELECT a.attribute, {_VALUE} AS value, {{day}} AS day, r.survey_version_id,
           r.language, r.primary_reason AS reason, FALSE AS is_secondary,
           coalesce({{mr}}, 0) AS mr, coalesce({{ltv}}, 0) AS ltv
    FROM responses r
    LEFT JOIN customers c ON c.id = r.customer_id
    CROSS JOIN ({_ATTRIBUTES}) a
    WHERE r.submitted_at IS NOT NULL AND r.primary_reason IS NOT NULL AND {{where}}
    UNION ALL
    SELECT a.attribute, {_VALUE}, {{day}}, r.survey_version_id,
           r.language, rr.reason, TRUE, 0, 0
    FROM response_reasons rr
    JOIN responses r ON r.id = rr.response_id
    LEFT JOIN customers c ON c.id = r.customer_id
    CROSS JOIN ({_ATTRIBUTES}) a
    WHERE rr.is_secondary AND r.submitted_at IS NOT NULL AND {{where}}
) AS m
WHERE value IS NOT NULL AND day IS NOT NULL
GROUP BY {_KEY}
ORDER BY {_KEY}
ON CONFLICT ({_KEY}) DO UPDATE SET
    n = reason_totals.n + excluded.n,
    monthly_revenue = reason_totals.monthly_revenue + excluded.monthly_revenue,
    lifetime_value = reason_totals.lifetime_value + excluded.lifetime_value
"""

# Bit of each reason in a fact's `also`: service 1, quality 2, brand 4, ...
ALSO_BITS = {reason.value: 1 << i for i, reason in enumerate(Reason)}
_ALSO = "CASE rr.reason {} END".format(
    " ".join(f"WHEN '{code}' THEN {bit}" for code, bit in ALSO_BITS.items())
)
_FACT_COLUMNS = ", ".join(
    (
        "response_id, customer_id, submitted_at, departed_at, survey_version_id",
        "language, reason, also",
        *ATTRIBUTES,
        "monthly_revenue, lifetime_value, extra",
    )
)
# The facts of a set of submitted responses ({where}, over r).
_FACTS = f"""
INSERT INTO response_facts ({_FACT_COLUMNS})
SELECT r.id, r.customer_id, r.submitted_at, c.departed_at, r.survey_version_id,
       r.language, r.primary_reason,
       coalesce((SELECT sum({_ALSO}) FROM response_reasons rr
                 WHERE rr.response_id = r.id AND rr.is_secondary), 0),
       {", ".join(_COUNTED_VALUES.values())}, {{mr}}, {{ltv}},
       c.extra
FROM responses r
LEFT JOIN customers c ON c.id = r.customer_id
WHERE r.submitted_at IS NOT NULL AND {{where}}
"""

_WHERE = {
    "response": "r.id = :response_id",
    "customers": "r.customer_id IN :customer_ids",
    "all": "TRUE",
}
_statements: dict[tuple[str, ...], sa.TextClause] = {}


def _prepared(key: tuple[str, ...], sql: str, where: str) -> sa.TextClause:
    """The statement for these responses, built once."""
    if key not in _statements:
        statement = sa.text(sql)
        if where == "response":
            # Every submission runs it, and planning it costs more than running it.
            statement = prepared(statement)
        if where == "customers":
            statement = statement.bindparams(
                sa.bindparam("customer_ids", expanding=True)
            )
        _statements[key] = statement
    return _statements[key]


def _money(code: str) -> dict[str, str]:
    """SQL over c of the amounts that are summed: those in the reporting
    currency (or unmarked); another currency's are left out (NULL)."""
    if not re.fullmatch("[A-Z]{3}", code):
        raise ValueError(f"CURRENCY must be an ISO 4217 code, not {code!r}")
    counted = f"c.currency IS NULL OR c.currency = '{code}'"
    return {
        "mr": f"CASE WHEN {counted} THEN c.monthly_revenue END",
        "ltv": f"CASE WHEN {counted} THEN c.lifetime_value END",
    }


def _statement(dialect: str, where: str, sign: str = "") -> sa.TextClause:
    """The totals' upsert for these responses, adding or (sign "-") taking out."""
    day = UTC_DAY[dialect]
    code = currencies.reporting()
    sql = _UPSERT.format(
        day=f"CASE a.attribute WHEN '{DEPARTED}' "
        f"THEN {day.format('c.departed_at')} "
        f"ELSE {day.format('r.submitted_at')} END",
        where=_WHERE[where],
        sign=sign,
        **_money(code),
    )
    return _prepared(("totals", dialect, where, sign, code), sql, where)


def _facts_statement(dialect: str, where: str) -> sa.TextClause:
    """The INSERT of these responses' facts."""
    code = currencies.reporting()
    sql = _FACTS.format(where=_WHERE[where], **_money(code))
    return _prepared(("facts", dialect, where, code), sql, where)


def add_response(conn: sa.Connection, response_id: int) -> None:
    """Count a response just submitted (in the submission's transaction)."""
    dialect = conn.dialect.name
    conn.execute(_facts_statement(dialect, "response"), {"response_id": response_id})
    conn.execute(_statement(dialect, "response"), {"response_id": response_id})


def count_submitted(submitted) -> None:
    """Listener for ``karn.surveys.responses.on_submitted``: count the response."""
    add_response(submitted.conn, submitted.response_id)


# Ids per statement: well below SQLite's limit on bound parameters.
_CHUNK = 500


def _move_customers(conn: sa.Connection, ids: list[int], sign: str) -> None:
    statement = _statement(conn.dialect.name, "customers", sign)
    for start in range(0, len(ids), _CHUNK):
        conn.execute(statement, {"customer_ids": ids[start : start + _CHUNK]})


def _write_facts(conn: sa.Connection, ids: list[int]) -> None:
    """The facts of these customers' responses, afresh."""
    statement = _facts_statement(conn.dialect.name, "customers")
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        conn.execute(sa.delete(ResponseFact).where(ResponseFact.customer_id.in_(chunk)))
        conn.execute(statement, {"customer_ids": chunk})


def rebuild(conn: sa.Connection) -> int:
    """Recompute every total from the responses; returns the number of rows."""
    if conn.dialect.name == "postgresql":
        # Submissions wait until the new totals are committed, rather than
        # adding to rows that are being replaced.
        conn.execute(sa.text("LOCK TABLE reason_totals IN EXCLUSIVE MODE"))
    conn.execute(sa.text("DELETE FROM reason_totals"))
    conn.execute(_statement(conn.dialect.name, "all"))
    conn.execute(sa.delete(ResponseFact))
    conn.execute(_facts_statement(conn.dialect.name, "all"))
    return conn.execute(sa.text("SELECT count(*) FROM reason_totals")).scalar_one()


def _changed_customers(session: Session, names: tuple[str, ...]) -> list[int]:
    ids = []
    for obj in session.dirty:
        if not isinstance(obj, Customer) or obj.id is None:
            continue
        attrs = sa.inspect(obj).attrs
        if any(attrs[name].history.has_changes() for name in names):
            ids.append(obj.id)
    return sorted(ids)


@event.listens_for(Session, "before_flush")
def _take_out_changed_customers(session, _flush_context, _instances) -> None:
    """Before their UPDATE: the responses of customers whose attributes change."""
    # The facts also hold the imported attributes; the totals do not.
    facts = _changed_customers(session, (*TRACKED, "extra"))
    if not facts:
        return
    session.info.setdefault(_PENDING_FACTS, set()).update(facts)
    ids = _changed_customers(session, TRACKED)
    if not ids:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # The customer rows first, then the totals (as a submission takes
        # them): two transactions never wait for each other the other way round.
        customers = Customer.__table__
        conn.execute(
            sa.select(customers.c.id)
            .where(customers.c.id.in_(ids))
            .order_by(customers.c.id)
            .with_for_update(key_share=True)
        )
    _move_customers(conn, ids, "-")
    session.info.setdefault(_PENDING, set()).update(ids)


@event.listens_for(Session, "after_flush")
def _put_back_changed_customers(session, _flush_context) -> None:
    """After their UPDATE: the same responses under the customers' new values."""
    ids = session.info.pop(_PENDING, None)
    if ids:
        _move_customers(session.connection(), sorted(ids), "")
    facts = session.info.pop(_PENDING_FACTS, None)
    if facts:
        _write_facts(session.connection(), sorted(facts))


@event.listens_for(Session, "after_soft_rollback")
def _forget_changed_customers(session, _previous_transaction) -> None:
    # What was taken out is rolled back with the rest.
    session.info.pop(_PENDING, None)
    session.info.pop(_PENDING_FACTS, None)
