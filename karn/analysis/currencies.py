"""Respondents whose amounts are in another currency than the reporting one.

Their revenue is left out of every sum (karn.analysis.totals, phone); the
dashboard says how many of the respondents its filters pick that are. Most
installations have none: one look at the partial index on customers.currency
says so before anything is counted.
"""

import sqlalchemy as sa

from karn.analysis import phone
from karn.analysis.filters import Filters
from karn.callbacks.models import CallNote
from karn.customers import currency as currencies
from karn.customers.models import Customer
from karn.extensions import db
from karn.surveys.models import Response


def any_other() -> bool:
    """True when some customer's amounts are in another currency."""
    return bool(db.session.scalar(sa.select(sa.exists().where(currencies.other()))))


def respondents(f: Filters) -> int:
    """Respondents (or, on the phone, customers called) the filters pick whose
    revenue is in another currency, so not in the revenue figures."""
    if f.channel not in (None, "", "survey", "phone") or not any_other():
        return 0
    if f.channel == "phone":
        query = phone._notes(f, sa.func.count(sa.distinct(CallNote.customer_id)))
        if not f.needs_customer:
            query = query.join(Customer, Customer.id == CallNote.customer_id)
        return db.session.scalar(query.where(currencies.other())) or 0
    query = (
        sa.select(sa.func.count(sa.distinct(Response.customer_id)))
        .select_from(Response)
        .join(Customer, Customer.id == Response.customer_id)
        .where(
            currencies.other(),
            Response.submitted_at.is_not(None),
            Response.primary_reason.is_not(None),
            *f.customer_conditions(),
        )
    )
    when = Customer.departed_at if f.period_by == "departure" else Response.submitted_at
    query = query.where(*f.period_conditions(when))
    if f.version:
        query = query.where(Response.survey_version_id == f.version)
    if f.language:
        query = query.where(Response.language == f.language)
    return db.session.scalar(query) or 0
