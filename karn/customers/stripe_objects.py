"""Reading Stripe's objects: what a subscription brought in a month, its plan,
whether it was only a trial or ended because paying failed, and who its
customer is.

Everything here works on Stripe's objects as plain dicts (an event's
`data.object`, or an object the API returned), never calls Stripe, and follows
Stripe's own rules:

- amounts are in the currency's smallest unit: cents, but whole yen (the
  zero-decimal currencies) and thousandths of a dinar (the three-decimal ones);
- an item costs its price per unit times its quantity (0 is 0), the quantity
  first divided by `transform_quantity.divide_by` and rounded up or down
  (package pricing); a tiered price costs per tier (graduated: each tier's
  units at that tier's price, plus its flat amount; volume: every unit at the
  price of the tier the quantity falls in, plus that tier's flat amount);
- item discounts apply before subscription discounts; a customer's discount
  applies to a subscription without discounts of its own; a discount takes a
  percentage off, or an amount per invoice; one whose `end` has passed no
  longer applies;
- a price per day, week, year or several of them is stated per month: a year
  is 12 months, a week 12/52 of a month, a day 12/365 of a month.

A metered price charges for usage, which no object states: its subscription's
monthly revenue is unknown (None), never guessed. Details Stripe leaves out of
its events (a tiered price's tiers, discounts named only by id, the product's
name) make the amount or the plan wait for the worker's lookup.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from karn import clock
from karn.customers.currency import minor_units

# Months per billing interval, to state every price per month.
MONTHS_PER = {
    "day": Decimal(12) / Decimal(365),
    "week": Decimal(12) / Decimal(52),
    "month": Decimal(1),
    "year": Decimal(12),
}
# Why an amount is not known: usage-based, or details the event leaves out.
METERED = "metered"
DETAILS = "details"
# Stripe finalises and charges a subscription's invoice about an hour after
# it is created: a subscription that ended within the hour after its trial
# never paid.
INVOICE_GRACE_SECONDS = 3600
# Cancellation reasons of a departure the customer did not choose.
INVOLUNTARY_REASONS = ("payment_failed", "payment_disputed")
LANGUAGES = ("nl", "en")
# Stripe's statuses of a subscription that still runs (a customer), and of one
# that has ended (canceled) or never began (incomplete_expired).
LIVE = ("active", "trialing", "past_due", "unpaid", "paused")
ENDED = ("canceled", "incomplete_expired")


class Unknown(Exception):
    """The amount cannot be known from these objects; `why` says whether ever."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


def id_of(value: Any) -> str | None:
    """The id of an expandable field, expanded or not."""
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def _amount(obj: dict, name: str) -> Decimal | None:
    """An amount field, from its `…_decimal` twin (up to 12 places) when given."""
    value = obj.get(f"{name}_decimal")
    if value is None:
        value = obj.get(name)
    return None if value is None else Decimal(str(value))


def _price(item: dict) -> dict:
    return item.get("price") or item.get("plan") or {}


def _recurring(price: dict) -> dict:
    """interval, interval_count, usage_type: a price's `recurring`, or a plan's."""
    return price.get("recurring") or price


def is_metered(price: dict) -> bool:
    recurring = _recurring(price)
    return recurring.get("usage_type") == "metered" or bool(
        recurring.get("meter") or price.get("meter")
    )


def _months(price: dict) -> Decimal:
    recurring = _recurring(price)
    per = MONTHS_PER.get(recurring.get("interval") or "month")
    if per is None:
        raise Unknown(DETAILS)
    return per * Decimal(recurring.get("interval_count") or 1)


def _units(quantity: Decimal, transform: dict | None) -> Decimal:
    """The quantity billed: divided and rounded as the price says (packages)."""
    if not transform or not transform.get("divide_by"):
        return quantity
    rounding = ROUND_CEILING if transform.get("round") == "up" else ROUND_FLOOR
    return (quantity / Decimal(transform["divide_by"])).to_integral_value(rounding)


def _upper(tier: dict) -> Decimal | None:
    up_to = tier.get("up_to")
    return None if up_to in (None, "inf") else Decimal(up_to)


def _tiered(tiers: list[dict], mode: str | None, quantity: Decimal) -> Decimal:
    """A tiered price for this quantity, in the smallest unit."""
    if quantity <= 0:
        return Decimal(0)
    if mode == "volume":
        for tier in tiers:
            upper = _upper(tier)
            if upper is None or quantity <= upper:
                unit = _amount(tier, "unit_amount") or Decimal(0)
                return unit * quantity + (_amount(tier, "flat_amount") or Decimal(0))
        raise Unknown(DETAILS)
    total, below = Decimal(0), Decimal(0)
    for tier in tiers:
        upper = _upper(tier)
        top = quantity if upper is None else min(quantity, upper)
        if top > below:
            unit = _amount(tier, "unit_amount") or Decimal(0)
            total += unit * (top - below) + (_amount(tier, "flat_amount") or Decimal(0))
        if upper is None or quantity <= upper:
            return total
        below = upper
    raise Unknown(DETAILS)


def item_amount(item: dict) -> Decimal:
    """What one subscription item costs per billing period, in the smallest unit."""
    price = _price(item)
    if is_metered(price):
        raise Unknown(METERED)
    quantity = item.get("quantity")
    quantity = Decimal(1 if quantity is None else quantity)
    if price.get("billing_scheme") == "tiered":
        # Stripe includes a price's tiers only when asked to (expand).
        if not price.get("tiers"):
            raise Unknown(DETAILS)
        return _tiered(price["tiers"], price.get("tiers_mode"), quantity)
    unit = _amount(price, "unit_amount")
    if unit is None:
        unit = _amount(price, "amount")
    if unit is None:
        raise Unknown(DETAILS)
    transform = price.get("transform_quantity") or price.get("transform_usage")
    return unit * _units(quantity, transform)


def _coupons(discounts: list, at: int) -> list[dict]:
    """The coupons of discounts in force at `at`; Unknown for one named by id."""
    coupons = []
    for discount in discounts:
        if not isinstance(discount, dict):
            raise Unknown(DETAILS)
        if discount.get("deleted"):
            continue
        end = discount.get("end")
        if end is not None and end <= at:
            continue
        coupon = discount.get("coupon") or (discount.get("source") or {}).get("coupon")
        if not isinstance(coupon, dict):
            raise Unknown(DETAILS)
        coupons.append(coupon)
    return coupons


def _discounted(
    amount: Decimal, coupons: list[dict], currency: str, months: Decimal
) -> Decimal:
    """A monthly amount after these coupons; amounts off are per invoice."""
    for coupon in coupons:
        if coupon.get("percent_off") is not None:
            amount *= 1 - Decimal(str(coupon["percent_off"])) / 100
        elif coupon.get("amount_off") is not None:
            off = Decimal(coupon["amount_off"])
            own = (coupon.get("currency") or currency).lower()
            if own != currency.lower():
                options = (coupon.get("currency_options") or {}).get(currency.lower())
                if not options or options.get("amount_off") is None:
                    continue  # Stripe applies no coupon of another currency
                off = Decimal(options["amount_off"])
            amount -= off / months
        amount = max(amount, Decimal(0))
    return amount


def _own_discounts(subscription: dict) -> list:
    """The subscription's discounts: the list, and the single one of older API
    versions (which the list names by id)."""
    listed = list(subscription.get("discounts") or [])
    single = subscription.get("discount")
    if isinstance(single, dict) and not single.get("deleted"):
        listed = [d for d in listed if id_of(d) != single.get("id")] + [single]
    return listed


def currency_of(subscription: dict) -> str | None:
    """The subscription's currency, upper case (EUR, JPY)."""
    code = subscription.get("currency")
    if not code:
        items = (subscription.get("items") or {}).get("data") or []
        code = next((_price(i).get("currency") for i in items if _price(i)), None)
    return code.upper() if isinstance(code, str) and len(code) == 3 else None


def monthly_revenue(
    subscription: dict, customer_discount: dict | None = None
) -> Decimal:
    """What the subscription brings in a month, in its currency (2 decimals).

    Raises Unknown: METERED when a price charges for usage, DETAILS when an
    object the event names only by id is needed (tiers, a discount's coupon).
    """
    currency = currency_of(subscription) or "EUR"
    # Discounts in force when it ended, or now.
    at = ended_at(subscription) or int(clock.now().timestamp())
    items = (subscription.get("items") or {}).get("data") or []
    if not items:
        raise Unknown(DETAILS)
    total, months = Decimal(0), None
    for item in items:
        price = _price(item)
        item_months = _months(price)
        months = months or item_months
        amount = item_amount(item) / item_months
        coupons = _coupons(item.get("discounts") or [], at)
        total += _discounted(amount, coupons, currency, item_months)
    own = _own_discounts(subscription)
    if not own and customer_discount:
        own = [customer_discount]
    total = _discounted(total, _coupons(own, at), currency, months)
    monthly = total / minor_units(currency)
    return monthly.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def plan_of(subscription: dict) -> tuple[str | None, str | None]:
    """(readable plan name or None, product id): the first item's price
    nickname, else its product's name when the product is expanded."""
    items = (subscription.get("items") or {}).get("data") or []
    if not items:
        return None, None
    price = _price(items[0])
    product = price.get("product")
    name = price.get("nickname") or (
        product.get("name") if isinstance(product, dict) else None
    )
    return ((name or "").strip()[:100] or None), id_of(product)


def _period_start(subscription: dict) -> int | None:
    """The current period's start: on the items since 2025, before on the
    subscription."""
    items = (subscription.get("items") or {}).get("data") or []
    starts = [i.get("current_period_start") for i in items]
    return next((s for s in starts if s), subscription.get("current_period_start"))


def _paid(invoice: Any) -> bool | None:
    """Whether an expanded invoice was paid; None when the event holds an id."""
    if not isinstance(invoice, dict):
        return None
    return invoice.get("status") == "paid" and (invoice.get("amount_paid") or 0) > 0


def ended_at(subscription: dict) -> int | None:
    return subscription.get("ended_at") or subscription.get("canceled_at")


def involuntary(subscription: dict) -> bool:
    """Ended because paying failed (a declined card, a dispute), not by choice."""
    details = subscription.get("cancellation_details") or {}
    return details.get("reason") in INVOLUNTARY_REASONS


def trial_only(subscription: dict, previous: dict | None = None) -> bool:
    """Ended in or at the end of its trial, never having paid.

    In the trial (the status was trialing), at its end (within the hour
    before the first invoice is charged), or in the first period after it
    while the event shows that period's invoice unpaid or its payment failing.
    """
    trial_end = subscription.get("trial_end")
    if not trial_end:
        return False
    status = subscription.get("status")
    if status == "trialing":
        return True
    if status in ENDED and (previous or {}).get("status") == "trialing":
        return True  # went from its trial straight to its end
    ended = ended_at(subscription)
    if ended is None:
        return False
    if ended <= trial_end + INVOICE_GRACE_SECONDS:
        return True
    paid = _paid(subscription.get("latest_invoice"))
    if paid:
        return False
    first_period = (_period_start(subscription) or 0) <= trial_end
    return first_period and (paid is False or involuntary(subscription))


def language_of(customer: dict) -> str | None:
    """nl or en from the customer's preferred locales (nl-NL, en), if either."""
    for locale in customer.get("preferred_locales") or []:
        code = str(locale)[:2].lower()
        if code in LANGUAGES:
            return code
    return None


def country_of(customer: dict) -> str | None:
    """The country of the customer's address (NL), else of their shipping address."""
    for address in (
        customer.get("address"),
        (customer.get("shipping") or {}).get("address"),
    ):
        if isinstance(address, dict) and address.get("country"):
            return str(address["country"]).upper()[:100]
    return None


@dataclass
class Facts:
    """What Karn keeps of one subscription, read from one event's object."""

    id: str
    customer: str | None
    status: str
    ended_at: datetime | None
    monthly_revenue: Decimal | None
    # Why the revenue is None: METERED (never known) or DETAILS (lookup).
    unknown: str | None
    currency: str | None
    plan: str | None
    product_id: str | None
    trial_only: bool
    involuntary: bool


def _moment(timestamp: int | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(int(timestamp), UTC)


def facts_of(
    subscription: dict,
    previous: dict | None = None,
    *,
    deleted: bool = False,
    at: int | None = None,
    customer_discount: dict | None = None,
) -> Facts:
    """The facts of a subscription object (an event's, or the API's).

    deleted: the event says it ended (whatever status the object shows); at:
    the event's time, the end of a subscription that gives none.
    """
    try:
        revenue, unknown = monthly_revenue(subscription, customer_discount), None
    except Unknown as exc:
        revenue, unknown = None, exc.why
    plan, product = plan_of(subscription)
    status = subscription.get("status") or "active"
    if deleted and status not in ENDED:
        status = "canceled"
    ended = (ended_at(subscription) or at) if status in ENDED else None
    return Facts(
        id=subscription["id"],
        customer=id_of(subscription.get("customer")),
        status=status,
        ended_at=_moment(ended),
        monthly_revenue=revenue,
        unknown=unknown,
        currency=currency_of(subscription),
        plan=plan,
        product_id=product,
        trial_only=trial_only(subscription, previous),
        involuntary=involuntary(subscription),
    )
