"""Reasons stated when cancelling (a CRM's reason column, Stripe's feedback),
counted as their own source next to the survey and the phone.

A customer who stated no reason but left a comment counts with the reason
read in the comment (karn.customers.comments), once the worker tagged it.

A departed customer with a stated reason is one respondent, and every reason
could have been stated by everyone, so each is "shown" to all of them. A
period goes by the departure date: a departure of unknown date counts only
when no period is chosen.
"""

from collections import defaultdict

import sqlalchemy as sa

from karn.analysis.filters import ReasonCounts, _month
from karn.customers import currency as currencies
from karn.customers.comments import CommentTags
from karn.customers.models import Customer
from karn.enums import CustomerStatus, Reason
from karn.extensions import db

REASONS = [r.value for r in Reason]


# The reason a customer stated, else the one read in their comment.
STATED = sa.func.coalesce(Customer.stated_reason, CommentTags.tag_reason)


def _stated(f, *columns):
    """Departed (or won-back) customers, not erased, who stated a reason."""
    query = (
        sa.select(*columns)
        .select_from(Customer)
        .outerjoin(CommentTags, CommentTags.customer_id == Customer.id)
    )
    query = query.where(
        STATED.is_not(None),
        Customer.erased_at.is_(None),
        sa.or_(
            Customer.status == CustomerStatus.DEPARTED,
            Customer.departed_at.is_not(None),
        ),
        *f.customer_conditions(),
        *f.period_conditions(Customer.departed_at),
    )
    if f.language:
        query = query.where(Customer.language == f.language)
    return query


def _reason(code) -> Reason:
    """A coalesced enum column comes back as its stored text."""
    return code if isinstance(code, Reason) else Reason(code)


def reason_counts(f) -> ReasonCounts:
    """Customers per stated reason, with their revenue."""
    result = ReasonCounts()
    # Amounts in another currency than the reporting one are not summed.
    counted = currencies.counted()
    reason = STATED.label("reason")
    query = _stated(
        f,
        reason,
        sa.func.count(),
        sa.func.sum(sa.case((counted, Customer.monthly_revenue))),
        sa.func.sum(sa.case((counted, Customer.lifetime_value))),
    ).group_by(reason)
    rows = [
        (_reason(code), count, money, value)
        for code, count, money, value in db.session.execute(query)
    ]
    result.n = sum(count for _reason, count, _money, _value in rows)
    result.add_reasons(rows)
    return result


def monthly_counts(f) -> list[tuple[str, dict[str, int], dict[str, int]]]:
    """(month of departure, customers per stated reason, customers) for trends."""
    month = _month(Customer.departed_at).label("month")
    reason = STATED.label("reason")
    query = (
        _stated(f, month, reason, sa.func.count())
        .where(Customer.departed_at.is_not(None))
        .group_by(month, reason)
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for m, code, count in db.session.execute(query):
        counts[m][_reason(code).value] = count
    return [
        (m, counts[m], dict.fromkeys(REASONS, sum(counts[m].values())))
        for m in sorted(counts)
    ]


def involuntary(f) -> dict:
    """Departures where paying failed (a declined card, a dispute): how many,
    and the monthly revenue they took, by departure date. Shown apart from the
    reasons: these customers did not choose to leave."""
    counted = currencies.counted()
    query = sa.select(
        sa.func.count(),
        sa.func.sum(sa.case((counted, Customer.monthly_revenue))),
        sa.func.count(sa.case((currencies.other(), 1))),
    ).where(
        Customer.involuntary.is_(True),
        Customer.departed_at.is_not(None),
        Customer.erased_at.is_(None),
        *f.customer_conditions(),
        *f.period_conditions(Customer.departed_at),
    )
    count, revenue, other = db.session.execute(query).one()
    return {"count": count or 0, "revenue": float(revenue or 0), "other": other or 0}
