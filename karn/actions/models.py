"""The improvement actions table."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from karn import clock
from karn.accounts.models import User
from karn.dbtypes import UTCDateTime
from karn.enums import Reason, enum_column
from karn.extensions import db


class ImprovementAction(db.Model):
    """A change aimed at one departure reason, with when it started and ended."""

    __tablename__ = "improvement_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.Text)
    reason: Mapped[Reason] = mapped_column(enum_column(Reason, "reason"), index=True)
    owner_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    started_on: Mapped[date]
    ended_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    owner: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(
            "ended_on IS NULL OR ended_on >= started_on", name="ends_after_start"
        ),
    )
