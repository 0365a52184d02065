"""The counts of a finished experiment, kept when its people are forgotten.

Erasure and retention remove a person's assignments (operations.forget). For
an experiment still running that is right: the person is gone from its
figures. A finished one, though, would have its result shift years later, and
after the retention period lose every leaver it counted. So once the horizon
of every assignment has passed, its figures per group are stored on the
experiment (``final_figures``, with ``closed_at``) just before any of its
assignments is forgotten, and read from there ever after.

Each kind with a fixed membership registers how its figures are counted: keep
calls (karn.experiments.keepcalls) and campaigns (karn.followups.effect).
A follow-up's experiment keeps taking people in while it is switched on, so it
never finishes and is not registered.
"""

from collections.abc import Callable, Iterable
from dataclasses import astuple
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from karn import clock
from karn.enums import ExperimentGroup, ExperimentKind
from karn.experiments.models import Assignment, Experiment
from karn.extensions import db

# kind -> (count the figures from the assignments, the figures' class)
_COUNTERS: dict[ExperimentKind, tuple[Callable[[Experiment], dict], type]] = {}


def register(kind: ExperimentKind, count: Callable[[Experiment], dict], cls: type):
    """``count(experiment)`` gives {group: cls(customers, events, revenue, n)}."""
    _COUNTERS[kind] = (count, cls)


def stored(experiment: Experiment) -> dict[ExperimentGroup, Any] | None:
    """The figures stored when the experiment was closed, else None."""
    if experiment.final_figures is None or experiment.kind not in _COUNTERS:
        return None
    cls = _COUNTERS[experiment.kind][1]
    return {
        ExperimentGroup(group): cls(n, events, Decimal(revenue), counted)
        for group, (n, events, revenue, counted) in experiment.final_figures.items()
    }


def close(experiment: Experiment, now: datetime | None = None) -> None:
    """Count and store the figures of a finished experiment."""
    count, _cls = _COUNTERS[experiment.kind]
    figures = count(experiment)
    experiment.final_figures = {
        group.value: [str(v) if isinstance(v, Decimal) else v for v in astuple(f)]
        for group, f in figures.items()
    }
    experiment.closed_at = now or clock.now()


def close_finished(customer_ids: Iterable[int] | None = None) -> int:
    """Close the finished experiments not yet closed (those these customers are
    in, when given); returns how many; the caller commits."""
    now = clock.now()
    finished = (
        sa.select(Assignment.experiment_id)
        .group_by(Assignment.experiment_id)
        .having(sa.func.max(Assignment.ends_at) <= now)
    )
    query = sa.select(Experiment).where(
        Experiment.kind.in_(list(_COUNTERS)),
        Experiment.closed_at.is_(None),
        Experiment.id.in_(finished),
    )
    if customer_ids is not None:
        ids = list(customer_ids)
        if not ids:
            return 0
        query = query.where(
            Experiment.id.in_(
                sa.select(Assignment.experiment_id).where(
                    Assignment.customer_id.in_(ids)
                )
            )
        )
    experiments = db.session.scalars(query).all()
    for experiment in experiments:
        close(experiment, now)
    return len(experiments)
