"""Stripe's subscription-deleted webhook, with payloads signed as Stripe signs them."""

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from karn.customers.models import Customer, StripeEvent
from tests import fake_stripe as fs

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
    from karn import clock
    from karn.callbacks.models import WinBack

    body = json.dumps(event())
    post(client, body, signed(body))
    created = event("evt_2")
    created["type"] = "customer.subscription.created"
    created["data"]["object"].update(
        {"id": "sub_2", "start_date": 1766000000, "customer": "cus_42"}
    )
    body = json.dumps(created)
    clock.freeze(datetime(2026, 12, 8, 9, tzinfo=UTC))
    try:
        response = post(client, body, signed(body))
    finally:
        clock.freeze(None)
    assert response.status_code == 200 and response.json["status"] == "won_back"
    win = db.session.scalars(sa.select(WinBack)).one()
    assert win.via == "stripe"
    assert win.revenue == Decimal("40.00")  # 2 x 240 a year
    # The return is recorded as of the day Karn hears of it.
    assert str(win.returned_on) == "2026-12-08"
    customer = db.session.scalars(sa.select(Customer)).one()
    assert customer.status.value == "active"
    assert customer.departed_at.timestamp() == 1763990000  # the departure kept
    # A replay changes nothing; a stranger's new subscription is no win-back
    # but a new, active customer.
    assert post(client, body, signed(body)).json["status"] == "duplicate"
    stranger = event("evt_3")
    stranger["type"] = "customer.subscription.created"
    stranger["data"]["object"].update(id="sub_3", customer="cus_new")
    body = json.dumps(stranger)
    assert post(client, body, signed(body)).json["status"] == "active"
    assert db.session.scalar(sa.select(sa.func.count(WinBack.id))) == 1


def test_an_erased_customer_comes_back_only_as_a_new_customer(client, db):
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

    # A new subscription after the erasure is no win-back, and brings back
    # nobody while it runs (an active record has no date to tell it from
    # the erased past) ...
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
    response = post(client, body, signed(body)).json
    assert (response["status"], response["code"]) == ("rejected", "erased")
    assert db.session.scalar(sa.select(sa.func.count(WinBack.id))) == 0
    assert find_everywhere(*personal) == []
    # ... and its cancellation is that new customer's departure.
    cancelled = event("evt_4", comment="Toch weer weg")
    ended = int(datetime(2026, 12, 5, tzinfo=UTC).timestamp())
    cancelled["data"]["object"].update(id="sub_2", canceled_at=ended, ended_at=ended)
    body = json.dumps(cancelled)
    assert post(client, body, signed(body)).json["status"] == "recorded"
    db.session.expire_all()
    customers = db.session.scalars(sa.select(Customer).order_by(Customer.id)).all()
    assert [(c.external_id, c.email, c.stated_comment) for c in customers] == [
        (None, None, None),
        ("cus_42", "klant@example.nl", "Toch weer weg"),
    ]


# --- Stripe's own object shapes: amounts, currencies, flags, subscriptions ---

DAY = 86400


def _now() -> int:
    return int(time.time())


def send(client, evt: dict):
    body = json.dumps(evt)
    response = post(client, body, signed(body))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def stored(db, external_id: str = "cus_1") -> Customer:
    db.session.expire_all()
    return db.session.scalars(
        sa.select(Customer).where(Customer.external_id == external_id)
    ).one()


def ended(sub_id="sub_1", customer_id="cus_1", *, at=None, event_id=None, **kwargs):
    """A customer.subscription.deleted event: the subscription ended at `at`."""
    at = at or _now() - DAY
    sub = fs.subscription(
        sub_id, customer_id, status="canceled", ended_at=at, canceled_at=at, **kwargs
    )
    return fs.event(event_id or f"evt_end_{sub_id}", "deleted", sub, at)


def started(sub_id="sub_1", customer_id="cus_1", *, at=None, event_id=None, **kw):
    at = at or _now() - 30 * DAY
    sub = fs.subscription(sub_id, customer_id, start_date=at, **kw)
    return fs.event(event_id or f"evt_start_{sub_id}", "created", sub, at)


@pytest.fixture
def survey(db):
    from karn.surveys.editing import ensure_default_survey

    ensure_default_survey()
    db.session.commit()


def invited(db, customer: Customer) -> bool:
    from karn.surveys.models import Invitation

    return (
        db.session.scalar(
            sa.select(sa.func.count(Invitation.id)).where(
                Invitation.customer_id == customer.id
            )
        )
        > 0
    )


P = fs.price
PERCENT_20 = fs.discount(fs.coupon("SAVE20", percent_off=20))
TEN_OFF = fs.discount(fs.coupon("TENOFF", amount_off=1000, currency="eur"))


@pytest.mark.parametrize(
    "prices,discounts,revenue,currency",
    [
        # Zero-decimal: 1,200 yen is 1,200 yen, not 12.
        ([(P(1200, "jpy"), 1)], [], "1200.00", "JPY"),
        ([(P(90000, "krw"), 2)], [], "180000.00", "KRW"),
        # Three decimals: 12.500 Kuwaiti dinar.
        ([(P(12500, "kwd"), 1)], [], "12.50", "KWD"),
        # A yearly plan for 3 seats at 300.00, 20% off: 3 x 300 / 12 x 0.8.
        ([(P(30000, "eur", "year"), 3)], [PERCENT_20], "60.00", "EUR"),
        # 10.00 off each monthly invoice of 50.00.
        ([(P(5000), 1)], [TEN_OFF], "40.00", "EUR"),
        # Package pricing: 10.00 per 5 seats; 12 seats is 3 packages ...
        (
            [(P(1000, transform_quantity={"divide_by": 5, "round": "up"}), 12)],
            [],
            "30.00",
            "EUR",
        ),
        # ... or 2, rounded down.
        (
            [(P(1000, transform_quantity={"divide_by": 5, "round": "down"}), 12)],
            [],
            "20.00",
            "EUR",
        ),
        # A quantity of 0 pays nothing.
        ([(P(2500), 0)], [], "0.00", "EUR"),
        # Per week, per day, every three months.
        ([(P(1000, "eur", "week"), 1)], [], "43.33", "EUR"),
        ([(P(100, "eur", "day"), 1)], [], "30.42", "EUR"),
        ([(P(6000, "eur", "month", 3), 1)], [], "20.00", "EUR"),
        # Two items: 20.00 and 4 x 5.00.
        ([(P(2000), 1), (P(500, pid="price_seat"), 4)], [], "40.00", "USD"),
    ],
)
def test_amounts_are_what_the_customer_paid_in_their_currency(
    client, db, prices, discounts, revenue, currency
):
    prices = [({**price, "currency": currency.lower()}, qty) for price, qty in prices]
    send(
        client,
        ended(prices=prices, discounts=discounts, currency=currency.lower()),
    )
    customer = stored(db)
    assert customer.monthly_revenue == Decimal(revenue)
    assert customer.currency == currency
    assert (customer.trial_only, customer.involuntary) == (False, False)


def test_a_metered_price_leaves_the_revenue_unknown(client, db):
    metered = P(5, usage_type="metered", pid="price_calls")
    send(client, ended(prices=[(P(2000), 1), (metered, None)]))
    assert stored(db).monthly_revenue is None


def test_tiers_and_discounts_named_by_id_wait_for_the_lookup(client, db):
    from karn.customers.stripe_subscriptions import StripeSubscription

    # Stripe's events carry neither a price's tiers nor a discount's coupon.
    tiered = P(None, billing_scheme="tiered", tiers_mode="graduated")
    send(client, ended("sub_t", "cus_t", prices=[(tiered, 12)]))
    send(client, ended("sub_d", "cus_d", discounts=["di_123"]))
    for external_id in ("cus_t", "cus_d"):
        assert stored(db, external_id).monthly_revenue is None
    rows = db.session.scalars(sa.select(StripeSubscription)).all()
    assert {(r.id, r.unknown, r.lookup_due_at is not None) for r in rows} == {
        ("sub_t", "details", True),
        ("sub_d", "details", True),
    }


def test_the_plan_is_the_price_nickname_or_left_for_the_lookup(client, db):
    send(client, ended("sub_a", "cus_a", prices=[(P(2000, nickname="Plus"), 1)]))
    send(client, ended("sub_b", "cus_b"))
    assert stored(db, "cus_a").plan == "Plus"
    # Not the product's id: the lookup names it.
    assert stored(db, "cus_b").plan is None


@pytest.mark.parametrize(
    "trial,expected",
    [
        # Cancelled during the trial.
        ({"trial_start": -20, "trial_end": 5, "end": -1}, True),
        # Cancelled when the trial ended, before the first invoice was charged.
        ({"trial_start": -20, "trial_end": -1, "end": -1}, True),
        # The first invoice after the trial failed; Stripe cancelled it.
        (
            {
                "trial_start": -40,
                "trial_end": -25,
                "end": -1,
                "period": -25,
                "reason": "payment_failed",
            },
            True,
        ),  # fmt: skip
        # Paid for months after the trial.
        ({"trial_start": -200, "trial_end": -186, "end": -1, "period": -30}, False),
    ],
)
def test_a_trial_that_never_paid_loses_no_revenue(client, db, trial, expected):
    now = _now()
    end = now + trial["end"] * DAY
    send(
        client,
        ended(
            at=end,
            trial_start=now + trial["trial_start"] * DAY,
            trial_end=now + trial["trial_end"] * DAY,
            period_start=now + trial.get("period", trial["trial_start"]) * DAY,
            reason=trial.get("reason"),
        ),
    )
    customer = stored(db)
    assert customer.trial_only is expected
    assert customer.monthly_revenue == (Decimal("0.00") if expected else Decimal(20))


def test_a_trial_cancelled_while_trialing_is_trial_only(client, db):
    now = _now()
    sub = fs.subscription(
        status="trialing", trial_start=now - 5 * DAY, trial_end=now + 9 * DAY
    )
    send(client, fs.event("evt_t1", "created", sub, now - 5 * DAY))
    assert stored(db).status.value == "active"
    sub = fs.subscription(
        status="canceled",
        trial_start=now - 5 * DAY,
        trial_end=now + 9 * DAY,
        ended_at=now - DAY,
        canceled_at=now - DAY,
    )
    evt = fs.event("evt_t2", "deleted", sub, now - DAY, {"status": "trialing"})
    send(client, evt)
    customer = stored(db)
    assert (customer.status.value, customer.trial_only) == ("departed", True)
    assert customer.monthly_revenue == Decimal("0.00")


def test_a_trial_that_turned_into_a_paid_subscription_is_not_trial_only(client, db):
    now = _now()
    trial = {"trial_start": now - 60 * DAY, "trial_end": now - 46 * DAY}
    sub = fs.subscription(status="trialing", **trial)
    send(client, fs.event("evt_t1", "created", sub, now - 60 * DAY))
    assert stored(db).monthly_revenue == Decimal("0.00")  # nothing paid yet
    sub = fs.subscription(status="active", period_start=now - 46 * DAY, **trial)
    converted = fs.event(
        "evt_t2", "updated", sub, now - 46 * DAY, {"status": "trialing"}
    )
    send(client, converted)
    assert stored(db).monthly_revenue == Decimal("20.00")
    send(client, ended(at=now - DAY, period_start=now - 16 * DAY, **trial))
    customer = stored(db)
    assert (customer.status.value, customer.trial_only) == ("departed", False)
    assert customer.monthly_revenue == Decimal("20.00")


@pytest.mark.parametrize("reason", ["payment_failed", "payment_disputed"])
def test_an_involuntary_departure_is_recorded_and_not_invited(
    client, db, app, survey, create_customer, reason
):
    from karn.enums import CustomerStatus

    for n in (1, 2):
        create_customer(
            external_id=f"cus_{n}", status=CustomerStatus.ACTIVE, departed_at=None
        )
    send(client, ended("sub_1", "cus_1", reason=reason))
    customer = stored(db, "cus_1")
    assert (customer.status.value, customer.involuntary) == ("departed", True)
    assert customer.monthly_revenue == Decimal(20)
    assert not invited(db, customer)
    # Asked all the same when the setting says so.
    app.config["INVITE_INVOLUNTARY"] = True
    send(client, ended("sub_2", "cus_2", reason=reason))
    assert stored(db, "cus_2").involuntary and invited(db, stored(db, "cus_2"))


def test_a_cancellation_the_customer_asked_for_is_invited(
    client, db, survey, create_customer
):
    from karn.enums import CustomerStatus

    create_customer(external_id="cus_1", status=CustomerStatus.ACTIVE, departed_at=None)
    send(client, ended(reason="cancellation_requested", feedback="too_expensive"))
    customer = stored(db)
    assert customer.involuntary is False and invited(db, customer)
    assert customer.stated_reason.value == "price"


def test_a_new_subscription_brings_in_an_active_customer(client, db, survey):
    prices = [(P(4900, "eur", pid="price_pro", nickname="Pro"), 1)]
    response = send(client, started(prices=prices))
    assert response["status"] == "active"
    customer = stored(db)
    assert customer.status.value == "active" and customer.departed_at is None
    assert (customer.monthly_revenue, customer.currency) == (Decimal("49.00"), "EUR")
    assert customer.plan == "Pro" and customer.source.value == "stripe"
    assert not invited(db, customer)


def test_an_incomplete_subscription_brings_in_nobody(client, db):
    response = send(client, started(status="incomplete"))
    assert response["status"] == "ignored"
    assert db.session.scalar(sa.select(sa.func.count(Customer.id))) == 0


def test_two_subscriptions_one_cancelled_keep_the_other(client, db, survey):
    now = _now()
    send(client, started("sub_a", prices=[(P(1000, nickname="Basis"), 1)]))
    send(
        client, started("sub_b", prices=[(P(3000, pid="price_x", nickname="Extra"), 1)])
    )
    customer = stored(db)
    assert (customer.status.value, customer.monthly_revenue) == ("active", 40)
    db.session.execute(
        sa.update(Customer).where(Customer.id == customer.id).values(email="k@x.nl")
    )
    db.session.commit()

    # One of the two ends: still a customer, with the other one's revenue.
    send(
        client,
        ended(
            "sub_b",
            at=now - 10 * DAY,
            feedback="too_expensive",
            comment="Te duur",
            prices=[(P(3000, pid="price_x", nickname="Extra"), 1)],
        ),
    )
    customer = stored(db)
    assert customer.status.value == "active" and customer.departed_at is None
    assert customer.monthly_revenue == Decimal("10.00")
    assert customer.stated_reason is None and customer.stated_comment is None
    assert not invited(db, customer)

    # The last one ends: the departure, with that one's revenue and reason.
    send(
        client,
        ended("sub_a", at=now - DAY, feedback="unused", prices=[(P(1000), 1)]),
    )
    customer = stored(db)
    assert customer.status.value == "departed"
    assert customer.departed_at.timestamp() == now - DAY
    assert customer.monthly_revenue == Decimal("10.00")
    assert customer.stated_reason.value == "need"
    assert invited(db, customer)


def test_subscriptions_ended_together_are_lost_together(client, db):
    now = _now()
    send(client, started("sub_a", prices=[(P(1000), 1)]))
    send(client, started("sub_b", prices=[(P(3000, pid="price_x"), 1)]))
    send(client, ended("sub_a", at=now - DAY - 60, prices=[(P(1000), 1)]))
    send(client, ended("sub_b", at=now - DAY, prices=[(P(3000, pid="price_x"), 1)]))
    customer = stored(db)
    assert customer.status.value == "departed"
    assert customer.monthly_revenue == Decimal("40.00")


def test_a_late_event_changes_nothing(client, db):
    now = _now()
    send(client, ended(at=now - DAY))
    # Stripe sends no events in order: an update from before the end.
    late = fs.event(
        "evt_late", "updated", fs.subscription(status="active"), now - 2 * DAY
    )
    assert send(client, late)["status"] == "stale"
    assert stored(db).status.value == "departed"


def test_the_webhook_never_calls_stripe(client, db, app):
    fake, server = fs.start()
    app.config.update(STRIPE_API_KEY="rk_test_karn", STRIPE_API_BASE=fake.url)
    try:
        send(client, started("sub_a", "cus_9"))
        send(client, ended("sub_b", "cus_8", discounts=["di_1"]))
        send(client, ended("sub_a", "cus_9"))
        assert db.session.scalar(sa.select(sa.func.count(Customer.id))) == 2
        assert fake.requests == []
    finally:
        server.shutdown()
        server.server_close()


def test_the_customer_page_shows_the_currency_and_kind_of_departure(
    client, db, create_user, login
):
    send(
        client,
        ended(prices=[(P(1200, "jpy"), 1)], currency="jpy", reason="payment_failed"),
    )
    login(create_user("manager", language="en"))
    page = client.get(f"/customers/{stored(db).id}").get_data(as_text=True)
    assert "¥\xa01,200.00" in page  # the currency of the amount, not the euro
    assert "Paying failed (a declined card or a dispute), not their choice" in page
