"""Webhook deliveries and personal data: erasure, the access export, retention.

Only deliveries to endpoints marked to receive personal fields hold any; the
others carry Karn's ids and codes. The access export lists both. Erasure
replaces the body of a person's personal deliveries with what endpoints
without personal fields get (ids and codes), cancels those not yet delivered,
and sends ``customer.erased``.
Retention removes deliveries (with their attempts) finished longer ago than
the mail retention (RETENTION_MAIL_DAYS).
"""

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from karn.extensions import db
from karn.webhooks import events
from karn.webhooks.models import (
    CANCELLED,
    DELIVERED,
    FINISHED,
    WebhookDelivery,
    WebhookEndpoint,
)

SCRUBBED = {"erased": True}


def _scrubbed_body(body: str, customer_id: int) -> str:
    """The body with everything but its type, time and the person's id gone."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = {}
    return json.dumps(
        {
            "type": parsed.get("type"),
            "timestamp": parsed.get("timestamp"),
            "data": {"customer": {"id": customer_id}, **SCRUBBED},
        },
        separators=(",", ":"),
    )


def erase(customer_ids: list[int], dry_run: bool = False) -> int:
    """Scrub these people's personal deliveries, cancel the undelivered ones,
    and (unless a dry run) send customer.erased; returns how many bodies."""
    count = 0
    for start in range(0, len(customer_ids), 1000):
        chunk = customer_ids[start : start + 1000]
        rows = db.session.execute(
            sa.select(
                WebhookDelivery.id,
                WebhookDelivery.body,
                WebhookDelivery.status,
                WebhookDelivery.customer_id,
            ).where(
                WebhookDelivery.customer_id.in_(chunk),
                WebhookDelivery.personal.is_(True),
            )
        ).all()
        count += len(rows)
        if dry_run:
            continue
        for delivery_id, body, status, customer_id in rows:
            values = {"body": _scrubbed_body(body, customer_id), "personal": False}
            if status != DELIVERED:
                values.update(status=CANCELLED, claimed_by=None, claimed_at=None)
            db.session.execute(
                sa.update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
    if not dry_run:
        events.customer_erased(customer_ids)
    return count


def export(customer_id: int) -> list[dict[str, Any]]:
    """Every delivery about the person: to where, when, whether it held
    personal fields, and the body as sent. Those with ids and codes only are
    listed too: the receiver still learned something about this person."""
    rows = db.session.execute(
        sa.select(WebhookDelivery, WebhookEndpoint.url)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.customer_id == customer_id)
        .order_by(WebhookDelivery.id)
    ).all()
    return [
        {
            "event": delivery.event,
            "endpoint": url,
            "personal": delivery.personal,
            "status": delivery.status,
            "created_at": delivery.created_at.isoformat(),
            "delivered_at": (
                delivery.delivered_at.isoformat() if delivery.delivered_at else None
            ),
            "body": json.loads(delivery.body),
        }
        for delivery, url in rows
    ]


def prune(before: datetime, dry_run: bool = False, batch: int = 500) -> int:
    """Remove finished deliveries written before ``before`` (their attempts go
    with them); returns how many. Commits per batch unless a dry run."""
    old = sa.and_(
        WebhookDelivery.status.in_(FINISHED), WebhookDelivery.created_at < before
    )
    if dry_run:
        return db.session.scalar(sa.select(sa.func.count()).where(old)) or 0
    done = 0
    while True:
        ids = db.session.scalars(
            sa.select(WebhookDelivery.id)
            .where(old)
            .order_by(WebhookDelivery.id)
            .limit(batch)
        ).all()
        if not ids:
            return done
        # Their attempts go by the foreign key's cascade.
        db.session.execute(
            sa.delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
        )
        db.session.commit()
        done += len(ids)
