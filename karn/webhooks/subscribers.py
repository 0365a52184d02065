"""Which endpoints get an event: kept in memory, and written to safely.

Every survey submission asks, so each process keeps the enabled endpoints in
memory, per application, and reads them again at most every
WEBHOOK_CHECK_SECONDS seconds (5), or at once after a change made in the same
process. A change made in another process is therefore seen within those
seconds. A delivery is written with INSERT ... SELECT from the endpoint, on
the condition that it still exists, is enabled and still has the personal
setting the body was made for: a stale memory can miss an event for an
endpoint added in those seconds, but never fails the caller's transaction,
and never sends personal fields to an endpoint no longer marked for them.
"""

import threading
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import Flask, current_app

from karn.dbtypes import UTCDateTime
from karn.extensions import db
from karn.webhooks.models import WebhookDelivery, WebhookEndpoint

CHECK_SECONDS = 5.0
_EXTENSION = "karn_webhook_endpoints"


@dataclass(frozen=True)
class Subscriber:
    id: int
    events: frozenset
    personal: bool


@dataclass
class _Cache:
    current: list[Subscriber] | None = None
    checked: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)


def _cache(app: Flask) -> _Cache:
    cache = app.extensions.get(_EXTENSION)
    if cache is None:
        cache = app.extensions.setdefault(_EXTENSION, _Cache())
    return cache


def _stored() -> list[Subscriber]:
    with db.session.no_autoflush:
        rows = db.session.execute(
            sa.select(
                WebhookEndpoint.id, WebhookEndpoint.events, WebhookEndpoint.personal
            )
            .where(WebhookEndpoint.enabled.is_(True))
            .order_by(WebhookEndpoint.id)
        ).all()
    return [Subscriber(i, frozenset(events or ()), bool(p)) for i, events, p in rows]


def subscribed(event: str) -> list[Subscriber]:
    """The enabled endpoints that want this event, as this process knows them."""
    app = current_app._get_current_object()
    cache = _cache(app)
    every = float(app.config.get("WEBHOOK_CHECK_SECONDS", CHECK_SECONDS))
    now = time.monotonic()
    current = cache.current
    if current is None or now - cache.checked >= every:
        with cache.lock:
            if cache.current is None or now - cache.checked >= every:
                cache.current = _stored()
                cache.checked = now
            current = cache.current
    return [s for s in current if event in s.events]


def invalidate(app: Flask | None = None) -> None:
    """Read the endpoints again on the next event (after a change)."""
    _cache(app or current_app._get_current_object()).checked = float("-inf")


_columns = (
    "endpoint_id",
    "event",
    "message_id",
    "body",
    "personal",
    "customer_id",
    "status",
    "attempts",
    "due_at",
    "created_at",
)
_INSERT = sa.insert(WebhookDelivery.__table__).from_select(
    list(_columns),
    sa.select(
        WebhookEndpoint.id,
        sa.bindparam("b_event", type_=sa.String),
        sa.bindparam("b_message_id", type_=sa.String),
        sa.bindparam("b_body", type_=sa.Text),
        sa.bindparam("b_personal", type_=sa.Boolean),
        sa.bindparam("b_customer", type_=sa.Integer),
        sa.bindparam("b_status", type_=sa.String),
        sa.literal(0, sa.Integer),
        sa.bindparam("b_now", type_=UTCDateTime),
        sa.bindparam("b_now2", type_=UTCDateTime),
    ).where(
        WebhookEndpoint.id == sa.bindparam("b_endpoint"),
        WebhookEndpoint.enabled.is_(True),
        WebhookEndpoint.personal == sa.bindparam("b_wants", type_=sa.Boolean),
    ),
)


def write(rows: list[dict]) -> None:
    """Insert deliveries (b_* values each) in the caller's transaction."""
    if rows:
        db.session.execute(_INSERT, rows)
