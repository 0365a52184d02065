"""Whether follow-ups and campaigns bring people back: those mailed against
those held back.

The outcome is a win-back (karn.callbacks.models.WinBack) on a day within the
experiment's horizon (WIN_BACK_HORIZON_DAYS when it was drawn), counted from
each person's own assignment date, in both groups alike; higher is better.
Revenue regained is the monthly revenue of those win-backs, summed in the
reporting currency only. The comparison and its wording are those of the keep
calls (karn.experiments.comparison, karn.experiments.wording).

Everything here works from the experiment rows of kind follow-up or campaign
alone, whatever made them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel.dates import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from karn import clock, settings
from karn.callbacks.models import WinBack
from karn.customers import currency as currencies
from karn.enums import ExperimentGroup, ExperimentKind, Reason
from karn.experiments import comparison, final, operations, wording
from karn.experiments.models import Assignment, Experiment
from karn.extensions import db
from karn.formatting import REASON_LABELS

KINDS = (ExperimentKind.FOLLOW_UP, ExperimentKind.CAMPAIGN)
KIND_LABELS = {
    ExperimentKind.FOLLOW_UP: _l("Follow-up"),
    ExperimentKind.CAMPAIGN: _l("Campaign"),
}


@dataclass(frozen=True)
class GroupFigures:
    customers: int
    won_back: int
    # Monthly revenue of the win-backs counted, in the reporting currency, and
    # how many of them that sum is over (others are in another currency).
    revenue: Decimal
    revenue_won_back: int


def _local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def figures(experiment: Experiment) -> dict[ExperimentGroup, GroupFigures]:
    """People and win-backs within the window per group: as stored when a
    campaign was closed (karn.experiments.final), else counted now."""
    return final.stored(experiment) or _count(experiment)


def _count(experiment: Experiment) -> dict[ExperimentGroup, GroupFigures]:
    """People and win-backs within the window per group.

    A win-back counts when it falls on the assignment day (in the company's
    time zone) or on one of the ``horizon_days - 1`` days after it.
    """
    sizes = dict(
        db.session.execute(
            sa.select(Assignment.group, sa.func.count())
            .where(Assignment.experiment_id == experiment.id)
            .group_by(Assignment.group)
        ).all()
    )
    rows = db.session.execute(
        sa.select(
            Assignment.group,
            Assignment.assigned_at,
            Assignment.currency,
            WinBack.returned_on,
            WinBack.revenue,
        )
        .join(WinBack, WinBack.customer_id == Assignment.customer_id)
        .where(Assignment.experiment_id == experiment.id)
    ).all()
    zone = ZoneInfo(str(settings.get("TIMEZONE")))
    reporting = currencies.reporting()
    window = timedelta(days=experiment.horizon_days)
    won = dict.fromkeys(ExperimentGroup, 0)
    revenue = {g: Decimal(0) for g in ExperimentGroup}
    counted = dict.fromkeys(ExperimentGroup, 0)
    for group, assigned_at, currency, returned_on, amount in rows:
        first = _local_day(assigned_at, zone)
        if not first <= returned_on < first + window:
            continue
        won[group] += 1
        if currency is None or currency == reporting:
            revenue[group] += amount or Decimal(0)
            counted[group] += 1
    return {
        g: GroupFigures(sizes.get(g, 0), won[g], revenue[g], counted[g])
        for g in ExperimentGroup
    }


# A campaign's people are drawn once; a follow-up keeps drawing, never ends.
final.register(ExperimentKind.CAMPAIGN, _count, GroupFigures)


@dataclass(frozen=True)
class Result:
    """One follow-up or campaign measured, with its sentences in one language."""

    experiment: Experiment
    kind_label: str
    treated: GroupFigures
    held_back: GroupFigures
    comparison: comparison.Comparison
    ends_at: datetime
    final: bool
    headline: str
    lines: list[str]

    @property
    def title(self) -> str:
        return (
            self.experiment.title
            or _follow_up_title(self.experiment)
            or (self.kind_label)
        )


def _follow_up_title(experiment: Experiment) -> str | None:
    """The follow-up's reason, in the reader's language, as the title of its
    experiment (shown after the kind: "Follow-up: Price")."""
    from karn.followups.models import FollowUp

    if experiment.kind != ExperimentKind.FOLLOW_UP:
        return None
    reason = db.session.scalar(
        sa.select(FollowUp.reason).where(FollowUp.experiment_id == experiment.id)
    )
    if reason is None:
        return None
    return str(REASON_LABELS[Reason(reason)])


def _ends_at(experiment: Experiment) -> datetime:
    last = db.session.scalar(
        sa.select(sa.func.max(Assignment.ends_at)).where(
            Assignment.experiment_id == experiment.id
        )
    )
    return last or experiment.started_at + timedelta(days=experiment.horizon_days)


def measure(experiment: Experiment, lang: str) -> Result:
    """The comparison of a follow-up or campaign, with sentences in the current
    locale's language ``lang`` (call inside flask_babel.force_locale for another)."""
    groups = figures(experiment)
    t, h = groups[ExperimentGroup.TREATED], groups[ExperimentGroup.HELD_BACK]
    result = comparison.compare(
        (t.won_back, t.customers), (h.won_back, h.customers), lower_is_better=False
    )
    ends_at = _ends_at(experiment)
    final = ends_at <= clock.now()
    lines = []
    if result.kind != "no_data":
        lines.append(
            _(
                "Of the %(treated)s people mailed, %(t_rate)s came back within "
                "%(days)s days; of the %(held)s held back, %(h_rate)s.",
                treated=wording.integer(t.customers, lang),
                t_rate=wording.percent(result.treated_rate, lang),
                days=wording.integer(experiment.horizon_days, lang),
                held=wording.integer(h.customers, lang),
                h_rate=wording.percent(result.held_back_rate, lang),
            )
        )
    if result.p_value is not None:
        lines.append(
            _(
                "Difference (mailed minus held back): %(diff)s percentage points, "
                "95%% interval %(low)s to %(high)s; %(test)s, %(p)s.",
                diff=wording.points(result.difference, lang, signed=True),
                low=wording.points(result.ci_low, lang, signed=True),
                high=wording.points(result.ci_high, lang, signed=True),
                test=wording.test_name(result),
                p=wording.p_text(result.p_value, lang),
            )
        )
    if t.customers and h.customers:
        lines.append(
            _(
                "Monthly revenue regained: %(treated)s from those mailed, "
                "%(held)s from those held back.",
                treated=wording.money(t.revenue, lang),
                held=wording.money(h.revenue, lang),
            )
        )
    lines.append(
        _(
            "Counted by the draw: everyone drawn to be mailed counts as mailed, "
            "whether the mail reached them or not."
        )
    )
    if not final:
        lines.append(
            _(
                "Counted up to today; the window ends on %(date)s, so the figures "
                "may still change.",
                date=format_date(
                    _local_day(ends_at, ZoneInfo(str(settings.get("TIMEZONE")))),
                    "d MMM y",
                    locale=lang,
                ),
            )
        )
    return Result(
        experiment=experiment,
        kind_label=str(KIND_LABELS[experiment.kind]),
        treated=t,
        held_back=h,
        comparison=result,
        ends_at=ends_at,
        final=final,
        headline=headline(result, lang),
        lines=lines,
    )


def headline(result: comparison.Comparison, lang: str) -> str:
    """The verdict in one sentence, in a manager's words."""
    if result.kind == "no_data":
        return _(
            "No comparison yet: one of the groups is empty (nobody mailed or "
            "nobody held back)."
        )
    if result.kind == "better":
        return _(
            "The mail works: %(points)s percentage points more people came back "
            "among those mailed than among those held back.",
            points=wording.points(result.difference, lang),
        )
    if result.kind == "worse":
        return _(
            "Fewer people came back among those mailed than among those held "
            "back: %(points)s percentage points fewer.",
            points=wording.points(result.difference, lang),
        )
    if result.kind == "no_difference":
        return _(
            "No measurable difference between those mailed and those held back, "
            "although the groups are large enough to show one."
        )
    if result.needed is None:
        return _(
            "Too few people yet to tell: nobody has come back in either group so far."
        )
    return _(
        "Too few people yet to tell: about %(n)s per group needed (with this "
        "split, %(treated)s mailed and %(held)s held back) to show a difference "
        "of %(points)s percentage points.",
        n=wording.integer(result.needed, lang),
        treated=wording.integer(result.needed_treated, lang),
        held=wording.integer(result.needed_held_back, lang),
        points=wording.points(result.sized_for, lang),
    )


def experiments(limit: int = 500) -> list[Experiment]:
    """Follow-up and campaign experiments, newest first."""
    return db.session.scalars(
        sa.select(Experiment)
        .where(Experiment.kind.in_(KINDS))
        .order_by(Experiment.started_at.desc(), Experiment.id.desc())
        .limit(limit)
    ).all()


def get(experiment_id: int) -> Experiment | None:
    experiment = db.session.get(Experiment, experiment_id)
    if experiment is None or experiment.kind not in KINDS:
        return None
    return experiment


def running_in(start: datetime, end: datetime) -> list[Experiment]:
    """Follow-ups and campaigns whose horizon overlaps [start, end)."""
    return operations.running_in(KINDS, start, end)


@dataclass(frozen=True)
class Summary:
    """One follow-up or campaign in the digest: what, since when, the verdict."""

    experiment_id: int
    title: str
    kind_label: str
    started_text: str
    headline: str
    groups_text: str


def summaries(
    start: datetime, end: datetime, lang: str, day: Callable[[datetime], str]
) -> list[Summary]:
    """Follow-ups and campaigns running in [start, end), measured up to today;
    ``day`` formats the date they started."""
    found = []
    for experiment in running_in(start, end):
        result = measure(experiment, lang)
        found.append(
            Summary(
                experiment_id=experiment.id,
                title=result.title,
                kind_label=result.kind_label,
                started_text=day(experiment.started_at),
                headline=result.headline,
                groups_text=result.lines[0] if result.lines else "",
            )
        )
    return found


def _rate(value: float | None) -> float | None:
    return round(value, 6) if value is not None else None


def as_json(result: Result) -> dict:
    """One result as the API gives it: figures as numbers, texts in one language."""
    c = result.comparison
    e = result.experiment

    def group(g: GroupFigures, rate: float | None) -> dict:
        return {
            "customers": g.customers,
            "won_back": g.won_back,
            "rate": _rate(rate),
            "revenue_regained": float(g.revenue),
        }

    return {
        "id": e.id,
        "kind": e.kind.value,
        "title": result.title,
        "started_at": e.started_at.isoformat(),
        "horizon_days": e.horizon_days,
        "treatment_share": e.treatment_share,
        "counted_until": result.ends_at.isoformat(),
        "final": result.final,
        "mailed": group(result.treated, c.treated_rate),
        "held_back": group(result.held_back, c.held_back_rate),
        "difference": _rate(c.difference),
        "ci_low": _rate(c.ci_low),
        "ci_high": _rate(c.ci_high),
        "p_value": c.p_value,
        "test": c.method,
        "verdict": c.kind,
        "significant": c.significant,
        "needed_per_group": c.needed,
        "needed_mailed": c.needed_treated,
        "needed_held_back": c.needed_held_back,
        "currency": currencies.reporting(),
        "headline": result.headline,
        "lines": result.lines,
    }
