"""Analysis tables: daily reason and funnel totals and the responses' facts."""

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from karn.dbtypes import Attributes, Cents, UTCDateTime
from karn.extensions import db


class ReasonTotal(db.Model):
    """How many submitted responses gave a reason, per day: the dashboard's totals.

    One row per response day (UTC) x survey version x language x reason x main
    or "also played a part", for all respondents (attribute and value '') and
    again for each value of the customer attributes in `karn.analysis.totals`
    (segment, plan, region, source, tenure band, revenue band), and once more
    by departure day instead of response day (attribute "departed"). Revenue
    is summed for main reasons only.
    Kept in step by the submission, by changes to those customer attributes,
    and rebuilt from the responses by `flask analysis rebuild-totals`.
    """

    __tablename__ = "reason_totals"

    attribute: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    survey_version_id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(sa.String(2), primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    is_secondary: Mapped[bool] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(sa.BigInteger)
    monthly_revenue: Mapped[Decimal] = mapped_column(Cents)
    lifetime_value: Mapped[Decimal] = mapped_column(Cents)


class CustomerValues:
    """A customer's values of the attributes in `karn.analysis.totals.ATTRIBUTES`,
    as those filters compare them (tenure and revenue as their band)."""

    segment: Mapped[str | None] = mapped_column(sa.String(100))
    plan: Mapped[str | None] = mapped_column(sa.String(100))
    region: Mapped[str | None] = mapped_column(sa.String(100))
    source: Mapped[str | None] = mapped_column(sa.String(16))
    tenure: Mapped[str | None] = mapped_column(sa.String(8))
    revenue: Mapped[str | None] = mapped_column(sa.String(8))


class ResponseFact(CustomerValues, db.Model):
    """A submitted response with what the dashboard counts and filters it by.

    The customer's segment, plan, region, source, tenure band, revenue band,
    revenue, departure and imported attributes sit beside the response's
    moment, version, language, main reason and "also played a part" reasons
    (bit i of `also` for the i-th reason code), so a filter the daily totals
    cannot answer (two attributes at once, an imported attribute) reads one
    table instead of joining responses, customers and reason rows. Kept in
    step with the responses and customers by `karn.analysis.totals`, like the
    daily totals.
    """

    __tablename__ = "response_facts"

    response_id: Mapped[int] = mapped_column(
        sa.ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    departed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    survey_version_id: Mapped[int]
    language: Mapped[str] = mapped_column(sa.String(2))
    reason: Mapped[str | None] = mapped_column(sa.String(16))
    also: Mapped[int]
    monthly_revenue: Mapped[Decimal | None] = mapped_column(Cents)
    lifetime_value: Mapped[Decimal | None] = mapped_column(Cents)
    # The customer's imported attributes, as Customer.extra.
    extra: Mapped[dict | None] = mapped_column(Attributes)


class FunnelTotal(db.Model):
    """How many departed customers and invitations there are in each stage, per
    departure day: the funnel's totals.

    One row per departure day (UTC) x stage x reminders sent x sent or not,
    for all customers (attribute and value '') and again for each value of the
    customer attributes in `karn.analysis.totals` (segment, plan, region,
    source, tenure band, revenue band). The stage is an invitation's status,
    or "departed" for a customer who is not erased. Kept by the database's own
    triggers on customers and invitations, which write `funnel_changes`; the
    worker folds those in here (`karn.analysis.funnel`).
    """

    __tablename__ = "funnel_totals"

    attribute: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(sa.String(12), primary_key=True)
    reminders_sent: Mapped[int] = mapped_column(primary_key=True)
    sent: Mapped[bool] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(sa.BigInteger)


class FunnelChange(CustomerValues, db.Model):
    """One customer or invitation entering (n = 1) or leaving (n = -1) a place in
    the funnel, written by the triggers, with the customer's attribute values.

    Written, never updated, so concurrent transactions never wait for each
    other here; folded into `funnel_totals` and `funnel_cells` and deleted by
    the worker.
    """

    __tablename__ = "funnel_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date]
    stage: Mapped[str] = mapped_column(sa.String(12))
    reminders_sent: Mapped[int]
    sent: Mapped[bool]
    n: Mapped[int]
    # The customer's imported attributes (None in rows written before they were).
    extra: Mapped[dict | None] = mapped_column(Attributes)


FUNNEL_COUNTS = (
    "departed",
    "invited",
    "delivered",
    "responded",
    "after_0",
    "after_1",
    "after_2",
    "bounced",
    "unsubscribed",
)
EMPTY_CELL = " AND ".join(f"{name} = 0" for name in FUNNEL_COUNTS)


class FunnelCell(db.Model):
    """The funnel's counts per departure day and combination of customer values.

    One row per departure day (UTC) x segment x plan x region x source x
    tenure band x revenue band x imported attributes ('' or {} for none),
    with what `queries.funnel` shows: customers departed (not erased),
    invitations sent, delivered, responded (in all and after 0, 1 or 2
    reminders), bounced and unsubscribed. A filter the funnel's totals cannot
    answer (two attributes, an imported one) sums these rows, one per
    customer at most, instead of joining customers and invitations. Folded
    from `funnel_changes` with the totals (`karn.analysis.funnel`); a row
    left with nothing counted is deleted then, so imported attributes that
    only an erased customer had do not outlive the erasure.
    """

    __tablename__ = "funnel_cells"

    day: Mapped[date] = mapped_column(primary_key=True)
    segment: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    plan: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    region: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    tenure: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    revenue: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    extra: Mapped[dict] = mapped_column(Attributes, primary_key=True)
    departed: Mapped[int] = mapped_column(sa.BigInteger)
    invited: Mapped[int] = mapped_column(sa.BigInteger)
    delivered: Mapped[int] = mapped_column(sa.BigInteger)
    responded: Mapped[int] = mapped_column(sa.BigInteger)
    after_0: Mapped[int] = mapped_column(sa.BigInteger)
    after_1: Mapped[int] = mapped_column(sa.BigInteger)
    after_2: Mapped[int] = mapped_column(sa.BigInteger)
    bounced: Mapped[int] = mapped_column(sa.BigInteger)
    unsubscribed: Mapped[int] = mapped_column(sa.BigInteger)

    __table_args__ = (
        # The rows left with nothing counted, for the compaction to delete:
        # nearly always none.
        sa.Index(
            "ix_funnel_cells_empty",
            "day",
            sqlite_where=sa.text(EMPTY_CELL),
            postgresql_where=sa.text(EMPTY_CELL),
        ),
    )
