"""The churn-risk model versions and the scores of the current customers."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, attributes, mapped_column

from karn import clock
from karn.customers.models import Customer
from karn.dbtypes import UTCDateTime
from karn.extensions import db

# Why a column was left out when it tells who has already left rather than
# who may leave (see karn.risk.features); the page names those columns.
TELLS = "tells who left"


class RiskModel(db.Model):
    """A trained churn-risk model, versioned; at most one is active.

    ``blob`` is the fitted model as joblib wrote it (see karn.risk.store): kept
    in the database like the reason models, so every web server and worker
    reads the same versions and a backup holds them. Only Karn writes it, and
    it is only ever read from this table, never from a file or an upload.
    """

    __tablename__ = "risk_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[str | None] = mapped_column(sa.String(254))
    active: Mapped[bool] = mapped_column(default=False)
    # When it was last made the active one: a rollback goes to the previous.
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The evaluation: auc, top_decile_lift, calibration_error, validation, n,
    # the features and the columns left out with why (TELLS among them), …
    metrics: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # SHA-256 of the blob, checked before it is loaded.
    digest: Mapped[str] = mapped_column(sa.String(64))
    blob: Mapped[bytes] = mapped_column(sa.LargeBinary)


class RiskScore(db.Model):
    """The latest score of one active customer."""

    __tablename__ = "risk_scores"

    customer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    model_version: Mapped[int]
    probability: Mapped[float] = mapped_column(sa.Float)
    # Probability × monthly revenue, in the reporting currency: 0 when the
    # customer's amounts are in another one (not summed, shown apart).
    revenue_at_risk: Mapped[float] = mapped_column(sa.Float, default=0.0)
    # The attributes that raise the risk most, as data (rendered per language):
    # [{"feature", "value", "typical", "drop"}]; None when not explained.
    reasons: Mapped[list | None] = mapped_column(sa.JSON)
    # A Reason code, or None: no likely reason (or not explained).
    likely_reason: Mapped[str | None] = mapped_column(sa.String(32))
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    __table_args__ = (
        # The at-risk page ranks by revenue at risk; with the probability
        # and the likely reason in the index, a page filtered by risk band or
        # reason is found in the index alone.
        sa.Index(
            "ix_risk_scores_rank",
            "revenue_at_risk",
            "customer_id",
            "probability",
            "likely_reason",
        ),
    )


@event.listens_for(Session, "before_flush")
def _objection_deletes_the_score(session, _context, _instances) -> None:
    """A customer who objects to profiling loses their score at once, on
    whichever path the objection came in (customer form, API, command)."""
    objected = [
        obj.id
        for obj in session.dirty
        if isinstance(obj, Customer)
        and obj.id is not None
        and obj.profiling_objected_at is not None
        and attributes.get_history(obj, "profiling_objected_at").added
    ]
    if objected:
        session.execute(sa.delete(RiskScore).where(RiskScore.customer_id.in_(objected)))
