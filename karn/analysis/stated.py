"""Reasons stated when cancelling (a CRM's reason column, Stripe's feedback),
counted as their own source next to the survey and the phone.

A departed customer with a stated reason is one respondent, and every reason
could have been stated by everyone, so each is "shown" to all of them. A
period goes by the departure date: a departure of unknown date counts only
when no period is chosen.
"""

from collections import defaultdict

import sqlalchemy as sa

from karn.analysis.filters import ReasonCounts, _month
from karn.customers import currency as currencies
from karn.customers.models import Customer
from karn.enums import CustomerStatus, Reason
from karn.extensions import db

REASONS = [r.value for r in Reason]


def _stated(f, *columns):
    """Departed (or won-back) customers, not erased, who stated a reason."""
    query = sa.select(*columns).where(
        Customer.stated_reason.is_not(None),
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


def reason_counts(f) -> ReasonCounts:
    """Customers per stated reason, with their revenue."""
    result = ReasonCounts()
    # Amounts in another currency than the reporting one are not summed.
    counted = currencies.counted()
    query = _stated(
        f,
        Customer.stated_reason,
        sa.func.count(),
        sa.func.sum(sa.case((counted, Customer.monthly_revenue))),
        sa.func.sum(sa.case((counted, Customer.lifetime_value))),
    ).group_by(Customer.stated_reason)
    rows = db.session.execute(query).all()
    result.n = sum(count for _reason, count, _money, _value in rows)
    result.add_reasons(rows)
    return result


def monthly_counts(f) -> list[tuple[str, dict[str, int], dict[str, int]]]:
    """(month of departure, customers per stated reason, customers) for trends."""
    month = _month(Customer.departed_at).label("month")
    query = (
        _stated(f, month, Customer.stated_reason, sa.func.count())
        .where(Customer.departed_at.is_not(None))
        .group_by(month, Customer.stated_reason)
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for m, reason, count in db.session.execute(query):
        counts[m][reason.value] = count
    return [
        (m, counts[m], dict.fromkeys(REASONS, sum(counts[m].values())))
        for m in sorted(counts)
    ]
