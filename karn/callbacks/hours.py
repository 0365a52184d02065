"""Calling hours: when staff phone, so a task is due when somebody can call.

The hours and days are settings (CALL_HOURS_START, CALL_HOURS_END, CALL_DAYS)
in the company's time zone; an administrator changes them on the call list.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from karn import settings

WEEKDAYS = (1, 2, 3, 4, 5, 6, 7)  # ISO: 1 is Monday


@dataclass(frozen=True)
class CallingHours:
    start: time
    end: time
    days: tuple[int, ...]
    zone: ZoneInfo


DEFAULT = CallingHours(time(9), time(17), (1, 2, 3, 4, 5), ZoneInfo("UTC"))


def parse_time(text: str) -> time:
    """'09:00' -> time(9); ValueError for anything else."""
    hours, _sep, minutes = str(text).strip().partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(text)
    return time(int(hours), int(minutes))


def parse_days(text: str) -> tuple[int, ...]:
    """'1,2,3' -> (1, 2, 3): ISO weekdays, at least one."""
    days = tuple(sorted({int(part) for part in str(text).split(",") if part.strip()}))
    if not days or any(day not in WEEKDAYS for day in days):
        raise ValueError(text)
    return days


def current() -> CallingHours:
    """The calling hours in force; a broken setting falls back to the default."""
    zone = ZoneInfo(settings.get("TIMEZONE"))
    try:
        start = parse_time(settings.get("CALL_HOURS_START"))
        end = parse_time(settings.get("CALL_HOURS_END"))
        days = parse_days(settings.get("CALL_DAYS"))
    except ValueError:
        return CallingHours(DEFAULT.start, DEFAULT.end, DEFAULT.days, zone)
    if end <= start:
        return CallingHours(DEFAULT.start, DEFAULT.end, DEFAULT.days, zone)
    return CallingHours(start, end, days, zone)


def next_slot(moment: datetime, hours: CallingHours | None = None) -> datetime:
    """``moment`` itself when it falls in calling hours, else the start of the
    next calling hours; in UTC."""
    hours = hours or current()
    local = moment.astimezone(hours.zone)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if day.isoweekday() not in hours.days:
            continue
        end = datetime.combine(day, hours.end, hours.zone)
        if local >= end:
            continue
        start = datetime.combine(day, hours.start, hours.zone)
        return max(start, local).astimezone(UTC)
    return moment.astimezone(UTC)  # not reached: at least one day is a calling day


def on_day(day: date, hours: CallingHours | None = None) -> datetime:
    """The start of calling hours on ``day``, or on the next calling day."""
    hours = hours or current()
    return next_slot(datetime.combine(day, time.min, hours.zone), hours)


def today_start(now: datetime, hours: CallingHours | None = None) -> datetime:
    """Midnight at the start of ``now``'s day in the company's time zone, in UTC:
    a task due before it is overdue."""
    zone = (hours or current()).zone
    local_day = now.astimezone(zone).date()
    return datetime.combine(local_day, time.min, zone).astimezone(UTC)


def days_late(due: datetime, now: datetime, hours: CallingHours | None = None) -> int:
    """Whole calendar days between the due day and today, in the company's zone."""
    zone = (hours or current()).zone
    return (now.astimezone(zone).date() - due.astimezone(zone).date()).days
