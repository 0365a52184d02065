"""Feedback items and the channels administrators added.

Six channels are built in (`BUILTIN`); administrators add more, each with a
Dutch and an English name (`FeedbackChannel`). An item names its channel by
code. Items are stored untagged (`tagged_at` is None) and tagged by the worker
(karn.feedback.tagging). `dedupe_key` makes every way in idempotent: a hash of
the channel and the source's own id, or of the item's content when there is
none, so the same item sent or imported again is recognised.
"""

from datetime import datetime

import sqlalchemy as sa
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column

from karn import clock
from karn.dbtypes import UTCDateTime
from karn.enums import Language, Reason, Sentiment, enum_column
from karn.extensions import db

BUILTIN = {
    "support": _l("support tickets"),
    "complaint": _l("complaints"),
    "review": _l("reviews"),
    "social": _l("social media"),
    "nps": _l("NPS comments"),
    "other": _l("other feedback"),
}
VIA = ("csv", "api", "form")


class FeedbackChannel(db.Model):
    """A channel an administrator added, named in both languages."""

    __tablename__ = "feedback_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name_nl: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


# The items the worker is to tag: an erased text is never tagged, and the
# pages' "N not yet tagged" counts these from the index alone.
_UNTAGGED = sa.text("tagged_at IS NULL AND text IS NOT NULL")


class FeedbackItem(db.Model):
    """One piece of feedback: a ticket, complaint, review, post or NPS comment."""

    __tablename__ = "feedback_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(32))
    # None once erased (with the customer, or by retention).
    text: Mapped[str | None] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rating: Mapped[float | None]
    # As given; else None until the worker reads it from the text with the tags.
    language: Mapped[Language | None] = mapped_column(enum_column(Language, "language"))
    customer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    # The sending system's own id of the item (a ticket number), if any.
    source_id: Mapped[str | None] = mapped_column(sa.String(200))
    # 16 hex digits of SHA-256 over the channel and source id, else the content.
    dedupe_key: Mapped[str] = mapped_column(sa.String(16), unique=True)
    via: Mapped[str] = mapped_column(sa.String(8))
    sentiment: Mapped[Sentiment | None] = mapped_column(
        enum_column(Sentiment, "sentiment")
    )
    sentiment_score: Mapped[float | None]
    tag_reason: Mapped[Reason | None] = mapped_column(enum_column(Reason, "reason"))
    tags: Mapped[dict | None] = mapped_column(sa.JSON)
    tagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    __table_args__ = (
        sa.CheckConstraint("rating >= 0 AND rating <= 100", name="rating_range"),
        sa.CheckConstraint("via IN ('csv', 'api', 'form')", name="via_known"),
        # The reason mix per channel and period: read from the index alone.
        sa.Index(
            "ix_feedback_items_channel_reason",
            "channel",
            "tag_reason",
            "received_at",
        ),
        # The items the worker has yet to tag: nearly always few.
        sa.Index(
            "ix_feedback_items_untagged",
            "id",
            sqlite_where=_UNTAGGED,
            postgresql_where=_UNTAGGED,
        ),
    )


class FeedbackImport(db.Model):
    """One CSV import of feedback: the upload until imported, then the counts.

    The worker imports it (karn.feedback.importjob), committing the counts
    with every batch of items, so they are the progress while it runs and
    the point to go on from after a crash.
    """

    __tablename__ = "feedback_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    # pending (mapping not yet confirmed), queued (for the worker), running,
    # done, failed
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    # The upload, gzip-compressed, removed once imported.
    upload: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    mapping: Mapped[dict | None] = mapped_column(sa.JSON)
    channel: Mapped[str | None] = mapped_column(sa.String(32))
    month_first: Mapped[bool] = mapped_column(default=False)
    # The file's lines less the header: about the rows to import.
    expected_rows: Mapped[int] = mapped_column(default=0)
    # The worker importing it, and when it last committed a batch: another
    # worker takes over an import whose worker stopped (importjob.LEASE).
    claimed_by: Mapped[str | None] = mapped_column(sa.String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why a failed import stopped: [message_en, message_nl].
    error: Mapped[list | None] = mapped_column(sa.JSON)
    # Rows read and stored so far (all of them once done).
    rows: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    # [[line, message_en, message_nl], ...] of the first rejected rows.
    errors: Mapped[list | None] = mapped_column(sa.JSON)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def channel_names(lang: str | None = None) -> dict[str, str]:
    """Every channel's code and name in the reader's language, built-in first."""
    lang = lang or str(get_locale() or "en")
    names = {code: str(label) for code, label in BUILTIN.items()}
    for row in db.session.scalars(
        sa.select(FeedbackChannel).order_by(FeedbackChannel.id)
    ):
        names[row.code] = row.name_nl if lang == "nl" else row.name_en
    return names
