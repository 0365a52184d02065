"""Follow-up mails by reason: one template per departure reason.

A respondent whose main reason has an active follow-up gets its mail
``delay_days`` after answering, unless the draw holds them back (the
experiment's control group). The texts are plain text written by managers; the
only placeholder is ``{name}``, replaced by the person's name, so nothing a
manager types is ever run as a template.
"""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from karn import clock
from karn.accounts.models import User
from karn.dbtypes import UTCDateTime
from karn.enums import Reason, enum_column
from karn.experiments.models import Experiment
from karn.extensions import db

DEFAULT_DELAY_DAYS = 7
MAX_DELAY_DAYS = 365
SUBJECT_MAX = 200
OFFER_MAX = 300
BODY_MAX = 5000


class FollowUp(db.Model):
    """The follow-up of one reason: on or off, its delay and its texts."""

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    reason: Mapped[Reason] = mapped_column(enum_column(Reason, "reason"), unique=True)
    active: Mapped[bool] = mapped_column(default=False)
    delay_days: Mapped[int] = mapped_column(default=DEFAULT_DELAY_DAYS)
    # Made the first time the follow-up is switched on; kept while it is off,
    # so every draw of this reason's follow-up is counted in one place.
    experiment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("experiments.id", ondelete="SET NULL")
    )
    # When it was last switched on: only responses submitted since get it.
    active_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How far the worker has looked: the (submitted_at, id) of the last
    # response decided on. Responses up to here got their draw or were not
    # eligible when their follow-up was due; they are never looked at again.
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scanned_id: Mapped[int | None]
    subject_nl: Mapped[str | None] = mapped_column(sa.String(SUBJECT_MAX))
    body_nl: Mapped[str | None] = mapped_column(sa.Text)
    offer_nl: Mapped[str | None] = mapped_column(sa.String(OFFER_MAX))
    subject_en: Mapped[str | None] = mapped_column(sa.String(SUBJECT_MAX))
    body_en: Mapped[str | None] = mapped_column(sa.Text)
    offer_en: Mapped[str | None] = mapped_column(sa.String(OFFER_MAX))
    updated_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=clock.now, onupdate=clock.now
    )

    experiment: Mapped[Experiment | None] = relationship()
    updated_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(
            f"delay_days >= 1 AND delay_days <= {MAX_DELAY_DAYS}",
            name="delay_days_range",
        ),
    )

    def texts(self, lang: str) -> dict[str, str | None]:
        """Subject, body and offer line in one language (None when unwritten)."""
        return {
            "subject": getattr(self, f"subject_{lang}"),
            "body": getattr(self, f"body_{lang}"),
            "offer": getattr(self, f"offer_{lang}"),
        }

    def written_in(self, lang: str) -> bool:
        texts = self.texts(lang)
        return bool((texts["subject"] or "").strip() and (texts["body"] or "").strip())
