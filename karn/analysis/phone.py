"""What staff heard on the phone, counted as its own source next to the survey.

A call where the ex-customer talked (reached, or promised to return) with at
least one reason noted is one respondent; every reason noted on it counts, so
the shares of the phone channel may add up to more than 100%. Every reason
could be mentioned on every call, so each is "shown" to all of them.
"""

from collections import defaultdict

import sqlalchemy as sa

from karn.analysis.filters import ReasonCounts, _month
from karn.callbacks.models import CallNote, CallNoteReason, WinBack
from karn.customers import currency as currencies
from karn.customers.models import Customer
from karn.enums import CallOutcome, Reason
from karn.extensions import db
from karn.surveys.models import Response

TALKED = (CallOutcome.REACHED, CallOutcome.WILL_RETURN)
REASONS = [r.value for r in Reason]


def _notes(f, *columns):
    """Calls where somebody talked and at least one reason was noted."""
    query = (
        sa.select(*columns)
        .select_from(CallNoteReason)
        .join(CallNote, CallNote.id == CallNoteReason.note_id)
        .where(CallNote.outcome.in_(TALKED))
    )
    if f.needs_customer:
        query = query.join(Customer, Customer.id == CallNote.customer_id)
        query = query.where(*f.customer_conditions())
    when = Customer.departed_at if f.period_by == "departure" else CallNote.created_at
    query = query.where(*f.period_conditions(when))
    if f.language:
        query = query.where(CallNote.language == f.language)
    return query


def reason_counts(f) -> ReasonCounts:
    """Calls per reason heard and the number of calls with a reason: two queries
    over the notes' reasons (call notes are thousands, not millions)."""
    result = ReasonCounts()
    result.n = (
        db.session.scalar(_notes(f, sa.func.count(sa.distinct(CallNoteReason.note_id))))
        or 0
    )
    # Amounts in another currency than the reporting one are not summed.
    counted = currencies.counted()
    query = _notes(
        f,
        CallNoteReason.reason,
        sa.func.count(),
        sa.func.sum(sa.case((counted, Customer.monthly_revenue))),
        sa.func.sum(sa.case((counted, Customer.lifetime_value))),
    ).group_by(CallNoteReason.reason)
    if not f.needs_customer:
        query = query.outerjoin(Customer, Customer.id == CallNote.customer_id)
    result.add_reasons(db.session.execute(query))
    return result


def monthly_counts(f) -> list[tuple[str, dict[str, int], dict[str, int]]]:
    """(month, calls per reason, calls with a reason) for trends and p-charts."""
    when = Customer.departed_at if f.period_by == "departure" else CallNote.created_at
    month = _month(when).label("month")
    per_reason = _notes(f, month, CallNoteReason.reason, sa.func.count()).group_by(
        month, CallNoteReason.reason
    )
    totals = _notes(
        f, month, sa.func.count(sa.distinct(CallNoteReason.note_id))
    ).group_by(month)
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for m, reason, count in db.session.execute(per_reason):
        counts[m][reason.value] = count
    result = []
    for m, n in sorted(db.session.execute(totals).all()):
        result.append((m, counts[m], dict.fromkeys(REASONS, n)))
    return result


def win_backs(f) -> dict:
    """Win-backs by the reason the customer gave and by how Karn heard from them.

    The reason is the survey's main reason, else the first reason heard on the
    phone; the channel says whether the customer answered the survey, talked
    on the phone, both, or neither. Filtered by the date they returned.
    """
    answered = (
        sa.select(Response.primary_reason)
        .where(
            Response.customer_id == WinBack.customer_id,
            Response.submitted_at.is_not(None),
        )
        .order_by(Response.submitted_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    heard = (
        sa.select(sa.func.min(CallNoteReason.reason))
        .join(CallNote, CallNote.id == CallNoteReason.note_id)
        .where(
            CallNote.customer_id == WinBack.customer_id,
            CallNote.outcome.in_(TALKED),
        )
        .scalar_subquery()
    )
    talked = (
        sa.select(CallNote.id)
        .where(
            CallNote.customer_id == WinBack.customer_id,
            CallNote.outcome.in_(TALKED),
        )
        .exists()
    )
    # The revenue regained in another currency than the reporting one is
    # counted apart (other_currency), not summed.
    currency = (
        sa.select(Customer.currency)
        .where(Customer.id == WinBack.customer_id)
        .scalar_subquery()
    )
    query = sa.select(
        answered.label("survey_reason"),
        heard.label("phone_reason"),
        talked.label("talked"),
        WinBack.revenue,
        currency.label("currency"),
    ).select_from(WinBack)
    if f.needs_customer:
        # Per win-back, which are few: as a join, SQLite may walk every
        # customer the filter holds instead.
        query = query.where(
            sa.exists().where(
                Customer.id == WinBack.customer_id, *f.customer_conditions()
            )
        )
    if f.since:
        query = query.where(WinBack.returned_on >= f.since)
    if f.until:
        query = query.where(WinBack.returned_on <= f.until)
    by_reason: dict[str, dict] = {}
    by_channel = {"survey": 0, "call": 0, "both": 0, "neither": 0}
    total = {"count": 0, "revenue": 0.0, "other_currency": 0}
    reporting = currencies.reporting()
    rows = db.session.execute(query)
    for survey_reason, phone_reason, has_call, revenue, currency in rows:
        if currency and currency != reporting:
            total["other_currency"] += 1
            revenue = None
        reason = survey_reason or phone_reason
        code = Reason(reason).value if reason else "unknown"
        row = by_reason.setdefault(code, {"count": 0, "revenue": 0.0})
        row["count"] += 1
        row["revenue"] += float(revenue or 0)
        channel = (
            "both"
            if survey_reason and has_call
            else "survey"
            if survey_reason
            else "call"
            if has_call
            else "neither"
        )
        by_channel[channel] += 1
        total["count"] += 1
        total["revenue"] += float(revenue or 0)
    return {"by_reason": by_reason, "by_channel": by_channel, "total": total}
