"""Keep calls: at-risk customers drawn at random to be called or held back,
and whether those called left less often than those held back.

The outcome is a departure within the horizon, counted from each customer's
own draw, so lower is better. Revenue kept is the monthly revenue at the draw
of those who did not leave, summed in the reporting currency only.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from babel.dates import format_date
from flask import current_app
from flask_babel import gettext as _

from karn import clock
from karn.accounts.models import User
from karn.callbacks import operations as calls
from karn.callbacks.models import CallNote, CallTask
from karn.customers import currency as currencies
from karn.customers.models import Customer
from karn.enums import (
    CallOutcome,
    CallTaskSource,
    CallTaskStatus,
    CustomerStatus,
    ExperimentGroup,
    ExperimentKind,
)
from karn.experiments import comparison, final, operations, wording
from karn.experiments.models import Assignment, Experiment
from karn.experiments.wording import integer as _integer
from karn.experiments.wording import money as _money
from karn.experiments.wording import p_text as _p
from karn.experiments.wording import percent as _percent
from karn.experiments.wording import points as _points
from karn.extensions import db

MAX_PLANNED = 500
KIND = ExperimentKind.KEEP_CALL


def share() -> float:
    """KEEP_CALL_SHARE: the chance that a chosen customer is called."""
    value = float(current_app.config.get("KEEP_CALL_SHARE", 0.8))
    if not 0.0 < value < 1.0:
        raise RuntimeError(f"KEEP_CALL_SHARE must lie between 0 and 1: {value!r}")
    return value


def horizon_days() -> int:
    """KEEP_CALL_HORIZON_DAYS: how long departures are counted after the draw."""
    return int(current_app.config.get("KEEP_CALL_HORIZON_DAYS", 90))


@dataclass
class Plan:
    """What planning keep calls did with the customers chosen."""

    experiment: Experiment | None = None
    treated: int = 0
    held_back: int = 0
    # Left out before the draw: in an open keep-call experiment already, no
    # phone number, or no longer an active customer (or erased).
    already: list[Customer] = field(default_factory=list)
    no_phone: int = 0
    not_active: int = 0
    # On the call list already: they are called whatever the draw says, so
    # they could not be held back.
    on_call_list: int = 0


def plan(customer_ids: list[int], by: User) -> Plan:
    """Draw the chosen customers: a share onto the call list, the rest held back.

    Only active customers with a phone number are drawn, so both groups are
    alike; those already in an open keep-call experiment are left out.
    """
    if not 1 <= len(customer_ids) <= MAX_PLANNED:
        raise operations.ExperimentError("count")
    chosen = db.session.scalars(
        sa.select(Customer).where(Customer.id.in_(customer_ids)).order_by(Customer.id)
    ).all()
    result = Plan()
    eligible = []
    listed = set(
        db.session.scalars(
            sa.select(CallTask.customer_id).where(
                CallTask.customer_id.in_([c.id for c in chosen]),
                CallTask.status == CallTaskStatus.OPEN,
                # A keep call's customer is in an open experiment: said so below.
                CallTask.source != CallTaskSource.KEEP_CALL,
            )
        )
    )
    for customer in chosen:
        if customer.erased_at is not None or customer.status != CustomerStatus.ACTIVE:
            result.not_active += 1
        elif not (customer.phone or "").strip():
            result.no_phone += 1
        elif customer.id in listed:
            result.on_call_list += 1
        else:
            eligible.append(customer)
    if not eligible:
        return result
    experiment, already = operations.start(
        KIND, eligible, by, share=share(), horizon_days=horizon_days()
    )
    result.experiment, result.already = experiment, already
    if experiment is None:
        return result
    treated = db.session.scalars(
        sa.select(Customer)
        .join(Assignment, Assignment.customer_id == Customer.id)
        .where(
            Assignment.experiment_id == experiment.id,
            Assignment.group == ExperimentGroup.TREATED,
        )
        .order_by(Customer.id)
    ).all()
    for customer in treated:
        calls.add_task(customer, CallTaskSource.KEEP_CALL, by)
    result.treated = len(treated)
    result.held_back = len(eligible) - len(already) - len(treated)
    return result


@dataclass(frozen=True)
class GroupFigures:
    customers: int
    departed: int
    # Monthly revenue of those who stayed, in the reporting currency, and how
    # many customers that sum is over (others have another currency).
    revenue_kept: Decimal
    revenue_customers: int


def figures(experiment: Experiment) -> dict[ExperimentGroup, GroupFigures]:
    """Customers and departures within the horizon per group: as stored when
    the experiment was closed, else counted now."""
    return final.stored(experiment) or _count(experiment)


def _count(experiment: Experiment) -> dict[ExperimentGroup, GroupFigures]:
    """Customers and departures within the horizon per group, in SQL."""
    departed = sa.and_(
        Customer.departed_at.is_not(None),
        Customer.departed_at >= Assignment.assigned_at,
        Customer.departed_at < Assignment.ends_at,
    )
    counted = currencies.counted(Assignment.currency)
    rows = db.session.execute(
        sa.select(
            Assignment.group,
            sa.func.count(),
            sa.func.count().filter(departed),
            sa.func.sum(Assignment.revenue).filter(~departed, counted),
            sa.func.count().filter(counted),
        )
        .join(Customer, Customer.id == Assignment.customer_id)
        .where(Assignment.experiment_id == experiment.id)
        .group_by(Assignment.group)
    ).all()
    found = {
        group: GroupFigures(n, left, Decimal(kept or 0), counted_n)
        for group, n, left, kept, counted_n in rows
    }
    empty = GroupFigures(0, 0, Decimal(0), 0)
    return {g: found.get(g, empty) for g in ExperimentGroup}


final.register(ExperimentKind.KEEP_CALL, _count, GroupFigures)


def reached(experiment: Experiment) -> tuple[int, int]:
    """Treated customers with a keep call logged, and of them those reached."""
    tasks = (
        sa.select(CallTask.id)
        .join(Assignment, Assignment.customer_id == CallTask.customer_id)
        .where(
            Assignment.experiment_id == experiment.id,
            Assignment.group == ExperimentGroup.TREATED,
            CallTask.source == CallTaskSource.KEEP_CALL,
            CallTask.created_at >= Assignment.assigned_at,
        )
    )
    called, spoken = db.session.execute(
        sa.select(
            sa.func.count(sa.distinct(CallNote.customer_id)),
            sa.func.count(sa.distinct(CallNote.customer_id)).filter(
                CallNote.outcome.in_(
                    [
                        CallOutcome.REACHED,
                        CallOutcome.DECLINED,
                        CallOutcome.WILL_RETURN,
                    ]
                )
            ),
        ).where(CallNote.task_id.in_(tasks))
    ).one()
    return called, spoken


@dataclass(frozen=True)
class Result:
    """One keep-call experiment measured, with its sentences in one language."""

    experiment: Experiment
    treated: GroupFigures
    held_back: GroupFigures
    comparison: comparison.Comparison
    ends_at: datetime
    final: bool
    called: int
    spoken: int
    headline: str
    lines: list[str]


def measure(experiment: Experiment, lang: str) -> Result:
    """The comparison of an experiment, with sentences in the current locale's
    language ``lang`` (call inside flask_babel.force_locale for another)."""
    groups = figures(experiment)
    t, h = groups[ExperimentGroup.TREATED], groups[ExperimentGroup.HELD_BACK]
    result = comparison.compare(
        (t.departed, t.customers), (h.departed, h.customers), lower_is_better=True
    )
    ends_at = db.session.scalar(
        sa.select(sa.func.max(Assignment.ends_at)).where(
            Assignment.experiment_id == experiment.id
        )
    )
    ends_at = ends_at or experiment.started_at
    final = ends_at <= clock.now()
    called, spoken = reached(experiment)
    days = experiment.horizon_days
    lines = []
    if result.kind != "no_data":
        lines.append(
            _(
                "Of the %(treated)s customers put on the call list, %(t_rate)s "
                "left within %(days)s days of the draw; of the %(held)s held "
                "back, %(h_rate)s.",
                treated=_integer(t.customers, lang),
                t_rate=_percent(result.treated_rate, lang),
                days=_integer(days, lang),
                held=_integer(h.customers, lang),
                h_rate=_percent(result.held_back_rate, lang),
            )
        )
    headline = _headline(result, lang)
    if result.p_value is not None:
        test = wording.test_name(result)
        lines.append(
            _(
                "Difference (called minus held back): %(diff)s percentage points, "
                "95%% interval %(low)s to %(high)s; %(test)s, %(p)s.",
                diff=_points(result.difference, lang, signed=True),
                low=_points(result.ci_low, lang, signed=True),
                high=_points(result.ci_high, lang, signed=True),
                test=test,
                p=_p(result.p_value, lang),
            )
        )
    if t.customers and h.customers:
        lines.append(
            _(
                "Monthly revenue kept per customer: %(treated)s among those "
                "called, %(held)s among those held back.",
                treated=_money(_per(t), lang),
                held=_money(_per(h), lang),
            )
        )
    lines.append(
        _(
            "Counted by the draw: everyone put on the call list counts as called, "
            "reached or not (%(spoken)s of %(treated)s spoken to so far).",
            spoken=_integer(spoken, lang),
            treated=_integer(t.customers, lang),
        )
    )
    if not final:
        lines.append(
            _(
                "Counted up to today; the horizon ends on %(date)s, so the figures "
                "may still change.",
                date=format_date(ends_at, "d MMM y", locale=lang),
            )
        )
    return Result(
        experiment=experiment,
        treated=t,
        held_back=h,
        comparison=result,
        ends_at=ends_at,
        final=final,
        called=called,
        spoken=spoken,
        headline=headline,
        lines=lines,
    )


def _per(group: GroupFigures) -> Decimal:
    if not group.revenue_customers:
        return Decimal(0)
    return group.revenue_kept / group.revenue_customers


def _headline(result: comparison.Comparison, lang: str) -> str:
    """The verdict in one sentence, its direction spelled out."""
    if result.kind == "no_data":
        return _(
            "No comparison yet: one of the groups is empty (nobody called or "
            "nobody held back)."
        )
    if result.kind == "better":
        return _(
            "Keep calls work: %(points)s percentage points fewer customers left "
            "among those called than among those held back.",
            points=_points(result.difference, lang),
        )
    if result.kind == "worse":
        return _(
            "More customers left among those called than among those held back: "
            "%(points)s percentage points more.",
            points=_points(result.difference, lang),
        )
    if result.kind == "no_difference":
        return _(
            "No measurable difference between those called and those held back, "
            "although the groups are large enough to show one."
        )
    if result.needed is None:
        return _(
            "Too few customers yet to tell: nobody has left in either group so far."
        )
    return _(
        "Too few customers yet to tell: about %(n)s per group needed (with this "
        "split, %(treated)s called and %(held)s held back) to show a difference "
        "of %(points)s percentage points.",
        n=_integer(result.needed, lang),
        treated=_integer(result.needed_treated, lang),
        held=_integer(result.needed_held_back, lang),
        points=_points(result.sized_for, lang),
    )


def experiments(limit: int = 200) -> list[Experiment]:
    """Keep-call experiments, newest first."""
    return db.session.scalars(
        sa.select(Experiment)
        .where(Experiment.kind == KIND)
        .order_by(Experiment.started_at.desc(), Experiment.id.desc())
        .limit(limit)
    ).all()


def running_in(start: datetime, end: datetime) -> list[Experiment]:
    """Keep-call experiments whose horizon overlaps [start, end)."""
    return operations.running_in([KIND], start, end)


@dataclass(frozen=True)
class Summary:
    """One keep-call experiment in the digest: when drawn, what it shows so far."""

    experiment_id: int
    started_text: str
    headline: str
    groups_text: str


def summaries(
    start: datetime, end: datetime, lang: str, day: Callable[[datetime], str]
) -> list[Summary]:
    """Keep-call experiments whose horizon overlaps [start, end), measured up to
    today; ``day`` formats the date of the draw."""
    found = []
    for experiment in running_in(start, end):
        result = measure(experiment, lang)
        found.append(
            Summary(
                experiment_id=experiment.id,
                started_text=day(experiment.started_at),
                headline=result.headline,
                groups_text=result.lines[0] if result.lines else "",
            )
        )
    return found
