"""Stripe's webhook, verified: a cancelled subscription is a departure, a new
subscription of a departed customer a win-back."""

import logging
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import stripe
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from karn.api import jsonbody
from karn.customers import csvparse, erased
from karn.customers.models import Customer, StripeEvent
from karn.customers.operations import upsert_departures
from karn.enums import Reason, Source
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
# Months per billing interval, to state every price per month.
MONTHS_PER = {
    "day": Decimal(12) / Decimal(365),
    "week": Decimal(12) / Decimal(52),
    "month": Decimal(1),
    "year": Decimal(12),
}
TOLERANCE_SECONDS = 300
# A cancellation is a departure; a new subscription of a departed customer is a
# win-back. Every other event type is acknowledged and ignored.
HANDLED = ("customer.subscription.deleted", "customer.subscription.created")


def _reply(http_status: int, **body):
    response = jsonify(body)
    response.status_code = http_status
    return response


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value


def monthly_revenue(subscription: dict) -> Decimal | None:
    """What the subscription brought in per month, from its items' prices."""
    total, known = Decimal(0), False
    for item in (subscription.get("items") or {}).get("data") or []:
        price = item.get("price") or item.get("plan") or {}
        amount = price.get("unit_amount")
        if amount is None and price.get("unit_amount_decimal") is not None:
            amount = Decimal(str(price["unit_amount_decimal"]))
        recurring = price.get("recurring") or {
            "interval": price.get("interval"),
            "interval_count": price.get("interval_count"),
        }
        per = MONTHS_PER.get(recurring.get("interval") or "month")
        if amount is None or per is None:
            continue
        count = Decimal(recurring.get("interval_count") or 1)
        quantity = Decimal(item.get("quantity") or 1)
        total += Decimal(amount) * quantity / 100 / (count * per)
        known = True
    return total.quantize(Decimal("0.01")) if known else None


def plan_name(subscription: dict) -> str | None:
    """The plan's readable name: price nickname, product name, or an id."""
    items = (subscription.get("items") or {}).get("data") or []
    if not items:
        return None
    price = items[0].get("price") or items[0].get("plan") or {}
    product = price.get("product")
    name = price.get("nickname") or (
        product.get("name") if isinstance(product, dict) else None
    )
    return (name or _id_of(product) or price.get("id") or "")[:100] or None


def departure_from(event: dict) -> tuple[dict, dict, Reason | None, str | None]:
    """The departure in a subscription-deleted event: fields, extra, reason, comment."""
    subscription = event["data"]["object"]
    customer = subscription.get("customer")
    fields: dict[str, Any] = {"external_id": _id_of(customer)}
    if isinstance(customer, dict):
        fields["email"] = customer.get("email")
        fields["name"] = customer.get("name")
        locales = customer.get("preferred_locales") or []
        lang = next((loc[:2] for loc in locales if loc[:2] in ("nl", "en")), None)
        fields["language"] = lang
    ended = (
        subscription.get("ended_at")
        or subscription.get("canceled_at")
        or event.get("created")
    )
    fields["departed_at"] = datetime.fromtimestamp(int(ended), UTC)
    fields["plan"] = plan_name(subscription)
    fields["monthly_revenue"] = monthly_revenue(subscription)
    details = subscription.get("cancellation_details") or {}
    reason = FEEDBACK_REASONS.get(details.get("feedback") or "")
    comment = (details.get("comment") or "").strip() or None
    extra = {
        f"stripe_{k}": str(v)
        for k, v in (subscription.get("metadata") or {}).items()
        if isinstance(v, str | int | float)
    }
    extra["stripe_subscription"] = subscription.get("id") or ""
    return fields, extra, reason, comment


def _reactivation(event: dict):
    """A new subscription of a departed customer: they came back (a win-back)."""
    from karn.callbacks.operations import CallError, record_win_back

    event_id, event_type = event["id"], event["type"]
    subscription = event["data"]["object"]
    external_id = _id_of(subscription.get("customer"))
    started = subscription.get("start_date") or event.get("created")
    db.session.add(StripeEvent(id=event_id, type=event_type))
    customer = (
        db.session.scalar(
            sa.select(Customer).where(Customer.external_id == external_id)
        )
        if external_id
        else None
    )
    status = "ignored"
    if customer is not None and started is not None:
        returned = datetime.fromtimestamp(int(started), UTC)
        if returned > customer.departed_at:
            try:
                record_win_back(
                    customer,
                    returned.date(),
                    "stripe",
                    revenue=monthly_revenue(subscription),
                )
                status = "won_back"
            except CallError as exc:
                log.info("Stripe event %s: no win-back (%s)", event_id, exc.code)
        if status == "won_back":
            db.session.get(StripeEvent, event_id).customer_id = customer.id
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return _reply(200, status="duplicate", id=event_id)
    return _reply(200, status=status, id=event_id)


def _signed_at(header: str) -> int:
    """The time in a verified Stripe-Signature header: its first t=, as the
    verifier reads it."""
    items = [item.split("=", 2) for item in header.split(",")]
    return int(next(item[1] for item in items if item[0] == "t"))


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
    except (stripe.SignatureVerificationError, ValueError, KeyError, TypeError) as exc:
        log.warning("refused a Stripe event: %s", exc)
        return _reply(400, error="invalid", message="Signature or payload not valid.")

    if event_type not in HANDLED:
        return _reply(200, status="ignored", type=event_type)
    if db.session.get(StripeEvent, event_id) is not None:
        return _reply(200, status="duplicate", id=event_id)
    if event_type == "customer.subscription.created":
        return _reactivation(event)

    fields, extra, reason, comment = departure_from(event)
    clean, errors = csvparse.validate_record(
        {k: v for k, v in fields.items() if v is not None}
    )
    if errors:
        # Stripe resends failed events for days; a malformed customer record
        # will not get better, so it is acknowledged and logged.
        log.error(
            "Stripe event %s not recorded: %s",
            event_id,
            "; ".join(e.message_en for e in errors),
        )
        db.session.add(StripeEvent(id=event_id, type=event_type))
        db.session.commit()
        return _reply(200, status="rejected", errors=[e.message_en for e in errors])
    db.session.add(StripeEvent(id=event_id, type=event_type))
    result = upsert_departures([(clean, extra)], Source.STRIPE)
    if result.refused:
        # A cancellation of someone erased since (a resent or replayed event):
        # acknowledged, so Stripe stops sending it, and nothing of it is kept.
        error = erased.error(result.refused[0])
        log.info("Stripe event %s not recorded: the person was erased", event_id)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return _reply(200, status="duplicate", id=event_id)
        return _reply(
            200,
            status="rejected",
            id=event_id,
            code=error.code,
            erased_on=result.refused[0].isoformat(),
            errors=[error.message_en],
        )
    customer = db.session.get(Customer, result.ids[0])
    if reason is not None:
        customer.stated_reason = reason
    if comment is not None:
        customer.stated_comment = comment
    db.session.get(StripeEvent, event_id).customer_id = customer.id
    try:
        db.session.commit()
    except IntegrityError:
        # The same event delivered twice at once: the other delivery won.
        db.session.rollback()
        return _reply(200, status="duplicate", id=event_id)
    return _reply(200, status="recorded", id=event_id, customer=customer.external_id)
