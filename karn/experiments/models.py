"""Experiments and who was drawn into which group, with the draw itself."""

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from karn import clock
from karn.accounts.models import User
from karn.customers.models import Customer
from karn.dbtypes import Cents, UTCDateTime
from karn.enums import ExperimentGroup, ExperimentKind, enum_column
from karn.extensions import db


class Experiment(db.Model):
    """Something tried on a random part of a selection, the rest held back.

    Each customer's outcome is counted over ``horizon_days`` from their own
    assignment; ``treatment_share`` is the chance of being treated.
    """

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ExperimentKind] = mapped_column(
        enum_column(ExperimentKind, "experiment_kind"), index=True
    )
    title: Mapped[str | None] = mapped_column(sa.String(200))
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    horizon_days: Mapped[int]
    treatment_share: Mapped[float] = mapped_column(sa.Float)
    # Once every assignment's horizon has passed: the figures per group, kept
    # when people are forgotten later (karn.experiments.final).
    final_figures: Mapped[dict | None] = mapped_column(sa.JSON)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by: Mapped[User | None] = relationship()
    assignments: Mapped[list["Assignment"]] = relationship(
        back_populates="experiment", passive_deletes=True
    )

    __table_args__ = (
        sa.CheckConstraint(
            "horizon_days >= 1 AND horizon_days <= 3650", name="horizon_days_range"
        ),
        sa.CheckConstraint(
            "treatment_share > 0 AND treatment_share < 1", name="share_range"
        ),
    )


class Assignment(db.Model):
    """One customer in one experiment: the group, and the draw that chose it.

    ``draw`` is uniform on [0, 1) from the operating system's random source;
    the customer is treated exactly when it is below the experiment's share,
    so anyone can check every assignment afterwards.
    """

    __tablename__ = "experiment_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("experiments.id", ondelete="CASCADE")
    )
    customer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE")
    )
    group: Mapped[ExperimentGroup] = mapped_column(
        enum_column(ExperimentGroup, "experiment_group")
    )
    draw: Mapped[float] = mapped_column(sa.Float)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # assigned_at plus the horizon: until then the assignment is open.
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Monthly revenue at assignment, in the customer's currency then.
    revenue: Mapped[Decimal | None] = mapped_column(Cents)
    currency: Mapped[str | None] = mapped_column(sa.String(3))

    experiment: Mapped[Experiment] = relationship(back_populates="assignments")
    customer: Mapped[Customer] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("experiment_id", "customer_id"),
        # "Is this customer in an open experiment?" and "who is held back now?"
        sa.Index("ix_experiment_assignments_open", "customer_id", "ends_at"),
        sa.Index("ix_experiment_assignments_held_back", "group", "ends_at"),
        sa.CheckConstraint("draw >= 0 AND draw < 1", name="draw_range"),
        sa.CheckConstraint("revenue >= 0", name="revenue_not_negative"),
    )
