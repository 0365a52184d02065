"""Whether an improvement action worked: its reason's share before and after."""

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from karn import clock
from karn.analysis import queries, stats
from karn.analysis.models import ImprovementAction
from karn.analysis.queries import Filters

DEFAULT_WINDOW_DAYS = 90


@dataclass(frozen=True)
class Effect:
    """The targeted reason in the windows before and after an action started."""

    reason: str
    before_since: date
    before_until: date
    after_since: date
    after_until: date
    # (responses choosing the reason, responses shown it) per window
    before: tuple[int, int]
    after: tuple[int, int]
    assessment: dict[str, Any]

    @property
    def started(self) -> bool:
        return self.after_until >= self.after_since

    def verdict(self, lang: str, label: str) -> str:
        return stats.verdict(self.before, self.after, lang, label)


def windows(
    action: ImprovementAction, window_days: int, today: date
) -> tuple[date, date, date, date]:
    """The before window ends the day before the start; the after window starts
    on it and ends after ``window_days``, at the action's end, or today."""
    start = action.started_on
    before = (start - timedelta(days=window_days), start - timedelta(days=1))
    after_until = start + timedelta(days=window_days - 1)
    if action.ended_on is not None:
        after_until = min(after_until, action.ended_on)
    after_until = min(after_until, today)
    return before[0], before[1], start, after_until


def _share_counts(reason: str, since: date, until: date, base: Filters) -> tuple:
    if until < since:
        return 0, 0
    f = replace(base, since=since, until=until)
    counts = queries.reason_counts(f, secondary=False)
    return counts.counts.get(reason, 0), counts.shown.get(reason, 0)


def effect(
    action: ImprovementAction,
    window_days: int = DEFAULT_WINDOW_DAYS,
    today: date | None = None,
    base: Filters | None = None,
) -> Effect:
    """Counts by response date in both windows, and the two-proportion verdict."""
    if window_days < 1:
        raise ValueError("the window must be at least one day")
    today = today or clock.now().date()
    base = base or Filters()
    b_since, b_until, a_since, a_until = windows(action, window_days, today)
    reason = action.reason.value
    before = _share_counts(reason, b_since, b_until, base)
    after = _share_counts(reason, a_since, a_until, base)
    return Effect(
        reason=reason,
        before_since=b_since,
        before_until=b_until,
        after_since=a_since,
        after_until=a_until,
        before=before,
        after=after,
        assessment=stats.assess_change(before, after),
    )
