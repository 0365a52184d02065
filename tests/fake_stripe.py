"""A local HTTP server that answers like Stripe's API, for the official `stripe`
package to talk to; and Stripe objects in the shapes Stripe's API reference
publishes (customer, product, subscription with its items and prices,
discount and coupon), written for Karn's tests.

The server keeps every request it gets (method, path, query, the key it was
sent), answers GET /v1/<resource>/<id> from the objects it was given, with
Stripe's error body and status otherwise (404 resource_missing), and can be
told to fail the next requests with a given status.
"""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

RESOURCES = {"customers", "products", "subscriptions", "prices", "coupons"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None


@dataclass
class FakeStripe:
    objects: dict[tuple[str, str], dict] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    # (status, error type, message) for each of the next requests
    failures: list[tuple[int, str, str]] = field(default_factory=list)
    url: str = ""

    def add(self, resource: str, obj: dict) -> dict:
        self.objects[(resource, obj["id"])] = obj
        return obj

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


def _handler(fake: FakeStripe):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args):
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_test_{len(fake.requests)}")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, kind: str, message: str, code=None) -> None:
            error = {"type": kind, "message": message}
            if code:
                error["code"] = code
            self._send(status, {"error": error})

        def do_GET(self):
            parts = urlsplit(self.path)
            fake.requests.append(
                Request(
                    "GET",
                    parts.path,
                    parse_qs(parts.query),
                    self.headers.get("Authorization"),
                )
            )
            if fake.failures:
                status, kind, message = fake.failures.pop(0)
                return self._error(status, kind, message)
            pieces = parts.path.strip("/").split("/")
            if len(pieces) != 3 or pieces[0] != "v1" or pieces[1] not in RESOURCES:
                return self._error(404, "invalid_request_error", "Unrecognized URL")
            found = fake.objects.get((pieces[1], pieces[2]))
            if found is None:
                return self._error(
                    404,
                    "invalid_request_error",
                    f"No such {pieces[1][:-1]}: '{pieces[2]}'",
                    code="resource_missing",
                )
            return self._send(200, found)

        do_POST = do_GET

    return Handler


def start() -> tuple[FakeStripe, ThreadingHTTPServer]:
    fake = FakeStripe()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server


# --- Stripe's objects ---------------------------------------------------------


def customer(cid: str, **fields) -> dict:
    """A Customer object (API reference: The Customer object)."""
    obj = {
        "id": cid,
        "object": "customer",
        "address": {
            "city": "Utrecht",
            "country": "NL",
            "line1": "Oudegracht 1",
            "line2": None,
            "postal_code": "3511 AA",
            "state": None,
        },
        "balance": 0,
        "created": 1700000000,
        "currency": "eur",
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": "7FE1103",
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    obj.update(fields)
    return obj


def product(pid: str, name: str) -> dict:
    """A Product object."""
    return {
        "id": pid,
        "object": "product",
        "active": True,
        "created": 1700000000,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": {},
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "unit_label": None,
        "updated": 1700000000,
        "url": None,
        "type": "service",
    }


def price(
    unit_amount: int | None = 2000,
    currency: str = "eur",
    interval: str = "month",
    interval_count: int = 1,
    *,
    pid: str = "price_basic",
    product_id: str = "prod_basic",
    nickname: str | None = None,
    usage_type: str = "licensed",
    billing_scheme: str = "per_unit",
    tiers_mode: str | None = None,
    tiers: list[dict] | None = None,
    transform_quantity: dict | None = None,
) -> dict:
    """A Price object, recurring; `tiers` only when asked for (expanded)."""
    obj = {
        "id": pid,
        "object": "price",
        "active": True,
        "billing_scheme": billing_scheme,
        "created": 1700000000,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": nickname,
        "product": product_id,
        "recurring": {
            "interval": interval,
            "interval_count": interval_count,
            "meter": None,
            "usage_type": usage_type,
            "trial_period_days": None,
        },
        "tax_behavior": "unspecified",
        "tiers_mode": tiers_mode,
        "transform_quantity": transform_quantity,
        "type": "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": None if unit_amount is None else str(unit_amount),
    }
    if tiers is not None:
        obj["tiers"] = tiers
    return obj


def tier(up_to, unit_amount=None, flat_amount=None) -> dict:
    return {
        "flat_amount": flat_amount,
        "flat_amount_decimal": None if flat_amount is None else str(flat_amount),
        "unit_amount": unit_amount,
        "unit_amount_decimal": None if unit_amount is None else str(unit_amount),
        "up_to": up_to,
    }


def coupon(cid="SAVE20", *, percent_off=None, amount_off=None, currency=None) -> dict:
    return {
        "id": cid,
        "object": "coupon",
        "amount_off": amount_off,
        "created": 1700000000,
        "currency": currency,
        "duration": "forever",
        "duration_in_months": None,
        "livemode": False,
        "max_redemptions": None,
        "metadata": {},
        "name": cid,
        "percent_off": percent_off,
        "redeem_by": None,
        "times_redeemed": 1,
        "valid": True,
    }


def discount(coupon_obj, did="di_1", *, subscription=None, customer_id=None) -> dict:
    """A Discount object; its coupon under source.coupon (an id unless expanded)."""
    return {
        "id": did,
        "object": "discount",
        "checkout_session": None,
        "customer": customer_id,
        "customer_account": None,
        "end": None,
        "invoice": None,
        "invoice_item": None,
        "promotion_code": None,
        "source": {"coupon": coupon_obj, "type": "coupon"},
        "start": 1700000000,
        "subscription": subscription,
        "subscription_item": None,
    }


def subscription(
    sid: str = "sub_1",
    customer_id: str = "cus_1",
    *,
    prices: list[tuple[dict, int | None]] | None = None,
    status: str = "active",
    currency: str = "eur",
    ended_at: int | None = None,
    canceled_at: int | None = None,
    start_date: int = 1760000000,
    trial_start: int | None = None,
    trial_end: int | None = None,
    feedback: str | None = None,
    comment: str | None = None,
    reason: str | None = None,
    discounts: list | None = None,
    period_start: int | None = None,
    latest_invoice=None,
) -> dict:
    """A Subscription object with its items (price and quantity each)."""
    prices = prices if prices is not None else [(price(currency=currency), 1)]
    period_start = period_start or start_date
    items = [
        {
            "id": f"si_{sid}_{n}",
            "object": "subscription_item",
            "created": start_date,
            "current_period_end": period_start + 30 * 86400,
            "current_period_start": period_start,
            "discounts": [],
            "metadata": {},
            "price": item_price,
            "quantity": quantity,
            "subscription": sid,
            "tax_rates": [],
        }
        for n, (item_price, quantity) in enumerate(prices)
    ]
    return {
        "id": sid,
        "object": "subscription",
        "application": None,
        "automatic_tax": {"enabled": False, "liability": None},
        "billing_cycle_anchor": start_date,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": canceled_at,
        "cancellation_details": {
            "comment": comment,
            "feedback": feedback,
            "reason": reason,
        },
        "collection_method": "charge_automatically",
        "created": start_date,
        "currency": currency,
        "customer": customer_id,
        "days_until_due": None,
        "default_payment_method": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": discounts or [],
        "ended_at": ended_at,
        "invoice_settings": {"issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": items,
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sid}",
        },
        "latest_invoice": latest_invoice,
        "livemode": False,
        "metadata": {},
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": start_date,
        "status": status,
        "test_clock": None,
        "trial_end": trial_end,
        "trial_settings": {
            "end_behavior": {"missing_payment_method": "create_invoice"}
        },
        "trial_start": trial_start,
    }


def event(
    event_id: str, kind: str, obj: dict, created: int, previous: dict | None = None
) -> dict:
    """An Event object around a subscription (`customer.subscription.<kind>`)."""
    data = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": f"customer.subscription.{kind}",
    }
