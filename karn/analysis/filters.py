"""What the dashboard is narrowed to (`Filters`), and the shapes its counts take.

Below the queries that use them: `queries` counts survey answers, `phone` the
reasons heard on calls, both with these.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import BadRequest

from karn.analysis import sources
from karn.analysis.totals import REVENUE_BANDS, TENURE_BANDS
from karn.customers import currency as currencies
from karn.customers.models import Customer
from karn.enums import Language, Reason, Source
from karn.extensions import db

REASONS = [r.value for r in Reason]
CHANNELS = ("survey", "phone", "stated")
SOURCES = [s.value for s in Source]
WEIGHTS = ("count", "revenue")
# A survey version's id is a database integer (at most 2**31 - 1 on PostgreSQL).
_MAX_ID = 2**31 - 1
_NO_NUL = _l("give text without NUL characters")


class FilterError(BadRequest):
    """A dashboard parameter with a value it does not take: a 400 that says so.

    ``choices`` are the values it takes; else ``hint`` says what it takes.
    """

    def __init__(
        self, parameter: str, value: str, choices: Sequence[str] = (), hint=""
    ):
        super().__init__()
        self.parameter, self.value = parameter, value
        self.choices, self.hint = tuple(choices), hint

    @property
    def description(self) -> str:  # in the reader's language
        if self.choices:
            expected = _("choose one of %(choices)s", choices=", ".join(self.choices))
        else:
            expected = str(self.hint)
        return _(
            "The filter %(name)s cannot be “%(value)s”: %(expected)s.",
            name=_shown(self.parameter),
            value=_shown(self.value),
            expected=expected,
        )


def _shown(text: str, most: int = 40) -> str:
    """Text as a message quotes it: shortened, control characters escaped."""
    cut = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:most])
    return cut + ("…" if len(text) > most else "")


def choice(args: Mapping[str, str], name: str, choices: Sequence[str], default: str):
    """A parameter that takes one of a few words; blank or absent: the default."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return default
    if raw not in choices:
        raise FilterError(name, raw, choices)
    return raw


def free_text(args: Mapping[str, str], name: str, default: str = "") -> str:
    """A parameter that takes any text a database can hold (no NUL characters)."""
    raw = (args.get(name) or "").strip()
    if "\x00" in raw:
        raise FilterError(name, raw, hint=_NO_NUL)
    return raw or default


def _channel(args: Mapping[str, str]) -> str:
    """A channel of the analysis, or of a source registered beside it."""
    raw = (args.get("channel") or "").strip()
    if raw and sources.accepts(raw):
        return raw
    return choice(args, "channel", CHANNELS, "survey")


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
    # Where a reason came from: "survey", what respondents chose; "phone", what
    # staff heard on calls; "stated", what the customer gave when cancelling
    # (a CRM's reason column, Stripe's feedback).
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
        """Read filters from query parameters; blank ones are not set.

        A value a filter does not take raises FilterError (a 400).
        """

        def day(name: str) -> date | None:
            raw = (args.get(name) or "").strip()
            try:
                value = date.fromisoformat(raw) if raw else None
            except ValueError:
                value = date.max
            # The last day has no next day to count up to.
            if value == date.max:
                raise FilterError(name, raw, hint=_l("give a date like 2025-03-31"))
            return value

        values: dict[str, Any] = {
            "since": day("since"),
            "until": day("until"),
            "period_by": choice(args, "by", ("response", "departure"), "response"),
            "channel": _channel(args),
        }
        for name in ("plan", "segment", "region"):
            values[name] = free_text(args, name) or None
        for name, choices in (
            ("language", [lang.value for lang in Language]),
            ("source", SOURCES),
            ("tenure", list(TENURE_BANDS)),
            ("revenue", list(REVENUE_BANDS)),
        ):
            values[name] = choice(args, name, choices, "") or None
        version = (args.get("version") or "").strip()
        if version:
            if not (version.isascii() and version.isdigit()) or int(version) > _MAX_ID:
                raise FilterError(
                    "version",
                    version,
                    hint=_l("give a whole number (a survey version's id)"),
                )
            values["version"] = int(version)
        extra = []
        for key in args:
            if key.startswith("segment.") and len(key) > len("segment."):
                value = free_text(args, key)
                if "\x00" in key:
                    raise FilterError(key, value, hint=_NO_NUL)
                if value:
                    extra.append((key[len("segment.") :], value))
        return cls(**values, extra=tuple(sorted(extra)))

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
            # The bands are amounts in the reporting currency: ¥5,000 is not
            # a large customer.
            conds.append(currencies.counted())
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

    def add_reasons(self, rows) -> None:
        """(reason, count, revenue, lifetime value) rows of a channel where
        every reason could be named by everyone (phone, stated)."""
        for reason, count, money, value in rows:
            self.counts[reason.value] = count
            if money is not None:
                self.monthly_revenue[reason.value] = float(money)
            if value is not None:
                self.lifetime_value[reason.value] = float(value)
        if self.n:
            self.shown = dict.fromkeys(REASONS, self.n)


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
