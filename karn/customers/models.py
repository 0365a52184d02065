"""Departed customers: who left, when, and what we know of them."""

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from karn import clock
from karn.dbtypes import Cents, UTCDateTime
from karn.enums import Language, Reason, Source, enum_column
from karn.extensions import db


class Customer(db.Model):
    """A customer who has left, as imported, posted or received from Stripe."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(254), index=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    phone: Mapped[str | None] = mapped_column(sa.String(50))
    # None: the company's default language.
    language: Mapped[Language | None] = mapped_column(enum_column(Language, "language"))
    departed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    plan: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    segment: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    region: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    tenure_months: Mapped[int | None]
    monthly_revenue: Mapped[Decimal | None] = mapped_column(Cents)
    lifetime_value: Mapped[Decimal | None] = mapped_column(Cents)
    source: Mapped[Source] = mapped_column(enum_column(Source, "source"))
    # Every imported column that is not one of the fields above.
    extra: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # What the customer said when cancelling (e.g. Stripe's feedback field).
    stated_reason: Mapped[Reason | None] = mapped_column(enum_column(Reason, "reason"))
    stated_comment: Mapped[str | None] = mapped_column(sa.Text)

    # Permanent delivery failures and bounces; at the configured count the
    # address is marked undeliverable (bounced_at).
    delivery_failures: Mapped[int] = mapped_column(default=0)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=clock.now, onupdate=clock.now
    )

    __table_args__ = (
        # Erasure may remove both; until then one of them identifies the person.
        sa.CheckConstraint(
            "external_id IS NOT NULL OR email IS NOT NULL OR erased_at IS NOT NULL",
            name="identified",
        ),
        sa.CheckConstraint("email = lower(email)", name="email_lower"),
        sa.CheckConstraint("tenure_months >= 0", name="tenure_not_negative"),
        sa.CheckConstraint("monthly_revenue >= 0", name="revenue_not_negative"),
        sa.CheckConstraint("lifetime_value >= 0", name="ltv_not_negative"),
    )

    @property
    def mailable(self) -> bool:
        """True when Karn may send this person mail."""
        return bool(self.email) and not (
            self.unsubscribed_at or self.bounced_at or self.erased_at
        )

    def __repr__(self) -> str:
        return f"<Customer {self.external_id or self.email}>"
