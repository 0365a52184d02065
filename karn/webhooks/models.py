"""Webhook endpoints, the deliveries written for them, and every attempt."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from karn import clock
from karn.accounts.models import User
from karn.dbtypes import UTCDateTime
from karn.extensions import db

# A delivery's states. "sending" is claimed by a worker; a claim whose worker
# died goes back to "pending" and is sent again with the same webhook-id.
PENDING = "pending"
SENDING = "sending"
DELIVERED = "delivered"
FAILED = "failed"
# Never to be sent: personal fields of an erased person not yet delivered.
CANCELLED = "cancelled"
STATUSES = (PENDING, SENDING, DELIVERED, FAILED, CANCELLED)
FINISHED = (DELIVERED, FAILED, CANCELLED)


class WebhookEndpoint(db.Model):
    """A URL that receives the events it subscribed to, signed with its secret.

    ``failures`` counts deliveries in a row that were given up on; at
    WEBHOOK_DISABLE_AFTER the endpoint is switched off and ``disabled_at``
    with ``disabled_reason`` tell the administrators why.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(2000))
    description: Mapped[str | None] = mapped_column(sa.String(200))
    # "whsec_" and base64, as the Standard Webhooks libraries take it.
    secret: Mapped[str] = mapped_column(sa.String(100))
    events: Mapped[list] = mapped_column(sa.JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Names resolving to private, loopback or link-local addresses are
    # refused unless this is set (an endpoint inside the company's network).
    allow_private: Mapped[bool] = mapped_column(default=False)
    # Only these endpoints get names, addresses, phone numbers and free text.
    personal: Mapped[bool] = mapped_column(default=False)
    failures: Mapped[int] = mapped_column(default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(500))
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    created_by: Mapped[User | None] = relationship()

    @property
    def auto_disabled(self) -> bool:
        """Switched off by Karn after failures, not by a person."""
        return not self.enabled and self.disabled_reason is not None


class WebhookDelivery(db.Model):
    """One event for one endpoint: the body exactly as signed and sent."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(sa.String(40))
    # The webhook-id header: the same on every attempt, so a receiver can
    # drop a duplicate.
    message_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    body: Mapped[str] = mapped_column(sa.Text)
    # The body holds personal fields (the endpoint receives them).
    personal: Mapped[bool] = mapped_column(default=False)
    customer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    endpoint: Mapped[WebhookEndpoint] = relationship()
    attempt_log: Mapped[list["WebhookAttempt"]] = relationship(
        order_by="WebhookAttempt.id", passive_deletes=True
    )

    __table_args__ = (sa.Index("ix_webhook_deliveries_status_due", "status", "due_at"),)


class WebhookAttempt(db.Model):
    """One POST of a delivery: when, the HTTP status, or what went wrong.

    The receiver's answer itself is not kept: it may echo personal data.
    """

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(sa.String(500))
    ok: Mapped[bool] = mapped_column(default=False)
