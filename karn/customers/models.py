"""Customers: who they are, whether and when they left, what we know of them.

A customer is active or departed (`status`), the one model the rest of Karn
builds on:

- new, without a status (a row, item or event): departed, as always;
- new, the status says active: active, never invited, never in the ranking;
- active, then the status says departed or the last Stripe subscription
  ends: departed, on the file's date, the event's time, or an unknown date;
- departed, then the status says active or a new Stripe subscription
  starts: active, with a win-back recorded;
- any, erased: nothing of it returns through intake.

`departed_at` is the last departure: None for a customer who never left, and
for a departure of unknown date (a snapshot file with a status but no date),
which counts in the analysis but is never invited. A customer won back keeps
the date of the departure they came back from.
"""

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from karn import clock
from karn.dbtypes import Cents, UTCDateTime
from karn.enums import CustomerStatus, Language, Reason, Source, enum_column
from karn.extensions import db


class Customer(db.Model):
    """A customer, active or departed, as imported, posted or received from Stripe."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(254), index=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    phone: Mapped[str | None] = mapped_column(sa.String(50))
    # None: the company's default language.
    language: Mapped[Language | None] = mapped_column(enum_column(Language, "language"))
    status: Mapped[CustomerStatus] = mapped_column(
        enum_column(CustomerStatus, "customer_status"),
        default=CustomerStatus.DEPARTED,
        server_default=CustomerStatus.DEPARTED.value,
    )
    departed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    plan: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    segment: Mapped[str | None] = mapped_column(sa.String(100))
    region: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    tenure_months: Mapped[int | None]
    monthly_revenue: Mapped[Decimal | None] = mapped_column(Cents)
    lifetime_value: Mapped[Decimal | None] = mapped_column(Cents)
    # ISO 4217 code of the amounts; None: the reporting currency (CURRENCY).
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    # Left because paying failed (a card declined, a dispute), not by choice.
    involuntary: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Left at the end of a trial without ever paying: no revenue was lost.
    trial_only: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
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
    # The customer objected to profiling: no churn-risk score (karn.risk).
    profiling_objected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
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
        # Name search goes by the start of the name, case-insensitively.
        sa.Index("ix_customers_name_lower", sa.func.lower(sa.column("name"))),
        # The customer list pages newest departures first, also within a segment.
        sa.Index("ix_customers_departed_id", "departed_at", "id"),
        sa.Index("ix_customers_segment_departed", "segment", "departed_at", "id"),
        # The few customers in another currency than the reporting one.
        sa.Index(
            "ix_customers_currency",
            "currency",
            sqlite_where=sa.text("currency IS NOT NULL"),
            postgresql_where=sa.text("currency IS NOT NULL"),
        ),
        # The few departures where paying failed, counted by the dashboard.
        sa.Index(
            "ix_customers_involuntary",
            "departed_at",
            sqlite_where=sa.text("involuntary"),
            postgresql_where=sa.text("involuntary"),
        ),
        # Departures not erased, counted by the dashboard's funnel.
        sa.Index(
            "ix_customers_kept_departed",
            "departed_at",
            sqlite_where=sa.text("erased_at IS NULL"),
            postgresql_where=sa.text("erased_at IS NULL"),
        ),
    )

    @property
    def mailable(self) -> bool:
        """True when Karn may send this person mail."""
        return bool(self.email) and not (
            self.unsubscribed_at or self.bounced_at or self.erased_at
        )

    def __repr__(self) -> str:
        return f"<Customer {self.external_id or self.email}>"


class ImportRun(db.Model):
    """One CSV import: the uploaded file until it is imported, and what happened."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    # pending (uploaded, mapping not yet confirmed), done, failed
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    dry_run: Mapped[bool] = mapped_column(default=False)
    # The upload, gzip-compressed, kept in the database (not on one web
    # server's disk) between preview and import; removed once imported.
    upload: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    mapping: Mapped[dict | None] = mapped_column(sa.JSON)
    date_order: Mapped[str] = mapped_column(sa.String(3), default="dmy")
    rows: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    # The rejected rows as a gzip-compressed CSV, for download.
    rejected_csv: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('pending', 'done', 'failed')", name="status_known"
        ),
    )


class StripeEvent(db.Model):
    """A Stripe webhook event already handled, so a replay changes nothing."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(100))
    customer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL")
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class Suppression(db.Model):
    """An address Karn never mails again, whatever is imported later.

    Looked up by a SHA-256 of the lower-cased address, so an erased person's
    entry keeps working after the address itself has been removed.
    """

    __tablename__ = "suppressions"

    email_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    # NULL once the person is erased; the hash alone still blocks mail.
    email: Mapped[str | None] = mapped_column(sa.String(254))
    # unsubscribed, bounced, erased, added by an admin
    reason: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class ErasedPerson(db.Model):
    """An erased person's email and customer number, as one-way hashes only.

    Intake looks every record up here, so erased data does not come back: a
    departure dated on or before ``erased_on`` is refused (a later one is a new
    departure, and allowed). Erasure (karn.privacy) writes a row; an
    administrator who deliberately adds the person again removes it. The hashes
    are SHA-256 of the trimmed, lower-cased values (see karn.customers.erased).
    """

    __tablename__ = "erased_people"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    external_id_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # The day of the erasure in the company's time zone; the time is not kept.
    erased_on: Mapped[date] = mapped_column(sa.Date)

    __table_args__ = (
        sa.CheckConstraint(
            "email_hash IS NOT NULL OR external_id_hash IS NOT NULL",
            name="identified",
        ),
    )
