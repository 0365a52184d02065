"""Stripe's webhook, verified: subscription events keep Karn's customers in step.

A subscription that starts or runs brings in an active customer (or records
the return of one who had left); the end of a customer's last subscription is
their departure (karn.customers.stripe_subscriptions). The webhook records
and answers at once and never calls Stripe: what Stripe's events leave out
(the customer's email, name and language, the product's name) the worker
looks up with STRIPE_API_KEY (karn.customers.stripe_lookup).
"""

import logging
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from karn.api import jsonbody
from karn.customers import erased, stripe_objects
from karn.customers import stripe_subscriptions as subscriptions
from karn.customers.models import StripeEvent
from karn.enums import Reason
from karn.extensions import csrf, db

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)

# Stripe's cancellation_details.feedback -> Karn's reason codes.
FEEDBACK_REASONS = {
    "customer_service": Reason.SERVICE,
    "low_quality": Reason.QUALITY,
    "switched_service": Reason.BRAND,
    "too_expensive": Reason.PRICE,
    "unused": Reason.NEED,
    "missing_features": Reason.OTHER,
    "too_complex": Reason.OTHER,
    "other": Reason.OTHER,
}
TOLERANCE_SECONDS = 300
# Every other event type is acknowledged and ignored.
HANDLED = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)


def _reply(http_status: int, **body):
    response = jsonify(body)
    response.status_code = http_status
    return response


def person_of(customer: Any) -> dict[str, Any]:
    """What an expanded customer object says of the person (rarely in events)."""
    if not isinstance(customer, dict):
        return {}
    return {
        "email": customer.get("email"),
        "name": customer.get("name"),
        "language": stripe_objects.language_of(customer),
        "region": stripe_objects.country_of(customer),
    }


def _extra(subscription: dict) -> dict[str, str]:
    extra = {
        f"stripe_{k}": str(v)
        for k, v in (subscription.get("metadata") or {}).items()
        if isinstance(v, str | int | float)
    }
    extra["stripe_subscription"] = subscription.get("id") or ""
    return extra


def _win_back_revenue(applied: subscriptions.Applied) -> None:
    """A return recorded by the win-back listener gets the revenue regained."""
    from karn.callbacks.models import WinBack

    customer = applied.customer
    win = db.session.scalar(
        sa.select(WinBack).where(WinBack.customer_id == customer.id)
    )
    if win is not None and win.via == "stripe" and win.revenue is None:
        win.revenue = customer.monthly_revenue


def handle(event: dict) -> subscriptions.Applied:
    """Apply a subscription event to Karn's customers (the caller commits)."""
    subscription = event["data"]["object"]
    previous = event["data"].get("previous_attributes")
    facts = stripe_objects.facts_of(
        subscription,
        previous,
        deleted=event["type"] == "customer.subscription.deleted",
        at=event.get("created"),
    )
    details = subscription.get("cancellation_details") or {}
    applied = subscriptions.apply(
        facts,
        datetime.fromtimestamp(int(event.get("created") or time.time()), UTC),
        person=person_of(subscription.get("customer")),
        reason=FEEDBACK_REASONS.get(details.get("feedback") or ""),
        comment=(details.get("comment") or "").strip() or None,
        extra=_extra(subscription),
    )
    if applied.status == "won_back":
        _win_back_revenue(applied)
    return applied


def _signed_at(header: str) -> int:
    """The time in a verified Stripe-Signature header: its first t=, as the
    verifier reads it."""
    items = [item.split("=", 2) for item in header.split(",")]
    return int(next(item[1] for item in items if item[0] == "t"))


def _answer(event_id: str, applied: subscriptions.Applied):
    """Stripe's log shows what became of the event."""
    if applied.refused_on is not None:
        # An event of someone erased since (a resent or replayed one):
        # acknowledged, so Stripe stops sending it, and nothing of it is kept.
        error = erased.error(applied.refused_on)
        log.info("Stripe event %s not recorded: the person was erased", event_id)
        return _reply(
            200,
            status="rejected",
            id=event_id,
            code=error.code,
            erased_on=applied.refused_on.isoformat(),
            errors=[error.message_en],
        )
    if applied.errors:
        # Stripe resends failed events for days; a malformed customer record
        # will not get better, so it is acknowledged and logged.
        log.error(
            "Stripe event %s not recorded: %s", event_id, "; ".join(applied.errors)
        )
        return _reply(200, status="rejected", id=event_id, errors=applied.errors)
    body: dict[str, Any] = {"status": applied.status, "id": event_id}
    if applied.customer is not None and applied.customer.external_id:
        body["customer"] = applied.customer.external_id
    return _reply(200, **body)


@bp.route("/stripe", methods=["POST"])
def stripe_events():
    """Receive a Stripe event; only a correctly signed one changes anything."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        return _reply(
            404,
            error="not_configured",
            message="Set KARN_STRIPE_WEBHOOK_SECRET to receive Stripe events.",
        )
    import stripe  # only here: the package takes a while to load

    payload = request.get_data(as_text=True)
    try:
        header = request.headers.get("Stripe-Signature")
        stripe.WebhookSignature.verify_header(
            payload, header, secret, TOLERANCE_SECONDS
        )
        # The verifier refuses a signature older than the tolerance, not one
        # from the future: a signature made ahead would be good for that long.
        if _signed_at(header) > time.time() + TOLERANCE_SECONDS:
            raise stripe.SignatureVerificationError(
                "Timestamp in the future", header, payload
            )
        event = jsonbody.loads(payload)
        event_id, event_type = event["id"], event["type"]
        if event_type in HANDLED and not isinstance(event["data"]["object"], dict):
            raise TypeError("data.object is not an object")
    except (stripe.SignatureVerificationError, ValueError, KeyError, TypeError) as exc:
        log.warning("refused a Stripe event: %s", exc)
        return _reply(400, error="invalid", message="Signature or payload not valid.")

    if event_type not in HANDLED:
        return _reply(200, status="ignored", type=event_type)
    if db.session.get(StripeEvent, event_id) is not None:
        return _reply(200, status="duplicate", id=event_id)
    if not event["data"]["object"].get("id"):
        return _reply(400, error="invalid", message="The subscription has no id.")
    try:
        db.session.add(StripeEvent(id=event_id, type=event_type))
        applied = handle(event)
        if applied.customer is not None and applied.status not in ("stale", "ignored"):
            db.session.get(StripeEvent, event_id).customer_id = applied.customer.id
        answer = _answer(event_id, applied)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if db.session.get(StripeEvent, event_id) is not None:
            # The same event delivered twice at once: the other delivery won.
            return _reply(200, status="duplicate", id=event_id)
        # Another event of the same new customer was stored at the same
        # moment: Stripe sends this one again, and then it finds them.
        log.info("Stripe event %s met a concurrent one; Stripe retries it", event_id)
        return _reply(409, error="conflict", message="Try again.")
    return answer
