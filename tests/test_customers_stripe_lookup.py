"""The worker's lookup at Stripe, against a local server that answers as
Stripe's API does, through the official `stripe` package: what the events
leave out is filled in, the departure is then invited; failures wait and are
shown to administrators; without a key, administrators are told what to do."""

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from karn import clock
from karn.customers import stripe_lookup
from karn.customers.models import Customer
from karn.customers.stripe_subscriptions import StripeSubscription
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Invitation
from karn.worker import Worker
from tests import fake_stripe as fs
from tests.test_api_stripe import SECRET, signed

KEY = "rk_test_karn_read_only"
DAY = 86400


@pytest.fixture
def fake():
    found, server = fs.start()
    yield found
    server.shutdown()
    server.server_close()


@pytest.fixture
def app_settings(fake):
    return {
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "STRIPE_API_KEY": KEY,
        "STRIPE_API_BASE": fake.url,
    }


@pytest.fixture
def survey(db):
    ensure_default_survey()
    db.session.commit()


@pytest.fixture(autouse=True)
def _fresh_product_names():
    stripe_lookup._products.clear()
    yield
    stripe_lookup._products.clear()


def send(client, evt: dict) -> dict:
    body = json.dumps(evt)
    response = client.post("/webhooks/stripe", data=body, headers=signed(body))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def cancelled(fake, sub_id="sub_7", customer_id="cus_7", **kwargs) -> dict:
    """A subscription that ended yesterday, known to the fake Stripe as well;
    the event of its end."""
    at = int(time.time()) - DAY
    sub = fs.subscription(
        sub_id, customer_id, status="canceled", ended_at=at, canceled_at=at, **kwargs
    )
    fake.add("subscriptions", sub)
    return fs.event(f"evt_{sub_id}", "deleted", sub, at)


def stored(db, external_id="cus_7") -> Customer:
    db.session.expire_all()
    return db.session.scalars(
        sa.select(Customer).where(Customer.external_id == external_id)
    ).one()


def invitations(db, customer) -> list[Invitation]:
    return db.session.scalars(
        sa.select(Invitation).where(Invitation.customer_id == customer.id)
    ).all()


def test_the_worker_fills_in_the_customer_and_plan_then_invites(
    app, client, db, fake, survey
):
    fake.add(
        "customers",
        fs.customer(
            "cus_7",
            email="Marloes@Example.NL",
            name="Marloes de Vries",
            preferred_locales=["nl-NL", "en"],
        ),
    )
    fake.add("products", fs.product("prod_pro", "Karn Pro"))
    price = fs.price(2900, product_id="prod_pro")
    evt = cancelled(fake, prices=[(price, 1)], feedback="switched_service")

    assert send(client, evt)["status"] == "recorded"
    customer = stored(db)
    # Stripe's event names the customer and the product by id only.
    assert (customer.email, customer.name, customer.language) == (None, None, None)
    assert customer.plan is None
    assert invitations(db, customer) == []
    assert fake.requests == []  # the webhook asked Stripe nothing

    Worker(app, "w1").run_once()

    customer = stored(db)
    assert customer.email == "marloes@example.nl"
    assert customer.name == "Marloes de Vries"
    assert customer.language.value == "nl"
    assert customer.region == "NL"
    assert customer.plan == "Karn Pro"
    assert (customer.monthly_revenue, customer.currency) == (Decimal("29.00"), "EUR")
    assert customer.stated_reason.value == "brand"
    (invitation,) = invitations(db, customer)
    assert invitation.status.value == "scheduled"
    assert invitation.scheduled_for == customer.departed_at + timedelta(hours=48)

    paths = fake.paths()
    assert paths == [
        "/v1/customers/cus_7",
        "/v1/subscriptions/sub_7",
        "/v1/products/prod_pro",
    ]
    assert {r.authorization for r in fake.requests} == {f"Bearer {KEY}"}
    expand = fake.requests[1].query
    assert "items.data.price.tiers" in [v for vs in expand.values() for v in vs]

    # Done: the next pass asks nothing.
    Worker(app, "w1").run_once()
    assert len(fake.requests) == 3


def test_what_karn_has_is_kept(app, client, db, fake, create_customer):
    from karn.enums import CustomerStatus

    create_customer(
        external_id="cus_7",
        email="eigen@adres.nl",
        name="Zoals in Karn",
        status=CustomerStatus.ACTIVE,
        departed_at=None,
        region="Utrecht",
    )
    fake.add("customers", fs.customer("cus_7", email="other@stripe.test", name="S"))
    send(client, cancelled(fake, prices=[(fs.price(1000, nickname="Basis"), 1)]))
    stripe_lookup.run_lookup_job(app)
    customer = stored(db)
    assert (customer.email, customer.name, customer.region) == (
        "eigen@adres.nl",
        "Zoals in Karn",
        "Utrecht",
    )
    assert customer.language.value == "nl"  # the form's, not Stripe's (none)
    # The nickname names the plan: no product to look up.
    assert customer.plan == "Basis"
    assert "/v1/products/prod_basic" not in fake.paths()


def test_tiers_and_the_customers_discount_come_from_the_lookup(app, client, db, fake):
    tiers = [
        fs.tier(5, unit_amount=1000),
        fs.tier(10, unit_amount=800, flat_amount=500),
        fs.tier(None, unit_amount=500),
    ]
    event_price = fs.price(None, billing_scheme="tiered", tiers_mode="graduated")
    evt = cancelled(fake, prices=[(event_price, 12)])
    # What Stripe answers when the subscription is asked for with its tiers.
    full = json.loads(json.dumps(evt["data"]["object"]))
    full["items"]["data"][0]["price"]["tiers"] = tiers
    fake.add("subscriptions", full)
    half = fs.discount(fs.coupon("HALF", percent_off=50), customer_id="cus_7")
    fake.add("customers", fs.customer("cus_7", discount=half))
    fake.add("products", fs.product("prod_basic", "Basis"))

    send(client, evt)
    assert stored(db).monthly_revenue is None  # tiers are not in the event
    stripe_lookup.run_lookup_job(app)
    # 5 x 10.00 + (5 x 8.00 + 5.00) + 2 x 5.00 = 105.00, half off.
    assert stored(db).monthly_revenue == Decimal("52.50")


def test_volume_tiers_and_a_discount_named_by_id(app, client, db, fake):
    tiers = [fs.tier(10, unit_amount=900), fs.tier(None, 700, flat_amount=2000)]
    event_price = fs.price(None, billing_scheme="tiered", tiers_mode="volume")
    evt = cancelled(fake, prices=[(event_price, 12)], discounts=["di_5"])
    full = json.loads(json.dumps(evt["data"]["object"]))
    full["items"]["data"][0]["price"]["tiers"] = tiers
    full["discounts"] = [fs.discount(fs.coupon("FIVE", amount_off=500, currency="eur"))]
    fake.add("subscriptions", full)
    send(client, evt)
    stripe_lookup.run_lookup_job(app)
    # 12 x 7.00 + 20.00 = 104.00, 5.00 off the invoice.
    assert stored(db).monthly_revenue == Decimal("99.00")


def test_a_metered_price_stays_unknown_after_the_lookup(app, client, db, fake):
    metered = fs.price(3, usage_type="metered")
    send(client, cancelled(fake, prices=[(metered, None)]))
    stripe_lookup.run_lookup_job(app)
    assert stored(db).monthly_revenue is None
    assert "/v1/subscriptions/sub_7" in fake.paths()


def test_a_product_is_asked_for_once(app, client, db, fake):
    fake.add("products", fs.product("prod_basic", "Basis"))
    for n in (1, 2, 3):
        send(client, cancelled(fake, f"sub_{n}", f"cus_{n}"))
    stripe_lookup.run_lookup_job(app)
    assert fake.paths().count("/v1/products/prod_basic") == 1
    assert {stored(db, f"cus_{n}").plan for n in (1, 2, 3)} == {"Basis"}


def test_a_failing_lookup_waits_and_is_tried_again(app, client, db, fake, survey):
    fake.add("customers", fs.customer("cus_7", email="later@example.nl"))
    send(client, cancelled(fake))
    fake.failures.append((500, "api_error", "Stripe is having a moment"))
    stripe_lookup.run_lookup_job(app)
    row = db.session.get(StripeSubscription, "sub_7")
    db.session.refresh(row)
    assert row.lookup_attempts == 1
    assert "Stripe is having a moment" in row.lookup_error
    waits = row.lookup_due_at - clock.now()
    assert timedelta(seconds=50) < waits <= timedelta(minutes=1)
    assert stored(db).email is None

    # Not due yet: nothing asked.
    asked = len(fake.requests)
    stripe_lookup.run_lookup_job(app)
    assert len(fake.requests) == asked

    clock.freeze(clock.now() + timedelta(minutes=2))
    try:
        stripe_lookup.run_lookup_job(app)
    finally:
        clock.freeze(None)
    customer = stored(db)
    assert customer.email == "later@example.nl"
    assert len(invitations(db, customer)) == 1
    db.session.refresh(row)
    assert (row.lookup_attempts, row.lookup_error, row.lookup_due_at) == (0, None, None)


def test_a_refused_key_stops_the_pass_and_administrators_see_it(
    app, client, db, fake, create_user, login
):
    for n in (1, 2):
        send(client, cancelled(fake, f"sub_{n}", f"cus_{n}"))
    fake.failures.append((401, "invalid_request_error", "Invalid API Key provided"))
    assert stripe_lookup.run_lookup_job(app) == 0
    assert len(fake.requests) == 1  # the pass stopped at the refusal

    login(create_user("admin", language="en"))
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "2 Stripe departures without an email address" in page
    assert "2 lookups waiting" in page
    assert "The last lookup at Stripe failed" in page
    assert "Invalid API Key provided" in page


def test_the_lookups_of_a_pass_are_bounded(app, client, db, fake, monkeypatch):
    monkeypatch.setattr(stripe_lookup, "LOOKUPS_PER_PASS", 3)
    for n in range(5):
        send(client, cancelled(fake, f"sub_{n}", f"cus_{n}"))
    stripe_lookup.run_lookup_job(app)
    due = db.session.scalar(
        sa.select(sa.func.count()).where(StripeSubscription.lookup_due_at.is_not(None))
    )
    assert due == 2
    stripe_lookup.run_lookup_job(app)
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(
                StripeSubscription.lookup_due_at.is_not(None)
            )
        )
        == 0
    )


@pytest.mark.parametrize(
    "language,count,advice",
    [
        (
            "en",
            "2 Stripe departures without an email address",
            "may only read Customers, Products and Subscriptions",
        ),
        (
            "nl",
            "2 Stripe-opzeggingen zonder e-mailadres",
            "alleen Customers, Products en Subscriptions mag lezen",
        ),
    ],
)
def test_without_a_key_administrators_are_told_what_to_do(
    app, client, db, fake, create_user, login, language, count, advice
):
    app.config["STRIPE_API_KEY"] = None
    for n in (1, 2):
        send(client, cancelled(fake, f"sub_{n}", f"cus_{n}"))
    assert stripe_lookup.run_lookup_job(app) == 0
    assert fake.requests == []

    login(create_user("admin", language=language))
    page = client.get("/admin/settings").get_data(as_text=True)
    assert count in page
    assert advice in page
    assert "KARN_STRIPE_API_KEY" in page


def test_nothing_to_say_without_stripe_departures(client, db, create_user, login):
    login(create_user("admin", language="en"))
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "Stripe departures" not in page
