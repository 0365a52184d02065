"""Stripe's subscription-deleted webhook, with payloads signed as Stripe signs them."""

import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from karn.customers.models import Customer, StripeEvent

SECRET = "whsec_test_secret"


@pytest.fixture
def app_settings():
    return {"STRIPE_WEBHOOK_SECRET": SECRET}


def signed(payload: str, secret: str = SECRET, timestamp: int | None = None) -> dict:
    """The Stripe-Signature header: t=<time>,v1=HMAC-SHA256(secret, "<t>.<body>")."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256)
    return {
        "Stripe-Signature": f"t={t},v1={mac.hexdigest()}",
        "Content-Type": "application/json",
    }


def event(event_id="evt_1", feedback="too_expensive", comment="Veel te duur geworden"):
    return {
        "id": event_id,
        "object": "event",
        "type": "customer.subscription.deleted",
        "created": 1764000000,
        "data": {
            "object": {
                "id": "sub_1",
                "object": "subscription",
                "customer": {
                    "id": "cus_42",
                    "email": "Klant@Example.nl",
                    "name": "Kees Klant",
                    "preferred_locales": ["nl-NL"],
                },
                "canceled_at": 1763900000,
                "ended_at": 1763990000,
                "cancellation_details": {
                    "feedback": feedback,
                    "comment": comment,
                    "reason": "cancellation_requested",
                },
                "metadata": {"team": "west"},
                "items": {
                    "data": [
                        {
                            "quantity": 2,
                            "price": {
                                "id": "price_1",
                                "nickname": "Pro jaarlijks",
                                "unit_amount": 24000,
                                "currency": "eur",
                                "recurring": {"interval": "year", "interval_count": 1},
                                "product": "prod_1",
                            },
                        }
                    ]
                },
            }
        },
    }


def post(client, body, headers):
    return client.post("/webhooks/stripe", data=body, headers=headers)


def test_a_signed_cancellation_records_the_departure(client, db):
    body = json.dumps(event())
    response = post(client, body, signed(body))
    assert response.status_code == 200 and response.json["status"] == "recorded"
    customer = db.session.scalars(sa.select(Customer)).one()
    assert customer.external_id == "cus_42"
    assert customer.email == "klant@example.nl" and customer.name == "Kees Klant"
    assert customer.language.value == "nl"
    assert customer.plan == "Pro jaarlijks"
    # 2 x 240.00 a year is 40.00 a month.
    assert customer.monthly_revenue == Decimal("40.00")
    assert customer.departed_at.timestamp() == 1763990000
    assert customer.stated_reason.value == "price"
    assert customer.stated_comment == "Veel te duur geworden"
    assert customer.source.value == "stripe"
    assert customer.extra["stripe_team"] == "west"


@pytest.mark.parametrize(
    "feedback,reason",
    [
        ("customer_service", "service"),
        ("low_quality", "quality"),
        ("switched_service", "brand"),
        ("unused", "need"),
        ("missing_features", "other"),
    ],
)
def test_stripe_feedback_maps_to_reason_codes(client, db, feedback, reason):
    body = json.dumps(event(feedback=feedback))
    post(client, body, signed(body))
    assert db.session.scalars(sa.select(Customer)).one().stated_reason.value == reason


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},
        "wrong-secret",
        "old-timestamp",
        "future-timestamp",
        "far-future-timestamp",
        "tampered",
        "deeply-nested",
    ],
)
def test_invalid_signatures_get_400_and_change_nothing(client, db, headers):
    body = json.dumps(event())
    if headers == "wrong-secret":
        headers = signed(body, secret="whsec_other")
    elif headers == "old-timestamp":
        headers = signed(body, timestamp=int(time.time()) - 3600)
    elif headers == "future-timestamp":
        # Signed ahead of time, the event could be sent again for an hour.
        headers = signed(body, timestamp=int(time.time()) + 3600)
    elif headers == "far-future-timestamp":
        headers = signed(body, timestamp=int(time.time()) + 10 * 365 * 86400)
    elif headers == "deeply-nested":
        # Signed correctly, but nested far deeper than any event.
        body = body[:-1] + ', "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}"
        headers = signed(body)
    elif headers == "tampered":
        headers = signed(body)
        body = body.replace("cus_42", "cus_43")
    response = post(client, body, headers)
    assert response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(Customer.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(StripeEvent.id))) == 0


def test_a_signature_a_little_ahead_of_our_clock_is_accepted(client, db):
    body = json.dumps(event())
    response = post(client, body, signed(body, timestamp=int(time.time()) + 60))
    assert response.status_code == 200 and response.json["status"] == "recorded"


def test_a_replayed_event_changes_nothing(client, db):
    body = json.dumps(event())
    post(client, body, signed(body))
    customer = db.session.scalars(sa.select(Customer)).one()
    customer.name = "Changed in Karn"
    db.session.commit()
    replay = post(client, body, signed(body))
    assert replay.status_code == 200 and replay.json["status"] == "duplicate"
    db.session.expire_all()
    assert db.session.scalars(sa.select(Customer)).one().name == "Changed in Karn"


def test_other_event_types_are_acknowledged_and_ignored(client, db):
    body = json.dumps({**event(), "type": "invoice.paid"})
    response = post(client, body, signed(body))
    assert response.status_code == 200 and response.json["status"] == "ignored"
    assert db.session.scalar(sa.select(sa.func.count(Customer.id))) == 0


def test_without_a_secret_the_endpoint_is_off(client, app, db):
    app.config["STRIPE_WEBHOOK_SECRET"] = None
    body = json.dumps(event())
    assert post(client, body, signed(body)).status_code == 404


def test_a_new_subscription_of_a_departed_customer_is_a_win_back(client, db):
    from karn.callbacks.models import WinBack

    body = json.dumps(event())
    post(client, body, signed(body))
    created = event("evt_2")
    created["type"] = "customer.subscription.created"
    created["data"]["object"].update(
        {"id": "sub_2", "start_date": 1766000000, "customer": "cus_42"}
    )
    body = json.dumps(created)
    response = post(client, body, signed(body))
    assert response.status_code == 200 and response.json["status"] == "won_back"
    win = db.session.scalars(sa.select(WinBack)).one()
    assert win.via == "stripe"
    assert win.revenue == Decimal("40.00")  # 2 x 240 a year
    assert str(win.returned_on) == "2025-12-17"
    # A replay changes nothing; a stranger's new subscription is no win-back.
    assert post(client, body, signed(body)).json["status"] == "duplicate"
    stranger = event("evt_3")
    stranger["type"] = "customer.subscription.created"
    stranger["data"]["object"]["customer"] = "cus_new"
    body = json.dumps(stranger)
    assert post(client, body, signed(body)).json["status"] == "ignored"
    assert db.session.scalar(sa.select(sa.func.count(WinBack.id))) == 1


def test_an_erased_customer_comes_back_only_as_a_new_customer(client, db):
    from datetime import UTC, datetime

    from karn import clock
    from karn.callbacks.models import WinBack
    from karn.privacy.operations import erase_customer
    from tests.test_privacy_erasure import find_everywhere

    body = json.dumps(event())
    assert post(client, body, signed(body)).json["status"] == "recorded"
    clock.freeze(datetime(2026, 12, 1, 12, tzinfo=UTC))
    try:
        erase_customer(db.session.scalars(sa.select(Customer)).one())
        db.session.commit()
    finally:
        clock.freeze(None)
    personal = ("klant@example.nl", "Kees Klant", "cus_42", "Veel te duur")
    assert find_everywhere(*personal) == []

    # The same cancellation sent again as a new event: refused, nothing kept.
    body = json.dumps(event("evt_2"))
    response = post(client, body, signed(body))
    assert response.status_code == 200
    assert (response.json["status"], response.json["code"]) == ("rejected", "erased")
    assert response.json["erased_on"] == "2026-12-01"
    assert find_everywhere(*personal) == []
    assert db.session.get(StripeEvent, "evt_2").customer_id is None

    # A new subscription after the erasure is a new customer, not a win-back.
    started = int(datetime(2026, 12, 3, tzinfo=UTC).timestamp())
    new = {
        "id": "evt_3",
        "type": "customer.subscription.created",
        "created": started,
        "data": {
            "object": {"id": "sub_2", "customer": "cus_42", "start_date": started}
        },
    }
    body = json.dumps(new)
    assert post(client, body, signed(body)).json["status"] == "ignored"
    assert db.session.scalar(sa.select(sa.func.count(WinBack.id))) == 0
    # ... and its cancellation is that new customer's departure.
    cancelled = event("evt_4", comment="Toch weer weg")
    ended = int(datetime(2026, 12, 5, tzinfo=UTC).timestamp())
    cancelled["data"]["object"].update(canceled_at=ended, ended_at=ended)
    body = json.dumps(cancelled)
    assert post(client, body, signed(body)).json["status"] == "recorded"
    db.session.expire_all()
    customers = db.session.scalars(sa.select(Customer).order_by(Customer.id)).all()
    assert [(c.external_id, c.email, c.stated_comment) for c in customers] == [
        (None, None, None),
        ("cus_42", "klant@example.nl", "Toch weer weg"),
    ]
