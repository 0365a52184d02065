"""Digest periods: calendar months and ISO weeks in the company's time zone."""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MONTHLY = "monthly"
WEEKLY = "weekly"
OFF = "off"
FREQUENCIES = (MONTHLY, WEEKLY, OFF)
# Any other stretch of days, as build() may be asked for.
DAYS = "days"

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_DAYS = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


def parse_frequency(value: str) -> str:
    """'monthly', 'weekly' or 'off' (any case); anything else is a ValueError."""
    frequency = str(value).strip().lower()
    if frequency not in FREQUENCIES:
        raise ValueError(f"must be one of {', '.join(FREQUENCIES)}")
    return frequency


def _month_end(start: date) -> date:
    following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return following - timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """The first and last day (inclusive) of a month, an ISO week or other days."""

    kind: str
    start: date
    end: date

    @classmethod
    def containing(cls, day: date, kind: str) -> "Period":
        """The month or ISO week that the day falls in."""
        if kind == MONTHLY:
            start = day.replace(day=1)
            return cls(MONTHLY, start, _month_end(start))
        if kind == WEEKLY:
            start = day - timedelta(days=day.weekday())
            return cls(WEEKLY, start, start + timedelta(days=6))
        raise ValueError(f"no period of kind {kind!r}")

    @classmethod
    def latest_complete(cls, today: date, kind: str) -> "Period":
        """The last month or week that ended before today."""
        return cls.containing(today, kind).previous()

    @classmethod
    def from_days(cls, start: date, end: date) -> "Period":
        """A month or week when the days are exactly one, else plain days."""
        if end < start:
            raise ValueError("the period ends before it starts")
        for kind in (MONTHLY, WEEKLY):
            candidate = cls.containing(start, kind)
            if (candidate.start, candidate.end) == (start, end):
                return candidate
        return cls(DAYS, start, end)

    @classmethod
    def parse(cls, text: str) -> "Period":
        """'2026-10', '2026-W43' or '2026-10-01..2026-10-15'; else ValueError."""
        text = (text or "").strip()
        if match := _MONTH.match(text):
            year, month = int(match[1]), int(match[2])
            if not 1 <= month <= 12:
                raise ValueError(f"no month {month}")
            return cls.containing(date(year, month, 1), MONTHLY)
        if match := _WEEK.match(text.upper()):
            # fromisocalendar rejects week 53 in years that have 52.
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
            return cls.containing(monday, WEEKLY)
        if match := _DAYS.match(text):
            return cls.from_days(
                date.fromisoformat(match[1]), date.fromisoformat(match[2])
            )
        raise ValueError(f"not a period: {text!r} (use 2026-10 or 2026-W43)")

    @property
    def key(self) -> str:
        """The period as ?period= takes it: '2026-10', '2026-W43'."""
        if self.kind == MONTHLY:
            return f"{self.start:%Y-%m}"
        if self.kind == WEEKLY:
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period":
        """The period before: the month or week before, or as many days before."""
        if self.kind in (MONTHLY, WEEKLY):
            return Period.containing(self.start - timedelta(days=1), self.kind)
        end = self.start - timedelta(days=1)
        return Period(DAYS, end - timedelta(days=self.days - 1), end)

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """[start, end) in UTC: local midnight of the first day and after the last."""
        zone = ZoneInfo(timezone)
        start = datetime.combine(self.start, time.min, tzinfo=zone)
        end = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def recent(self, count: int) -> list["Period"]:
        """This period and the count - 1 before it, newest first."""
        periods = [self]
        while len(periods) < count:
            periods.append(periods[-1].previous())
        return periods
