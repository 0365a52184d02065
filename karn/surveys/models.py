"""Surveys and their versions, invitations, the outbox, responses and answers."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from karn import clock
from karn.customers.models import Customer
from karn.dbtypes import UTCDateTime
from karn.enums import (
    OPEN_INVITATION_STATES,
    InvitationStatus,
    Language,
    OutboxStatus,
    Reason,
    Sentiment,
    enum_column,
)
from karn.extensions import db


class Survey(db.Model):
    """An exit survey; what respondents see is one of its versions."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # The survey's public link (/a/<token>) for a cancel page or a receipt.
    public_token: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    # Questions being edited, not yet published (published versions never change).
    draft: Mapped[list | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    versions: Mapped[list["SurveyVersion"]] = relationship(
        back_populates="survey", order_by="SurveyVersion.number"
    )


class SurveyVersion(db.Model):
    """A published, immutable set of questions; answers keep their version."""

    __tablename__ = "survey_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(
        sa.ForeignKey("surveys.id", ondelete="CASCADE")
    )
    number: Mapped[int]
    # The questions with their Dutch and English texts (see surveys/definition).
    questions: Mapped[list] = mapped_column(sa.JSON)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    published_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    survey: Mapped[Survey] = relationship(back_populates="versions")

    __table_args__ = (
        sa.UniqueConstraint("survey_id", "number", name="uq_survey_versions_number"),
        sa.CheckConstraint("number >= 1", name="number_positive"),
    )


@event.listens_for(SurveyVersion, "before_update")
def _versions_are_immutable(mapper, connection, target):
    raise ValueError("a published survey version never changes; publish a new one")


_OPEN_INVITATION = sa.text(
    "status IN ({})".format(", ".join(f"'{s.value}'" for s in OPEN_INVITATION_STATES))
)


class Invitation(db.Model):
    """One customer's personal invitation to one survey, with its reminders."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE")
    )
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id"))
    # Fixed when the invitation is sent; until then the survey's latest version.
    survey_version_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("survey_versions.id")
    )
    # SHA-256 of the link's secret token; the token itself is never stored.
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    status: Mapped[InvitationStatus] = mapped_column(
        enum_column(InvitationStatus, "invitation_status"),
        default=InvitationStatus.SCHEDULED,
    )
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminders_sent: Mapped[int] = mapped_column(default=0)
    last_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    customer: Mapped[Customer] = relationship()
    survey: Mapped[Survey] = relationship()
    survey_version: Mapped[SurveyVersion | None] = relationship()

    __table_args__ = (
        # Never two open invitations for one customer and survey.
        sa.Index(
            "uq_invitations_open",
            "customer_id",
            "survey_id",
            unique=True,
            sqlite_where=_OPEN_INVITATION,
            postgresql_where=_OPEN_INVITATION,
        ),
        sa.Index("ix_invitations_status_scheduled", "status", "scheduled_for"),
        # The dashboard's funnel counts invitations by these three alone...
        sa.Index("ix_invitations_funnel", "status", "reminders_sent", "sent_at"),
        # ... and, for a filter on customers, those of the chosen customers,
        # without reading the invitations themselves. Also a customer's
        # invitations.
        sa.Index(
            "ix_invitations_customer_funnel",
            "customer_id",
            "status",
            "reminders_sent",
            "sent_at",
        ),
        sa.CheckConstraint("reminders_sent >= 0", name="reminders_not_negative"),
    )


class OutboxMessage(db.Model):
    """A mail, written in the same transaction as its cause, sent by the worker."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    customer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    invitation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("invitations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE")
    )
    to_address: Mapped[str | None] = mapped_column(sa.String(254))
    language: Mapped[Language] = mapped_column(enum_column(Language, "language"))
    subject: Mapped[str | None] = mapped_column(sa.String(300))
    body_text: Mapped[str | None] = mapped_column(sa.Text)
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    headers: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # Stable across retries so a receiving server can drop a duplicate.
    message_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(
        enum_column(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set just before the message is handed to the SMTP server: a message still
    # "sending" with this set may have been delivered and is never resent blind.
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    __table_args__ = (sa.Index("ix_outbox_status_due", "status", "due_at"),)


class Response(db.Model):
    """One person's answers to one survey version; at most one per invitation."""

    __tablename__ = "responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique: a second submission for the same invitation is refused by the
    # database. NULL for responses through the anonymous link.
    invitation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("invitations.id", ondelete="SET NULL"), unique=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    survey_version_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey_versions.id"), index=True
    )
    language: Mapped[Language] = mapped_column(enum_column(Language, "language"))
    channel: Mapped[str] = mapped_column(sa.String(16), default="invitation")
    primary_reason: Mapped[Reason | None] = mapped_column(
        enum_column(Reason, "reason"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # NULL while the respondent is still answering.
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    invitation: Mapped[Invitation | None] = relationship()
    customer: Mapped[Customer | None] = relationship()
    survey_version: Mapped[SurveyVersion] = relationship()
    answers: Mapped[list["Answer"]] = relationship(
        back_populates="response", cascade="all, delete-orphan"
    )
    reasons: Mapped[list["ResponseReason"]] = relationship(
        back_populates="response", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.CheckConstraint(
            "channel IN ('invitation', 'anonymous')", name="channel_known"
        ),
        # The follow-up worker's question every minute: a reason's responses
        # submitted after its cursor, in order (karn.followups.scheduling).
        sa.Index(
            "ix_responses_reason_submitted", "primary_reason", "submitted_at", "id"
        ),
    )


class ResponseReason(db.Model):
    """A reason option shown to a respondent, where, and whether it was chosen.

    A reason's share is counted over the respondents who were shown it, so a
    row exists for every option shown, chosen or not.
    """

    __tablename__ = "response_reasons"

    response_id: Mapped[int] = mapped_column(
        sa.ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True
    )
    reason: Mapped[Reason] = mapped_column(
        enum_column(Reason, "reason"), primary_key=True
    )
    position: Mapped[int]
    is_primary: Mapped[bool] = mapped_column(default=False)
    is_secondary: Mapped[bool] = mapped_column(default=False)

    response: Mapped[Response] = relationship(back_populates="reasons")

    __table_args__ = (sa.Index("ix_response_reasons_reason", "reason", "is_primary"),)


_TAGGED = sa.text("sentiment IS NOT NULL")
_QUOTABLE = sa.text("sentiment_score IS NOT NULL AND text IS NOT NULL")


class Answer(db.Model):
    """The answer to one question, with text tags for free-text answers."""

    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(
        sa.ForeignKey("responses.id", ondelete="CASCADE")
    )
    question_key: Mapped[str] = mapped_column(sa.String(64))
    # Typed value: a code, a list of codes, a number, a boolean or an object.
    value: Mapped[object | None] = mapped_column(sa.JSON)
    text: Mapped[str | None] = mapped_column(sa.Text)
    sentiment: Mapped[Sentiment | None] = mapped_column(
        enum_column(Sentiment, "sentiment")
    )
    sentiment_score: Mapped[float | None]
    tag_reason: Mapped[Reason | None] = mapped_column(enum_column(Reason, "reason"))
    tags: Mapped[dict | None] = mapped_column(sa.JSON)
    tagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    response: Mapped[Response] = relationship(back_populates="answers")

    __table_args__ = (
        sa.UniqueConstraint(
            "response_id", "question_key", name="uq_answers_response_question"
        ),
        sa.CheckConstraint(
            "sentiment_score IS NULL OR sentiment_score BETWEEN -1 AND 1",
            name="score_in_range",
        ),
        sa.Index("ix_answers_tag_reason", "tag_reason", "sentiment"),
        # The comments page: tone per reason, and quotes by score.
        sa.Index(
            "ix_answers_sentiment",
            "response_id",
            "sentiment",
            sqlite_where=_TAGGED,
            postgresql_where=_TAGGED,
        ),
        sa.Index(
            "ix_answers_score",
            "sentiment_score",
            "response_id",
            sqlite_where=_QUOTABLE,
            postgresql_where=_QUOTABLE,
        ),
    )
