"""What the dashboard is narrowed to (`Filters`), and the shapes its counts take.

Below the queries that use them: `queries` counts survey answers, `phone` the
reasons heard on calls, both with these.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from karn.analysis.totals import REVENUE_BANDS, TENURE_BANDS
from karn.customers.models import Customer
from karn.enums import Reason
from karn.extensions import db

REASONS = [r.value for r in Reason]


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
    # "survey": what respondents chose; "phone": what staff heard on calls.
    channel: str = "survey"

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
            "channel": "phone" if args.get("channel") == "phone" else "survey",
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
        if self.channel != "survey":
            args["channel"] = self.channel
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


@dataclass
class ReasonCounts:
    """Primary choices, exposures, revenue and secondary mentions per reason."""

    n: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    shown: dict[str, int] = field(default_factory=dict)
    monthly_revenue: dict[str, float] = field(default_factory=dict)
    lifetime_value: dict[str, float] = field(default_factory=dict)
    secondary: dict[str, int] = field(default_factory=dict)


def _month(column):
    """The calendar month of a timestamp as 'YYYY-MM' (UTC), on either database."""
    if db.engine.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM")
    return sa.func.substr(column, 1, 7)


def _month_of_day(column):
    """The month of a date column as 'YYYY-MM', on either database."""
    if db.engine.dialect.name == "postgresql":
        return sa.func.to_char(column, "YYYY-MM")
    return sa.func.substr(column, 1, 7)
