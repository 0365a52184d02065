"""The tags' own tables: corrections people made and the trained tag models."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from karn import clock
from karn.accounts.models import User
from karn.dbtypes import UTCDateTime
from karn.enums import Reason, Sentiment, enum_column
from karn.extensions import db


class TagCorrection(db.Model):
    """A person's correction of the tags of a free-text answer or a call note.

    Only labels are kept, never text: what the tags were, what they became, who
    changed them and when. The answer's or note's own columns then hold the
    corrected values (what pages show and counts use), and its ``tags`` JSON is
    marked ``corrected`` so a re-tag leaves it alone.
    """

    __tablename__ = "tag_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("answers.id", ondelete="CASCADE"), index=True
    )
    note_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("call_notes.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=clock.now, index=True
    )
    old_sentiment: Mapped[Sentiment | None] = mapped_column(
        enum_column(Sentiment, "old_sentiment")
    )
    new_sentiment: Mapped[Sentiment | None] = mapped_column(
        enum_column(Sentiment, "new_sentiment")
    )
    old_score: Mapped[float | None]
    old_reason: Mapped[Reason | None] = mapped_column(enum_column(Reason, "old_reason"))
    new_reason: Mapped[Reason | None] = mapped_column(enum_column(Reason, "new_reason"))

    user: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(
            "(answer_id IS NULL) <> (note_id IS NULL)", name="one_target"
        ),
    )

    @property
    def kind(self) -> str:
        return "answer" if self.answer_id is not None else "note"


_ACTIVE_MODEL = sa.text("active")


class TagModel(db.Model):
    """A trained text-tagging model, versioned; at most one per task is active.

    Version 0 is the model shipped with Karn and has no row: it is in use when
    no row of the task is active.
    """

    __tablename__ = "tag_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(sa.String(16))
    version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # Who ran the training (a user's email, or the system account's name).
    created_by: Mapped[str | None] = mapped_column(sa.String(254))
    active: Mapped[bool] = mapped_column(default=False)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Training examples per source, language and label.
    examples: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # Held-out evaluation of this model and of the one active when it was made.
    metrics: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # The model itself, as the JSON document of ReasonModel.to_json().
    payload: Mapped[str] = mapped_column(sa.Text)

    __table_args__ = (
        sa.UniqueConstraint("task", "version", name="uq_tag_models_task_version"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.CheckConstraint("task IN ('reason', 'sentiment')", name="task_known"),
        sa.Index(
            "uq_tag_models_active",
            "task",
            unique=True,
            sqlite_where=_ACTIVE_MODEL,
            postgresql_where=_ACTIVE_MODEL,
        ),
    )
