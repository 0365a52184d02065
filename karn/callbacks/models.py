"""Call tasks and the notes staff write when they phone ex-customers."""

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from karn import clock
from karn.accounts.models import User
from karn.customers.models import Customer
from karn.dbtypes import Cents, UTCDateTime
from karn.enums import (
    CallOutcome,
    CallTaskSource,
    CallTaskStatus,
    Language,
    Reason,
    Sentiment,
    enum_column,
)
from karn.extensions import db

# Lower numbers are called first: people who asked to be called come first.
SOURCE_PRIORITY = {
    CallTaskSource.REQUESTED: 10,
    CallTaskSource.HIGH_VALUE: 20,
    CallTaskSource.KEEP_CALL: 25,
    CallTaskSource.MANUAL: 30,
    CallTaskSource.SELECTION: 40,
}


class CallTask(db.Model):
    """An ex-customer to phone, with priority, due time and who will call."""

    __tablename__ = "call_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    response_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("responses.id", ondelete="SET NULL")
    )
    source: Mapped[CallTaskSource] = mapped_column(
        enum_column(CallTaskSource, "call_task_source")
    )
    status: Mapped[CallTaskStatus] = mapped_column(
        enum_column(CallTaskStatus, "call_task_status"), default=CallTaskStatus.OPEN
    )
    # Lower numbers are called first.
    priority: Mapped[int] = mapped_column(default=50)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    phone: Mapped[str | None] = mapped_column(sa.String(50))
    preferred_time: Mapped[str | None] = mapped_column(sa.String(200))
    assigned_to_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    # Why this person is on the list, for selections and manual additions.
    note: Mapped[str | None] = mapped_column(sa.Text)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer: Mapped[Customer] = relationship()
    assigned_to: Mapped[User | None] = relationship(foreign_keys=[assigned_to_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    notes: Mapped[list["CallNote"]] = relationship(
        back_populates="task", order_by="CallNote.created_at"
    )

    __table_args__ = (
        sa.Index("ix_call_tasks_queue", "status", "priority", "due_at"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )


class CallNote(db.Model):
    """What staff heard on one call: outcome, reasons, free text, follow-up."""

    __tablename__ = "call_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("call_tasks.id", ondelete="SET NULL"), index=True
    )
    customer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    outcome: Mapped[CallOutcome] = mapped_column(enum_column(CallOutcome, "outcome"))
    text: Mapped[str | None] = mapped_column(sa.Text)
    language: Mapped[Language | None] = mapped_column(enum_column(Language, "language"))
    follow_up_on: Mapped[date | None]
    sentiment: Mapped[Sentiment | None] = mapped_column(
        enum_column(Sentiment, "sentiment")
    )
    sentiment_score: Mapped[float | None]
    tag_reason: Mapped[Reason | None] = mapped_column(enum_column(Reason, "reason"))
    tags: Mapped[dict | None] = mapped_column(sa.JSON)
    tagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=clock.now, index=True
    )
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    task: Mapped[CallTask | None] = relationship(back_populates="notes")
    customer: Mapped[Customer] = relationship()
    author: Mapped[User | None] = relationship()
    reasons: Mapped[list["CallNoteReason"]] = relationship(
        back_populates="note", cascade="all, delete-orphan"
    )


class CallNoteReason(db.Model):
    """A departure reason heard on the phone; several per note are allowed."""

    __tablename__ = "call_note_reasons"

    note_id: Mapped[int] = mapped_column(
        sa.ForeignKey("call_notes.id", ondelete="CASCADE"), primary_key=True
    )
    reason: Mapped[Reason] = mapped_column(
        enum_column(Reason, "reason"), primary_key=True, index=True
    )

    note: Mapped[CallNote] = relationship(back_populates="reasons")


class WinBack(db.Model):
    """A departed customer who came back: when, who recorded it, what it regained."""

    __tablename__ = "win_backs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One per customer: marking again corrects the record.
    customer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), unique=True
    )
    returned_on: Mapped[date] = mapped_column(index=True)
    # How it was recorded: call, manual, csv, api, stripe.
    via: Mapped[str] = mapped_column(sa.String(16))
    # Monthly revenue regained.
    revenue: Mapped[Decimal | None] = mapped_column(Cents)
    note_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("call_notes.id", ondelete="SET NULL")
    )
    recorded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    customer: Mapped[Customer] = relationship()
    recorded_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(
            "via IN ('call', 'manual', 'csv', 'api', 'stripe')", name="via_known"
        ),
        sa.CheckConstraint("revenue >= 0", name="revenue_not_negative"),
    )


class DigestRun(db.Model):
    """A team digest mailed for one period, so it goes out once."""

    __tablename__ = "digest_runs"

    period_start: Mapped[date] = mapped_column(primary_key=True)
    period_end: Mapped[date]
    recipients: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
