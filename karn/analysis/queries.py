"""The dashboard's numbers, aggregated in SQL: reasons, trends, funnel, text.

Each function takes `Filters` and returns plain counts for karn.analysis.stats.
A reason's share is counted over the respondents who were shown it; a version
shows every visible option of its main-reason question to every respondent
(in a per-respondent order), so "shown" follows from counting responses per
survey version, in the same GROUP BY as the reasons themselves.
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app

from karn.customers.models import Customer
from karn.enums import InvitationStatus, Reason
from karn.extensions import db
from karn.surveys import definition
from karn.surveys.models import (
    Answer,
    Invitation,
    Response,
    ResponseReason,
    SurveyVersion,
)

REASONS = [r.value for r in Reason]

# Bands for the tenure (months) and monthly revenue filters: code -> [low, high).
TENURE_BANDS = {
    "0-6": (0, 6),
    "6-12": (6, 12),
    "12-24": (12, 24),
    "24-60": (24, 60),
    "60+": (60, None),
}
REVENUE_BANDS = {
    "0-25": (0, 25),
    "25-50": (25, 50),
    "50-100": (50, 100),
    "100-250": (100, 250),
    "250+": (250, None),
}


@dataclass(frozen=True)
class Filters:
    """What a manager narrowed the analysis to; every field optional."""

    since: date | None = None
    until: date | None = None
    # "response": by when the answer came in; "departure": by when they left.
    period_by: str = "response"
    version: int | None = None
    language: str | None = None
    source: str | None = None
    plan: str | None = None
    segment: str | None = None
    region: str | None = None
    tenure: str | None = None
    revenue: str | None = None
    # Imported attributes: (("Plaats", "Utrecht"), ...)
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    _SIMPLE = (
        "version",
        "language",
        "source",
        "plan",
        "segment",
        "region",
        "tenure",
        "revenue",
    )

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> "Filters":
        """Read filters from query parameters; unknown or bad values are ignored."""

        def day(name: str) -> date | None:
            try:
                return (
                    date.fromisoformat(args.get(name, "")) if args.get(name) else None
                )
            except ValueError:
                return None

        values: dict[str, Any] = {
            "since": day("since"),
            "until": day("until"),
            "period_by": "departure" if args.get("by") == "departure" else "response",
        }
        for name in cls._SIMPLE:
            raw = (args.get(name) or "").strip()
            if raw:
                values[name] = raw
        if "version" in values:
            try:
                values["version"] = int(values["version"])
            except ValueError:
                del values["version"]
        if values.get("tenure") not in TENURE_BANDS:
            values.pop("tenure", None)
        if values.get("revenue") not in REVENUE_BANDS:
            values.pop("revenue", None)
        if values.get("language") not in ("nl", "en"):
            values.pop("language", None)
        extra = sorted(
            (key[len("segment.") :], value)
            for key, value in args.items()
            if key.startswith("segment.") and len(key) > len("segment.") and value
        )
        return cls(**values, extra=tuple(extra))

    def to_args(self) -> dict[str, str]:
        """The filters as query parameters (for links and chart URLs)."""
        args: dict[str, str] = {}
        if self.since:
            args["since"] = self.since.isoformat()
        if self.until:
            args["until"] = self.until.isoformat()
        if self.period_by != "response":
            args["by"] = self.period_by
        for name in self._SIMPLE:
            value = getattr(self, name)
            if value not in (None, ""):
                args[name] = str(value)
        for key, value in self.extra:
            args[f"segment.{key}"] = value
        return args

    def key(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self))

    @property
    def needs_customer(self) -> bool:
        return bool(
            self.period_by == "departure"
            or self.source
            or self.plan
            or self.segment
            or self.region
            or self.tenure
            or self.revenue
            or self.extra
        )

    def customer_conditions(self) -> list:
        conds = []
        if self.source:
            conds.append(Customer.source == self.source)
        for name in ("plan", "segment", "region"):
            if getattr(self, name):
                conds.append(getattr(Customer, name) == getattr(self, name))
        if self.tenure:
            low, high = TENURE_BANDS[self.tenure]
            conds.append(Customer.tenure_months >= low)
            if high is not None:
                conds.append(Customer.tenure_months < high)
        if self.revenue:
            low, high = REVENUE_BANDS[self.revenue]
            conds.append(Customer.monthly_revenue >= Decimal(low))
            if high is not None:
                conds.append(Customer.monthly_revenue < Decimal(high))
        for key, value in self.extra:
            conds.append(Customer.extra[key].as_string() == value)
        return conds

    def period_conditions(self, column) -> list:
        conds = []
        if self.since:
            conds.append(column >= datetime.combine(self.since, time.min, tzinfo=UTC))
        if self.until:
            end = datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=UTC)
            conds.append(column < end)
        return conds


def _responses(f: Filters, *columns, base=None):
    """SELECT over submitted responses (joined to customers when filters need it)."""
    query = sa.select(*columns).select_from(base if base is not None else Response)
    if f.needs_customer:
        query = query.join(Customer, Customer.id == Response.customer_id)
        query = query.where(*f.customer_conditions())
    query = query.where(Response.submitted_at.is_not(None))
    when = Customer.departed_at if f.period_by == "departure" else Response.submitted_at
    query = query.where(*f.period_conditions(when))
    if f.version:
        query = query.where(Response.survey_version_id == f.version)
    if f.language:
        query = query.where(Response.language == f.language)
    return query


def shown_reasons(version_id: int) -> frozenset[str]:
    """The reason codes a version's main question shows; versions never change."""
    cache = current_app.extensions.setdefault("karn_shown_reasons", {})
    if version_id not in cache:
        questions = db.session.get(SurveyVersion, version_id).questions
        main = next(
            (
                q
                for q in questions
                if q.get("reason_question")
                and q["type"] == "single_choice"
                and not q.get("hidden")
            ),
            None,
        )
        options = frozenset(o["value"] for o in (main or {}).get("options", []))
        cache[version_id] = options
    return cache[version_id]


@dataclass
class ReasonCounts:
    """Primary choices, exposures, revenue and secondary mentions per reason."""

    n: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    shown: dict[str, int] = field(default_factory=dict)
    monthly_revenue: dict[str, float] = field(default_factory=dict)
    lifetime_value: dict[str, float] = field(default_factory=dict)
    secondary: dict[str, int] = field(default_factory=dict)


def reason_counts(f: Filters, secondary: bool = True) -> ReasonCounts:
    """Counts for the ranking: one GROUP BY over responses, one over mentions."""
    result = ReasonCounts()
    revenue = sa.func.sum(Customer.monthly_revenue)
    ltv = sa.func.sum(Customer.lifetime_value)
    query = _responses(
        f,
        Response.survey_version_id,
        Response.primary_reason,
        sa.func.count(),
        revenue,
        ltv,
    )
    if not f.needs_customer:
        query = query.outerjoin(Customer, Customer.id == Response.customer_id)
    query = query.where(Response.primary_reason.is_not(None)).group_by(
        Response.survey_version_id, Response.primary_reason
    )
    per_version: dict[int, int] = defaultdict(int)
    for version_id, reason, count, money, value in db.session.execute(query):
        code = reason.value
        result.counts[code] = result.counts.get(code, 0) + count
        per_version[version_id] += count
        if money is not None:
            result.monthly_revenue[code] = result.monthly_revenue.get(code, 0) + float(
                money
            )
        if value is not None:
            result.lifetime_value[code] = result.lifetime_value.get(code, 0) + float(
                value
            )
    result.n = sum(per_version.values())
    for version_id, count in per_version.items():
        for code in shown_reasons(version_id):
            result.shown[code] = result.shown.get(code, 0) + count
    if secondary:
        mentions = sa.join(
            ResponseReason, Response, Response.id == ResponseReason.response_id
        )
        query = _responses(f, ResponseReason.reason, sa.func.count(), base=mentions)
        query = query.where(ResponseReason.is_secondary.is_(True)).group_by(
            ResponseReason.reason
        )
        result.secondary = {r.value: c for r, c in db.session.execute(query)}
    return result


def _month(column):
    """The calendar month of a timestamp as 'YYYY-MM' (UTC), on either database."""
    if db.engine.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM")
    return sa.func.substr(column, 1, 7)


def monthly_counts(f: Filters) -> list[tuple[str, dict[str, int], dict[str, int]]]:
    """(month, counts, shown) in month order, for trends and p-charts."""
    when = Customer.departed_at if f.period_by == "departure" else Response.submitted_at
    month = _month(when).label("month")
    query = _responses(
        f, month, Response.survey_version_id, Response.primary_reason, sa.func.count()
    )
    if f.period_by == "departure" and not f.needs_customer:
        query = query.join(Customer, Customer.id == Response.customer_id)
    query = query.where(Response.primary_reason.is_not(None)).group_by(
        month, Response.survey_version_id, Response.primary_reason
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    shown: dict[str, dict[str, int]] = defaultdict(dict)
    for m, version_id, reason, count in db.session.execute(query):
        counts[m][reason.value] = counts[m].get(reason.value, 0) + count
        for code in shown_reasons(version_id):
            shown[m][code] = shown[m].get(code, 0) + count
    return [(m, counts[m], shown[m]) for m in sorted(counts)]


def funnel(f: Filters) -> dict[str, Any]:
    """Departed -> invited -> delivered -> responded, with bounces and unsubscribes."""
    g = replace(f, period_by="departure")
    customers = sa.select(sa.func.count(Customer.id)).where(
        Customer.erased_at.is_(None),
        *g.customer_conditions(),
        *g.period_conditions(Customer.departed_at),
    )
    departed = db.session.scalar(customers)
    status = Invitation.status
    query = (
        sa.select(
            sa.func.count(Invitation.id).filter(Invitation.sent_at.is_not(None)),
            sa.func.count(Invitation.id).filter(
                Invitation.sent_at.is_not(None),
                status.not_in((InvitationStatus.BOUNCED, InvitationStatus.FAILED)),
            ),
            sa.func.count(Invitation.id).filter(status == InvitationStatus.RESPONDED),
            sa.func.count(Invitation.id).filter(status == InvitationStatus.BOUNCED),
            sa.func.count(Invitation.id).filter(
                status == InvitationStatus.UNSUBSCRIBED
            ),
        )
        .join(Customer, Customer.id == Invitation.customer_id)
        .where(*g.customer_conditions(), *g.period_conditions(Customer.departed_at))
    )
    invited, delivered, responded, bounced, unsubscribed = db.session.execute(
        query
    ).one()
    after = (
        sa.select(Invitation.reminders_sent, sa.func.count())
        .join(Customer, Customer.id == Invitation.customer_id)
        .where(
            status == InvitationStatus.RESPONDED,
            *g.customer_conditions(),
            *g.period_conditions(Customer.departed_at),
        )
        .group_by(Invitation.reminders_sent)
    )
    by_reminder = dict(db.session.execute(after).all())
    return {
        "departed": departed,
        "invited": invited,
        "delivered": delivered,
        "responded": responded,
        "bounced": bounced,
        "unsubscribed": unsubscribed,
        "after_reminder": {k: by_reminder.get(k, 0) for k in range(0, 3)},
    }


def sentiment_by_reason(f: Filters) -> dict[str, dict[str, int]]:
    """Counts of negative/neutral/positive free-text answers per main reason."""
    query = _responses(
        f, Response.primary_reason, Answer.sentiment, sa.func.count()
    ).join(Answer, Answer.response_id == Response.id)
    query = query.where(
        Answer.sentiment.is_not(None), Response.primary_reason.is_not(None)
    ).group_by(Response.primary_reason, Answer.sentiment)
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for reason, sentiment, count in db.session.execute(query):
        result[reason.value][sentiment.value] = count
    return {code: result[code] for code in REASONS if code in result}


def quotes(f: Filters, reason: str, per_side: int = 3) -> dict[str, list[dict]]:
    """The most negative and most positive comments for a reason, newest first."""
    base = _responses(
        f,
        Answer.text,
        Answer.sentiment_score,
        Response.id,
        Response.submitted_at,
        Response.language,
        Response.customer_id,
    ).join(Answer, Answer.response_id == Response.id)
    base = base.where(
        Response.primary_reason == reason,
        Answer.text.is_not(None),
        Answer.sentiment_score.is_not(None),
    )
    out = {}
    for side, order, cond in (
        ("negative", Answer.sentiment_score.asc(), Answer.sentiment_score < 0),
        ("positive", Answer.sentiment_score.desc(), Answer.sentiment_score > 0),
    ):
        rows = db.session.execute(
            base.where(cond)
            .order_by(order, Response.submitted_at.desc())
            .limit(per_side)
        ).all()
        out[side] = [
            {
                "text": text,
                "score": score,
                "response_id": rid,
                "submitted_at": when,
                "language": lang.value,
                "customer_id": cid,
            }
            for text, score, rid, when, lang, cid in rows
        ]
    return out


def data_version() -> tuple:
    """Changes whenever an answer is submitted: the key that expires cached charts."""
    # Two scalar subqueries: each is one index lookup, where a single SELECT of
    # both maxima makes SQLite scan the table.
    return tuple(
        db.session.execute(
            sa.select(
                sa.select(sa.func.max(Response.submitted_at)).scalar_subquery(),
                sa.select(sa.func.max(Response.id)).scalar_subquery(),
            )
        ).one()
    )


def segment_values(attribute: str, limit: int = 200) -> list[str]:
    """The values of a customer attribute, for the segment comparison pickers."""
    if attribute in ("segment", "plan", "region", "source"):
        column = getattr(Customer, attribute)
    else:
        column = Customer.extra[attribute].as_string()
    query = (
        sa.select(column)
        .where(column.is_not(None))
        .distinct()
        .order_by(column)
        .limit(limit)
    )
    return [
        str(v.value if hasattr(v, "value") else v) for v in db.session.scalars(query)
    ]


def reason_labels_for(lang: str) -> dict[str, str]:
    """The reason names of PRODUCT.md in one language."""
    return {code: definition.REASON_LABELS[code][lang] for code in REASONS}
