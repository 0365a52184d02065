"""The worker's lookup at Stripe: what Stripe's events leave out.

Stripe's subscription events name the customer and the product by id only,
leave out a tiered price's tiers and name discounts by id. With
`STRIPE_API_KEY` (a restricted key that may read Customers, Products and
Subscriptions) the worker asks Stripe's API, with the official `stripe`
package, for:

- the customer: email, name, language (`preferred_locales`: nl or en),
  country (`address.country`, as the region) and their discount; each fills
  only a field Karn has empty;
- the subscription, with its discounts and tiers: the monthly revenue as
  karn.customers.stripe_objects computes it, the customer's discount included;
- the product's name, as the plan when the price has no nickname (names are
  kept for an hour per worker, so a product is asked for once, not per
  subscription).

A departed customer whose email address only now became known is handed to
the invitation schedule (`operations.departed`). The webhook never calls
Stripe: this runs as a worker job, at most LOOKUPS_PER_PASS subscriptions and
PASS_SECONDS per pass. Each lookup is claimed with a conditional UPDATE, so two
workers never look up the same one. A failure waits 1, 2, 4 … minutes (at most
six hours) before the next try; Stripe unreachable, limiting or refusing the
key ends the pass. After MAX_ATTEMPTS the lookup stops, its error shown to
administrators (`notice`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import Flask, current_app

from karn import clock
from karn.customers import operations
from karn.customers.models import Customer
from karn.customers.stripe_objects import country_of, facts_of, language_of
from karn.customers.stripe_subscriptions import (
    StripeSubscription,
    fill_person,
    summarise,
)
from karn.enums import CustomerStatus, Source
from karn.extensions import db

if TYPE_CHECKING:
    import stripe

log = logging.getLogger(__name__)

LOOKUPS_PER_PASS = 25
PASS_SECONDS = 30
REQUEST_TIMEOUT = 10
MAX_ATTEMPTS = 12
MAX_WAIT = timedelta(hours=6)
# A claimed lookup comes due again after this, should its worker have died.
CLAIM = timedelta(minutes=5)
PRODUCT_SECONDS = 3600
# Expanded in the subscription: what its amount needs (at most four levels).
SUBSCRIPTION_EXPAND = [
    "discounts.source.coupon",
    "items.data.discounts",
    "items.data.price.tiers",
]
CUSTOMER_EXPAND = ["discount.source.coupon"]

# product id -> (name or None, when it was read, time.monotonic())
_products: dict[str, tuple[str | None, float]] = {}


class StopPass(Exception):
    """Stripe cannot be used now (unreachable, limiting, refusing the key)."""


def configured() -> bool:
    return bool(current_app.config.get("STRIPE_API_KEY"))


def client() -> stripe.StripeClient:
    """A client for the configured key and address, without retries of its own
    (the worker retries later) and with a short time-out."""
    import stripe  # here, not above: loading it slows every command's start

    config = current_app.config
    return stripe.StripeClient(
        config["STRIPE_API_KEY"],
        base_addresses={
            "api": config.get("STRIPE_API_BASE") or stripe.DEFAULT_API_BASE
        },
        max_network_retries=0,
        http_client=stripe.new_default_http_client(timeout=REQUEST_TIMEOUT),
    )


def _missing(exc: stripe.StripeError) -> bool:
    import stripe

    return isinstance(exc, stripe.InvalidRequestError) and exc.http_status == 404


def _call(fetch):
    """A request's object as a dict; None when Stripe has no such object."""
    import stripe

    try:
        found = fetch().to_dict()
    except stripe.InvalidRequestError as exc:
        if _missing(exc):
            return None
        raise
    except (
        stripe.AuthenticationError,
        stripe.PermissionError,
        stripe.APIConnectionError,
        stripe.RateLimitError,
    ) as exc:
        raise StopPass(_describe(exc)) from exc
    return None if found.get("deleted") else found


def _describe(exc: Exception) -> str:
    message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {message}"[:255]


def product_name(api: stripe.StripeClient, product_id: str) -> str | None:
    """The product's name, kept for an hour."""
    cached = _products.get(product_id)
    if cached is not None and time.monotonic() - cached[1] < PRODUCT_SECONDS:
        return cached[0]
    found = _call(lambda: api.v1.products.retrieve(product_id))
    name = ((found or {}).get("name") or "").strip()[:100] or None
    _products[product_id] = (name, time.monotonic())
    return name


def _refine(api, row: StripeSubscription, discount: dict | None) -> None:
    """The subscription's amount and plan from the API's complete object."""
    found = _call(
        lambda: api.v1.subscriptions.retrieve(
            row.id, params={"expand": SUBSCRIPTION_EXPAND}
        )
    )
    nickname = None
    if found is not None:
        facts = facts_of(found, customer_discount=discount)
        row.monthly_revenue, row.unknown = facts.monthly_revenue, facts.unknown
        row.currency = facts.currency or row.currency
        row.product_id = facts.product_id or row.product_id
        nickname = facts.plan
    name = nickname
    if name is None and row.product_id:
        name = product_name(api, row.product_id)
    if name:
        row.plan = name


def _look_up(api, customer: Customer, rows: list[StripeSubscription]) -> None:
    """One customer's details and these subscriptions' amounts and plans."""
    found = None
    if customer.external_id:
        found = _call(
            lambda: api.v1.customers.retrieve(
                customer.external_id, params={"expand": CUSTOMER_EXPAND}
            )
        )
    filled = []
    if found is not None:
        filled = fill_person(
            customer,
            {
                "email": found.get("email"),
                "name": found.get("name"),
                "language": language_of(found),
                "region": country_of(found),
            },
        )
    discount = (found or {}).get("discount")
    now = clock.now()
    for row in rows:
        _refine(api, row, discount if isinstance(discount, dict) else None)
        row.lookup_due_at, row.lookup_attempts, row.lookup_error = None, 0, None
        row.looked_up_at = now
    summarise(customer)
    db.session.flush()
    if (
        "email" in filled
        and customer.status == CustomerStatus.DEPARTED
        and customer.departed_at is not None
    ):
        # Reachable at last: the schedule decides (delay, cut-off, suppression).
        operations.departed([customer.id])


def _failed(ids: list[str], error: str) -> None:
    """Try these again later: 1, 2, 4 … minutes, or give up after MAX_ATTEMPTS."""
    now = clock.now()
    for row in db.session.scalars(
        sa.select(StripeSubscription).where(StripeSubscription.id.in_(ids))
    ):
        row.lookup_attempts += 1
        row.lookup_error = error
        wait = min(timedelta(minutes=2 ** (row.lookup_attempts - 1)), MAX_WAIT)
        gave_up = row.lookup_attempts >= MAX_ATTEMPTS
        row.lookup_due_at = None if gave_up else now + wait
    db.session.commit()


def _claim(limit: int) -> dict[int, list[str]]:
    """Due lookups, claimed for this worker, by customer."""
    now = clock.now()
    due = db.session.execute(
        sa.select(StripeSubscription.id, StripeSubscription.lookup_due_at)
        .join(Customer, Customer.id == StripeSubscription.customer_id)
        .where(
            StripeSubscription.lookup_due_at <= now,
            Customer.erased_at.is_(None),
        )
        .order_by(StripeSubscription.lookup_due_at)
        .limit(limit)
    ).all()
    claimed = []
    for sub_id, was_due in due:
        won = db.session.execute(
            sa.update(StripeSubscription)
            .where(
                StripeSubscription.id == sub_id,
                StripeSubscription.lookup_due_at == was_due,
            )
            .values(lookup_due_at=now + CLAIM)
        ).rowcount
        if won:
            claimed.append(sub_id)
    db.session.commit()
    groups: dict[int, list[str]] = {}
    for sub_id, cid in db.session.execute(
        sa.select(StripeSubscription.id, StripeSubscription.customer_id).where(
            StripeSubscription.id.in_(claimed)
        )
    ):
        groups.setdefault(cid, []).append(sub_id)
    return groups


def look_up_due(limit: int | None = None) -> int:
    """Look up what is due (at most LOOKUPS_PER_PASS); returns how many
    subscriptions were completed."""
    if not configured():
        return 0
    import stripe

    api = client()
    started = time.monotonic()
    done = 0
    for customer_id, ids in _claim(limit or LOOKUPS_PER_PASS).items():
        if time.monotonic() - started > PASS_SECONDS:
            # Claimed, not done: due again once the claim runs out.
            break
        customer = db.session.get(Customer, customer_id)
        rows = list(
            db.session.scalars(
                sa.select(StripeSubscription).where(StripeSubscription.id.in_(ids))
            )
        )
        try:
            _look_up(api, customer, rows)
            db.session.commit()
            done += len(rows)
        except StopPass as exc:
            db.session.rollback()
            log.warning("Stripe lookup stopped: %s", exc)
            _failed(ids, str(exc))
            break
        except stripe.StripeError as exc:
            db.session.rollback()
            log.warning("Stripe lookup of %s failed: %s", ids, _describe(exc))
            _failed(ids, _describe(exc))
        except Exception as exc:
            # An answer Karn cannot read: counted like any failure, so it is
            # given up in the end rather than tried every few minutes forever.
            db.session.rollback()
            log.exception("Stripe lookup of %s failed", ids)
            _failed(ids, _describe(exc))
    return done


def run_lookup_job(app: Flask) -> int:
    """The worker's job: never raises, so the other jobs run whatever happens."""
    with app.app_context():
        try:
            done = look_up_due()
            if done:
                log.info("looked up %d Stripe subscriptions", done)
            return done
        except Exception:
            log.exception("Stripe lookup failed")
            db.session.rollback()
            return 0
        finally:
            db.session.remove()


@dataclass
class Notice:
    """What administrators are told about Stripe departures."""

    # Departed customers from Stripe without an email address (not invited).
    without_email: int
    # Subscriptions whose lookup waits, and those given up; the last error.
    waiting: int
    given_up: int
    error: str | None
    configured: bool


def notice() -> Notice | None:
    """The state of the lookups, when there is something to say."""
    without_email = db.session.scalar(
        sa.select(sa.func.count(Customer.id)).where(
            Customer.source == Source.STRIPE,
            Customer.status == CustomerStatus.DEPARTED,
            Customer.email.is_(None),
            Customer.erased_at.is_(None),
        )
    )
    waiting, given_up = db.session.execute(
        sa.select(
            sa.func.count().filter(StripeSubscription.lookup_due_at.is_not(None)),
            sa.func.count().filter(
                StripeSubscription.lookup_due_at.is_(None),
                StripeSubscription.lookup_error.is_not(None),
            ),
        )
    ).one()
    error = db.session.scalar(
        sa.select(StripeSubscription.lookup_error)
        .where(StripeSubscription.lookup_error.is_not(None))
        .order_by(StripeSubscription.created_at.desc())
        .limit(1)
    )
    found = Notice(without_email, waiting, given_up, error, configured())
    if not (without_email or error):
        return None
    return found
