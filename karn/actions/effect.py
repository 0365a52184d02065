"""Whether an improvement action worked: its reason's share before and after."""

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context

from karn import clock
from karn.actions.models import ImprovementAction
from karn.analysis import queries, stats
from karn.analysis.filters import Filters
from karn.enums import Reason
from karn.extensions import db

DEFAULT_WINDOW_DAYS = 90
# Longer windows than this say nothing about one action (and ten years back
# is as far as a page may ask).
MAX_WINDOW_DAYS = 3650


def configured_window_days() -> int:
    """The window of ACTION_WINDOW_DAYS, or the default outside an app."""
    if not has_app_context():
        return DEFAULT_WINDOW_DAYS
    value = current_app.config.get("ACTION_WINDOW_DAYS", DEFAULT_WINDOW_DAYS)
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= MAX_WINDOW_DAYS:
        raise RuntimeError(
            f"ACTION_WINDOW_DAYS must be a whole number of days from 1 to "
            f"{MAX_WINDOW_DAYS}: {value!r}"
        )
    return days


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
    window_days: int = DEFAULT_WINDOW_DAYS

    @property
    def started(self) -> bool:
        return self.after_until >= self.after_since

    @property
    def before_share(self) -> float | None:
        count, shown = self.before
        return count / shown if shown else None

    @property
    def after_share(self) -> float | None:
        count, shown = self.after
        return count / shown if shown else None

    @property
    def needed(self) -> int | None:
        """Responses per window a verdict needs at the observed effect size."""
        return self.assessment.get("needed")

    @property
    def more_needed(self) -> int | None:
        """How many more responses per window a verdict still needs, when the
        windows are too small for the difference seen (None otherwise: there
        is a verdict, or no difference to size the windows for)."""
        if self.assessment["kind"] != "too_small" or not self.needed:
            return None
        return max(0, self.needed - min(self.before[1], self.after[1]))

    def verdict(self, lang: str, label: str) -> str:
        return stats.verdict(self.before, self.after, lang, label)


def windows(
    action: ImprovementAction, window_days: int, today: date
) -> tuple[date, date, date, date]:
    """The before window ends the day before the start; the after window starts
    on it and ends after ``window_days``, at the action's end, or today.

    Neither window reaches past today: for an action that has yet to start,
    the before window ends today and the after window is empty.
    """
    start = action.started_on
    before_since = start - timedelta(days=window_days)
    before_until = min(start - timedelta(days=1), today)
    after_until = start + timedelta(days=window_days - 1)
    if action.ended_on is not None:
        after_until = min(after_until, action.ended_on)
    after_until = min(after_until, today)
    return before_since, before_until, start, after_until


def _share_counts(reason: str, since: date, until: date, base: Filters) -> tuple:
    if until < since:
        return 0, 0
    f = replace(base, since=since, until=until)
    counts = queries.reason_counts(f, secondary=False)
    return counts.counts.get(reason, 0), counts.shown.get(reason, 0)


def effect(
    action: ImprovementAction,
    window_days: int | None = None,
    today: date | None = None,
    base: Filters | None = None,
) -> Effect:
    """Counts by response date in both windows, and the two-proportion verdict.

    ``window_days`` defaults to the configured ACTION_WINDOW_DAYS. ``base``
    narrows the respondents (a segment, a language ...); its period is
    replaced by the windows, always counted by response date.
    """
    if window_days is None:
        window_days = configured_window_days()
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise ValueError(f"the window must be 1 to {MAX_WINDOW_DAYS} days")
    today = today or clock.now().date()
    base = replace(base or Filters(), period_by="response")
    b_since, b_until, a_since, a_until = windows(action, window_days, today)
    reason = Reason(action.reason).value
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
        window_days=window_days,
    )


def all_actions() -> list[ImprovementAction]:
    """Every improvement action, oldest first: what the trend charts mark."""
    return db.session.scalars(
        sa.select(ImprovementAction).order_by(
            ImprovementAction.started_on, ImprovementAction.id
        )
    ).all()
