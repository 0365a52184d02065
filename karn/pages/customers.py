"""The customer list and one customer's page.

They show what every feature knows of a customer (survey invitations and mail,
answers, call notes, win-backs), so they sit above those features, on the
customers blueprint: the app imports this module before registering it.
"""

from datetime import UTC, datetime, time
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import abort, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from karn import clock
from karn.accounts.security import ALL_ROLES, MANAGERS, roles_required
from karn.callbacks import operations as call_operations
from karn.callbacks.answers import answered_questions
from karn.callbacks.models import CallNote, WinBack
from karn.customers import currency as currencies
from karn.customers.comments import CommentTags
from karn.customers.models import Customer
from karn.customers.queries import distinct_values
from karn.customers.views import bp
from karn.enums import CustomerStatus, InvitationStatus
from karn.extensions import db
from karn.formatting import OUTCOME_LABELS
from karn.surveys.delivery import latest_invitations
from karn.surveys.models import Invitation, OutboxMessage
from karn.surveys.models import Response as SurveyResponse

PAGE_SIZE = 50
SURVEY_STATES = {
    "not_invited": _l("Not invited"),
    "scheduled": _l("Invitation scheduled"),
    "sent": _l("Invited, no answer yet"),
    "responded": _l("Responded"),
    "unsubscribed": _l("Unsubscribed"),
    "bounced": _l("Address undeliverable"),
}
# The customer's own status (?state=): whether they left.
CUSTOMER_STATES = {
    CustomerStatus.ACTIVE.value: _l("Active"),
    CustomerStatus.DEPARTED.value: _l("Departed"),
    "involuntary": _l("Departed: paying failed"),
}
SENTIMENT_LABELS = {
    "negative": _l("negative"),
    "neutral": _l("neutral"),
    "positive": _l("positive"),
}
STATUS_LABELS = {
    "scheduled": _l("scheduled"),
    "sent": _l("sent"),
    "reminded": _l("reminded"),
    "responded": _l("responded"),
    "expired": _l("expired"),
    "unsubscribed": _l("unsubscribed"),
    "bounced": _l("bounced"),
    "failed": _l("failed"),
    "cancelled": _l("cancelled"),
    "not_invited": _l("not invited"),
}


def _prefix_filter(column, text: str):
    # A range on the indexed value plus LIKE: the range uses the index on
    # every database and collation, the LIKE keeps exactly the prefix matches.
    upper = text[:-1] + chr(ord(text[-1]) + 1)
    pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return sa.and_(column >= text, column < upper, column.like(pattern, escape="\\"))


def _search(q: str):
    """Customers whose name, email address or number starts with the text;
    when no number starts with it, also those whose number contains it (3016
    finds CUST-003016).

    The prefixes are read along their indexes. A part from the middle of a
    number cannot be: that scan, of the narrow index on the number rather than
    of the table and once per search, runs only for text that looks like part
    of a number (a digit, no @, no space) when no number starts with it.
    """
    lowered = q.lower()
    number_starts = _prefix_filter(Customer.external_id, q)
    parts = [
        number_starts,
        _prefix_filter(Customer.email, lowered),
        _prefix_filter(sa.func.lower(Customer.name), lowered),
    ]
    if any(c.isdigit() for c in q) and "@" not in q and " " not in q:
        starts = db.session.scalar(sa.select(Customer.id).where(number_starts).limit(1))
        if starts is None:
            inside = Customer.external_id.contains(q, autoescape=True)
            parts.append(Customer.id.in_(sa.select(Customer.id).where(inside)))
    return sa.or_(*parts)


# Above this many customers the list's totals are counted only when asked:
# adding up a million rows takes most of a second, the page itself a few ms.
TOTALS_CAP = 10_000


def _totals(query, exact: bool = False) -> dict:
    """How many customers the filters find and their monthly revenue (in the
    reporting currency; amounts in other currencies are counted apart).

    Unless ``exact``, at most ``TOTALS_CAP`` customers are looked at; beyond
    that ``more`` is true and the page offers to count them all.
    """
    counted = currencies.counted()
    rows = query.with_only_columns(
        Customer.monthly_revenue.label("revenue"), counted.label("counted")
    ).order_by(None)
    if not exact:
        rows = rows.limit(TOTALS_CAP + 1)
    rows = rows.subquery()
    count, revenue, others = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.sum(sa.case((rows.c.counted, rows.c.revenue))),
            sa.func.count(
                sa.case((sa.and_(~rows.c.counted, rows.c.revenue.is_not(None)), 1))
            ),
        ).select_from(rows)
    ).one()
    if not exact and count > TOTALS_CAP:
        return {"count": TOTALS_CAP, "more": True}
    return {"count": count, "revenue": revenue or 0, "other_currencies": others}


def _parse_day(value: str | None, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return None
    return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)


def _survey_state_filter(state: str):
    has = sa.select(Invitation.id).where(Invitation.customer_id == Customer.id)
    if state == "not_invited":
        return ~has.exists()
    if state == "scheduled":
        return has.where(Invitation.status == InvitationStatus.SCHEDULED).exists()
    if state == "sent":
        return has.where(
            Invitation.status.in_((InvitationStatus.SENT, InvitationStatus.REMINDED))
        ).exists()
    if state == "responded":
        return has.where(Invitation.status == InvitationStatus.RESPONDED).exists()
    if state == "unsubscribed":
        return Customer.unsubscribed_at.is_not(None)
    if state == "bounced":
        return Customer.bounced_at.is_not(None)
    return None


def _page(query, after: str) -> tuple[list[Customer], bool]:
    """One page of customers after the cursor, and whether more follow.

    Newest departure first, then the customers without a departure date
    (active ones who never left, departures of unknown date), newest first.
    Keyset paging: the cursor is the last row's "date|id", or "|id" among
    those without a date; fast on page 1,000 as on page 1, as each part is
    read along the index on (departed_at, id).
    """
    stamp, _sep, last_id = after.partition("|")
    try:
        cursor = (datetime.fromisoformat(stamp) if stamp else None, int(last_id))
    except ValueError:
        cursor = None
    rows: list[Customer] = []
    if cursor is None or cursor[0] is not None:
        dated = query.where(Customer.departed_at.is_not(None))
        if cursor is not None:
            dated = dated.where(
                sa.tuple_(Customer.departed_at, Customer.id) < sa.tuple_(*cursor)
            )
        dated = dated.order_by(Customer.departed_at.desc(), Customer.id.desc())
        rows = list(db.session.scalars(dated.limit(PAGE_SIZE + 1)))
    if len(rows) <= PAGE_SIZE:
        undated = query.where(Customer.departed_at.is_(None))
        if cursor is not None and cursor[0] is None:
            undated = undated.where(Customer.id < cursor[1])
        undated = undated.order_by(Customer.id.desc()).limit(PAGE_SIZE + 1 - len(rows))
        rows += db.session.scalars(undated)
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


@bp.route("/")
@roles_required(*ALL_ROLES)
def index():
    """Customers, newest departure first, with search and filters."""
    args = request.args
    q = args.get("q", "").strip()
    filters = {
        "q": q,
        "from": args.get("from", ""),
        "to": args.get("to", ""),
        "segment": args.get("segment", "").strip(),
        "state": args.get("state", "") if args.get("state") in CUSTOMER_STATES else "",
        "status": args.get("status", ""),
    }
    query = sa.select(Customer).where(Customer.erased_at.is_(None))
    if q:
        query = query.where(_search(q))
    if start := _parse_day(filters["from"]):
        query = query.where(Customer.departed_at >= start)
    if end := _parse_day(filters["to"], end=True):
        query = query.where(Customer.departed_at <= end)
    if filters["segment"]:
        query = query.where(Customer.segment == filters["segment"])
    if filters["state"] == "involuntary":
        query = query.where(
            Customer.involuntary.is_(True), Customer.departed_at.is_not(None)
        )
    elif filters["state"]:
        query = query.where(Customer.status == CustomerStatus(filters["state"]))
    if (state := _survey_state_filter(filters["status"])) is not None:
        query = query.where(state)
    after = args.get("after", "")
    rows, more = _page(query, after)
    # The totals of the whole list, above its first page.
    totals = None if after else _totals(query, exact=args.get("totals") == "all")
    params = {k: v for k, v in filters.items() if v}
    first_url = url_for("customers.index") + "?" + urlencode(params) if after else None
    next_url = None
    if more:
        last = rows[-1]
        stamp = last.departed_at.isoformat() if last.departed_at else ""
        cursor = f"{stamp}|{last.id}"
        next_url = (
            url_for("customers.index") + "?" + urlencode({**params, "after": cursor})
        )
    segments = distinct_values("segment")
    return render_template(
        "customers/index.html",
        customers=rows,
        invitations=latest_invitations([c.id for c in rows]),
        filters=filters,
        segments=segments,
        states=SURVEY_STATES,
        customer_states=CUSTOMER_STATES,
        status_labels=STATUS_LABELS,
        next_url=next_url,
        first_url=first_url,
        totals=totals,
        count_all_url=url_for("customers.index")
        + "?"
        + urlencode({**params, "totals": "all"}),
    )


@bp.route("/<int:customer_id>")
@roles_required(*ALL_ROLES)
def show(customer_id: int):
    """Everything about one customer."""
    customer = db.session.get(Customer, customer_id) or abort(404)

    def newest_first(model, when):
        query = sa.select(model).where(model.customer_id == customer.id)
        return db.session.scalars(query.order_by(when.desc())).all()

    invitations = newest_first(Invitation, Invitation.created_at)
    mails = newest_first(OutboxMessage, OutboxMessage.created_at)
    responses = newest_first(SurveyResponse, SurveyResponse.started_at)
    notes = newest_first(CallNote, CallNote.created_at)
    return render_template(
        "customers/show.html",
        customer=customer,
        comment_tags=db.session.get(CommentTags, customer.id),
        sentiment_labels=SENTIMENT_LABELS,
        invitations=invitations,
        mails=mails,
        responses=responses,
        notes=notes,
        open_task=call_operations.open_task_for(customer.id),
        answered_questions=lambda r: answered_questions(r, str(get_locale())),
        outcome_labels=OUTCOME_LABELS,
        win=db.session.scalars(
            sa.select(WinBack).where(WinBack.customer_id == customer.id)
        ).first(),
        today=clock.now().date(),
        status_labels=STATUS_LABELS,
        customer_states=CUSTOMER_STATES,
        can_edit=current_user.role in MANAGERS,
    )
