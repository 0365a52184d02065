"""Who may get a follow-up or campaign mail: one rule for both.

A person is eligible when all of these hold:

- departed, not erased, not won back (no win-back recorded);
- mailable: an address, not unsubscribed, not bounced, and the address not on
  the suppression list;
- gave consent: their latest submitted response that answered the consent
  question said yes (older survey versions never asked: no mail);
- not contacted by Karn in the last ``CONTACT_MIN_DAYS`` days: no follow-up or
  campaign mail written for them in that time, whatever became of it. The
  survey's own invitation and reminders do not count, since a follow-up is
  the answer to the survey they just took part in.

The SQL part selects the candidates; the suppression list is kept by hash, so
it is checked in Python afterwards (``eligible_ids``).

Follow-ups and campaigns decide whom to mail one at a time
(``decide_one_at_a_time``): otherwise a campaign confirmed while the worker
writes a follow-up could let both find the same person not yet contacted and
mail them twice.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from karn import clock, settings
from karn.callbacks.models import WinBack
from karn.customers import bulk
from karn.customers.models import Customer
from karn.enums import CustomerStatus
from karn.extensions import db
from karn.surveys.default_survey import CONSENT_KEY, CONSENT_YES
from karn.surveys.models import Answer, OutboxMessage, Response

# Outbox kinds that count as Karn contacting an ex-customer again.
CONTACT_KINDS = ("follow_up", "campaign")
# PostgreSQL advisory lock key of deciding whom to mail ("Karn" and 1).
_DECIDING = 0x4B61726E01


def decide_one_at_a_time() -> None:
    """Wait until no other transaction is deciding follow-up or campaign
    mails, and hold that until this one ends; call it as a transaction's first
    statement, before reading who was contacted. PostgreSQL: a
    transaction-level advisory lock. SQLite has one writer at a time: a write
    that changes nothing takes its lock before anything is read."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(_DECIDING)))
    else:
        db.session.execute(
            sa.update(OutboxMessage).where(sa.false()).values(id=OutboxMessage.id)
        )


def contact_min_days() -> int:
    return int(settings.get("CONTACT_MIN_DAYS"))


def _latest_consent_answer() -> sa.ScalarSelect:
    """The consent answer of the customer's latest submitted response that
    answered it, as stored JSON text (``'"yes"'``/``'"no"'``)."""
    return (
        sa.select(sa.cast(Answer.value, sa.Text))
        .join(Response, Response.id == Answer.response_id)
        .where(
            Response.customer_id == Customer.id,
            Response.submitted_at.is_not(None),
            Answer.question_key == CONSENT_KEY,
        )
        .order_by(Response.submitted_at.desc(), Response.id.desc())
        .limit(1)
        .correlate(Customer)
        .scalar_subquery()
    )


def _contacted_since(now: datetime | None):
    """Conditions on ``OutboxMessage``: a follow-up or campaign mail written
    within CONTACT_MIN_DAYS."""
    since = (now or clock.now()) - timedelta(days=contact_min_days())
    return (OutboxMessage.kind.in_(CONTACT_KINDS), OutboxMessage.created_at > since)


def recently_contacted(now: datetime | None = None) -> sa.Select:
    """Ids of customers mailed a follow-up or campaign within CONTACT_MIN_DAYS."""
    return sa.select(OutboxMessage.customer_id).where(
        *_contacted_since(now), OutboxMessage.customer_id.is_not(None)
    )


def eligible_condition(now: datetime | None = None) -> sa.ColumnElement[bool]:
    """A condition on ``Customer``: everything of the rule the database can check."""
    return sa.and_(
        Customer.status == CustomerStatus.DEPARTED,
        Customer.erased_at.is_(None),
        Customer.email.is_not(None),
        Customer.email != "",
        Customer.unsubscribed_at.is_(None),
        Customer.bounced_at.is_(None),
        ~sa.exists().where(WinBack.customer_id == Customer.id),
        _latest_consent_answer() == f'"{CONSENT_YES}"',
        # Correlated, so the database looks up each candidate's mail by the
        # outbox's customer index instead of reading the whole outbox.
        ~sa.exists().where(
            OutboxMessage.customer_id == Customer.id, *_contacted_since(now)
        ),
    )


def eligible_ids(
    customer_ids: Iterable[int] | None = None, now: datetime | None = None
) -> set[int]:
    """The eligible among these customers (all customers when None)."""
    from karn.surveys.delivery import email_hash, suppressed_among

    query = sa.select(Customer.id, Customer.email).where(eligible_condition(now))
    if customer_ids is not None:
        ids = list(customer_ids)
        if not ids:
            return set()
        query = query.where(bulk.one_of(Customer.id, ids))
    rows = db.session.execute(query).all()
    blocked = suppressed_among([email for _, email in rows])
    return {cid for cid, email in rows if email_hash(email) not in blocked}
