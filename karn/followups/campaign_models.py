"""The "we fixed it" campaigns table."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from karn import clock
from karn.accounts.models import User
from karn.actions.models import ImprovementAction
from karn.dbtypes import UTCDateTime
from karn.enums import Reason, enum_column
from karn.experiments.models import Experiment
from karn.extensions import db


class Campaign(db.Model):
    """A mail about what changed, sent from an improvement action to those who
    left for its reason in a period; its experiment holds who was mailed and
    who was held back.

    ``key`` is made when the form is first shown and is unique: confirming the
    same preview twice (a double click, the back button) finds the campaign
    already there instead of mailing everyone again.
    """

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    action_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("improvement_actions.id", ondelete="SET NULL"), index=True
    )
    experiment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("experiments.id", ondelete="SET NULL"), unique=True
    )
    # The action's reason when the campaign went out.
    reason: Mapped[Reason] = mapped_column(enum_column(Reason, "reason"))
    # Departed from ... until ... (inclusive days).
    period_since: Mapped[date]
    period_until: Mapped[date]
    subject_nl: Mapped[str] = mapped_column(sa.String(200))
    body_nl: Mapped[str] = mapped_column(sa.Text)
    subject_en: Mapped[str] = mapped_column(sa.String(200))
    body_en: Mapped[str] = mapped_column(sa.Text)
    # The chance of being mailed; the rest is held back.
    share: Mapped[float] = mapped_column(sa.Float)
    # At sending: who matched, who was eligible, mailed and held back, and
    # how many each rule left out (rule -> count).
    matched: Mapped[int] = mapped_column(default=0)
    eligible: Mapped[int] = mapped_column(default=0)
    mailed: Mapped[int] = mapped_column(default=0)
    held_back: Mapped[int] = mapped_column(default=0)
    excluded: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    action: Mapped[ImprovementAction | None] = relationship()
    experiment: Mapped[Experiment | None] = relationship()
    created_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint("period_until >= period_since", name="period_in_order"),
        sa.CheckConstraint("share > 0 AND share < 1", name="share_range"),
    )
