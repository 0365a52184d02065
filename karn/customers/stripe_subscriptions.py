"""Stripe subscriptions: revenue and departure per subscription, not per event.

Karn keeps each Stripe subscription it hears of (`stripe_subscriptions`) and
derives its customer from all of them:

- while any subscription runs (active, trialing, past due, unpaid, paused) the
  customer is active, and their monthly revenue is what those subscriptions
  bring in; a customer who had left and starts one again has returned (a
  win-back, announced through `operations.returned`, as of today);
- when the last one ends, the customer departs on its end: the revenue lost is
  that of the subscriptions that ended within a day before it (one cancelled
  months earlier was a downgrade, not this departure), a subscription that
  never got past its trial counts 0, and the customer is marked trial-only
  when every one of them was. The reason and comment are the last one's, and
  so is whether paying failed (`involuntary`). A cancelled subscription while
  another runs changes the revenue and nothing else.

Stripe does not promise the order of its events: an event older than the
latest one applied to a subscription changes nothing, and an ended
subscription stays ended. A subscription of a customer Karn does not know yet
brings them in (active, or departed when it has ended); one that never began
(incomplete) brings in nobody.

Nothing here calls Stripe. What the events leave out (the customer's email,
name and language; a product's name; a tiered price's tiers; discounts named
by id) is marked due for the worker's lookup (karn.customers.stripe_lookup).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from karn import clock
from karn.customers import comments, csvparse, operations
from karn.customers.models import Customer
from karn.customers.stripe_objects import LIVE, Facts
from karn.dbtypes import Cents, UTCDateTime
from karn.enums import CustomerStatus, Source
from karn.extensions import db

# Subscriptions that end this close before the last one left with it.
TOGETHER = timedelta(days=1)
PERSON_FIELDS = ("email", "name", "language", "region")


class StripeSubscription(db.Model):
    """One Stripe subscription of a customer, as its latest event left it."""

    __tablename__ = "stripe_subscriptions"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    # Stripe's status: active, trialing, past_due, unpaid, paused, canceled, ...
    status: Mapped[str] = mapped_column(sa.String(32))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The time of the latest event applied: an older one changes nothing.
    event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Per month in `currency`; None when unknown (metered, or details awaited).
    monthly_revenue: Mapped[Decimal | None] = mapped_column(Cents)
    # The same as the event alone states it (the lookup may know more).
    event_revenue: Mapped[Decimal | None] = mapped_column(Cents)
    # Why the revenue is unknown: "metered" (never known) or "details".
    unknown: Mapped[str | None] = mapped_column(sa.String(16))
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    # The readable plan (price nickname or product name); None until known.
    plan: Mapped[str | None] = mapped_column(sa.String(100))
    product_id: Mapped[str | None] = mapped_column(sa.String(255))
    trial_only: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    involuntary: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # The worker's lookup at Stripe: when it is due (None: nothing to look up),
    # how often it failed, and the last failure.
    lookup_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    lookup_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    lookup_error: Mapped[str | None] = mapped_column(sa.String(255))
    looked_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    customer: Mapped[Customer] = relationship()

    @property
    def live(self) -> bool:
        return self.ended_at is None and self.status in LIVE


@dataclass
class Applied:
    """What one event did: its status for Stripe's log, and to whom."""

    # recorded (a departure), active, won_back (a return), unchanged, stale, ignored,
    # rejected (an erased person, or a record that cannot be stored)
    status: str
    customer: Customer | None = None
    refused_on: date | None = None
    errors: list[str] | None = None


def subscriptions_of(customer_id: int) -> list[StripeSubscription]:
    return list(
        db.session.scalars(
            sa.select(StripeSubscription)
            .where(StripeSubscription.customer_id == customer_id)
            .order_by(StripeSubscription.event_at, StripeSubscription.id)
        )
    )


def _sum(rows: list[StripeSubscription]) -> Decimal | None:
    """Their monthly revenue: a trial never paid counts 0, an unknown makes it
    unknown."""
    total = Decimal(0)
    for row in rows:
        if row.trial_only:
            continue
        if row.monthly_revenue is None:
            return None
        total += row.monthly_revenue
    return total


def summarise(customer: Customer) -> None:
    """The customer's revenue, currency, plan and kind of departure, from their
    subscriptions: those running, or those they left with."""
    rows = subscriptions_of(customer.id)
    if not rows:
        return
    chosen = [r for r in rows if r.live]
    if not chosen:
        ends = [r for r in rows if r.ended_at is not None]
        if not ends:
            return
        last = max(ends, key=lambda r: (r.ended_at, r.event_at))
        chosen = [r for r in ends if r.ended_at >= last.ended_at - TOGETHER]
        customer.trial_only = all(r.trial_only for r in chosen)
        customer.involuntary = last.involuntary
    customer.monthly_revenue = _sum(chosen)
    currency = next((r.currency for r in reversed(chosen) if r.currency), None)
    if currency:
        customer.currency = currency
    plan = next((r.plan for r in reversed(chosen) if r.plan), None)
    if plan:
        customer.plan = plan


def _match(external_id: str | None, email: str | None) -> Customer | None:
    """The customer an event is about, as intake matches: by Stripe's id, else
    by email among customers without another id."""
    if external_id:
        found = db.session.scalar(
            sa.select(Customer).where(Customer.external_id == external_id)
        )
        if found is not None:
            return found
    if email:
        return db.session.scalar(
            sa.select(Customer)
            .where(Customer.email == email, Customer.external_id.is_(None))
            .order_by(Customer.id)
            .limit(1)
        )
    return None


def _clean_person(person: dict[str, Any]) -> dict[str, Any]:
    """The customer fields Stripe gave, validated; a bad value is left out."""
    given = {k: v for k, v in person.items() if k in PERSON_FIELDS and v}
    clean, errors = csvparse.validate_record({"external_id": "x", **given})
    bad = {e.column for e in errors}
    return {k: v for k, v in clean.items() if k in given and k not in bad}


def fill_person(customer: Customer, person: dict[str, Any]) -> list[str]:
    """Fill the customer's empty fields from Stripe's; returns those filled.

    What Karn already has (imported, typed in) is kept.
    """
    filled = []
    for name, value in _clean_person(person).items():
        if getattr(customer, name) is None and value is not None:
            setattr(customer, name, value)
            filled.append(name)
    return filled


def _new_customer(
    facts: Facts, person: dict, extra: dict[str, str]
) -> tuple[Customer | None, Applied | None]:
    """A customer Karn hears of first from Stripe: active, or departed."""
    fields: dict[str, Any] = {"external_id": facts.customer, **_clean_person(person)}
    if facts.ended_at is not None:
        fields["departed_at"] = facts.ended_at
    clean, errors = csvparse.validate_record(fields)
    if errors:
        return None, Applied("rejected", errors=[e.message_en for e in errors])
    if facts.ended_at is None:
        clean["status"] = CustomerStatus.ACTIVE
    result = operations.upsert_departures(
        [(clean, extra)], Source.STRIPE, schedule=False
    )
    if result.refused:
        return None, Applied("rejected", refused_on=result.refused[0])
    return db.session.get(Customer, result.ids[0]), None


def _store(row: StripeSubscription, facts: Facts, event_at: datetime) -> bool:
    """The event's facts on the row; True when they changed what Karn knows."""
    before = (
        row.status,
        row.ended_at,
        row.event_revenue,
        row.unknown,
        row.currency,
        row.product_id,
        row.trial_only,
        row.involuntary,
    )
    row.status, row.ended_at, row.event_at = facts.status, facts.ended_at, event_at
    row.event_revenue, row.unknown = facts.monthly_revenue, facts.unknown
    row.currency, row.product_id = facts.currency, facts.product_id
    row.trial_only, row.involuntary = facts.trial_only, facts.involuntary
    after = (
        row.status,
        row.ended_at,
        row.event_revenue,
        row.unknown,
        row.currency,
        row.product_id,
        row.trial_only,
        row.involuntary,
    )
    if before == after:
        return False
    row.monthly_revenue = facts.monthly_revenue
    if facts.plan or not row.plan:
        row.plan = facts.plan
    # Looked up afresh: the customer's details, the product's name, and the
    # amount with what the event leaves out (the customer's discount).
    row.lookup_due_at, row.lookup_attempts, row.lookup_error = clock.now(), 0, None
    return True


def apply(
    facts: Facts,
    event_at: datetime,
    *,
    person: dict[str, Any] | None = None,
    reason: Any = None,
    comment: str | None = None,
    extra: dict[str, str] | None = None,
) -> Applied:
    """Apply one subscription event (its facts) to Karn's customers.

    The caller commits. Departures and returns are announced (invitation,
    win-back) after the customer's flags are set, so an involuntary departure
    is known as such when the schedule looks at it.
    """
    person, extra = person or {}, extra or {}
    row = db.session.get(StripeSubscription, facts.id)
    if row is not None and row.customer.erased_at is not None:
        # Erased since: nothing ties the subscription to anybody any more.
        db.session.delete(row)
        db.session.flush()
        row = None
    if row is not None and (
        row.event_at > event_at or (row.ended_at is not None and facts.ended_at is None)
    ):
        return Applied("stale", row.customer)
    if row is not None:
        customer = row.customer
        known = True
    else:
        customer = _match(facts.customer, _clean_person(person).get("email"))
        known = customer is not None
    if customer is None:
        if facts.ended_at is None and facts.status not in LIVE:
            return Applied("ignored")  # incomplete: not a customer yet
        if facts.status == "incomplete_expired" or not facts.customer:
            return Applied("ignored")  # never began
        customer, refused = _new_customer(facts, person, extra)
        if refused is not None:
            return refused
    if customer.erased_at is not None:
        return Applied("ignored")
    ending = facts.ended_at is not None and (row is None or row.ended_at is None)
    if row is None:
        row = StripeSubscription(id=facts.id, customer_id=customer.id)
        db.session.add(row)
    _store(row, facts, event_at)
    if known:
        if customer.external_id is None:
            customer.external_id = facts.customer
        fill_person(customer, person)
    db.session.flush()

    if any(r.live for r in subscriptions_of(customer.id)):
        came_back = customer.status == CustomerStatus.DEPARTED and known
        customer.status = CustomerStatus.ACTIVE
        summarise(customer)
        db.session.flush()
        if came_back:
            operations.returned([customer.id], clock.now().date(), Source.STRIPE.value)
            return Applied("won_back", customer)
        return Applied("active", customer)
    if not ending:
        summarise(customer)
        return Applied("unchanged", customer)

    # The last running subscription ended: the customer has left.
    moved = (
        not known
        or customer.status == CustomerStatus.ACTIVE
        or customer.departed_at is None
        or facts.ended_at > customer.departed_at
    )
    customer.status = CustomerStatus.DEPARTED
    if moved:
        customer.departed_at = facts.ended_at
    summarise(customer)
    if reason is not None:
        customer.stated_reason = reason
    if comment is not None and comment != customer.stated_comment:
        customer.stated_comment = comment
        comments.forget([customer.id])
    if known and extra:
        customer.extra = {**(customer.extra or {}), **extra}
    db.session.flush()
    if moved:
        operations.departed([customer.id])
    return Applied("recorded", customer)
