"""Drawing customers into an experiment's groups, who is in an open one, and
forgetting a person's assignments.

The draw comes from the operating system's random source (``random.
SystemRandom``): nobody can predict or steer who is held back, and every draw
is stored beside the group it decided, so the assignment can be checked.
"""

import random
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from karn import clock
from karn.accounts import audit
from karn.accounts.models import User
from karn.customers.models import Customer
from karn.enums import ExperimentGroup, ExperimentKind
from karn.experiments import final
from karn.experiments.models import Assignment, Experiment
from karn.extensions import db

MAX_HORIZON_DAYS = 3650
_random = random.SystemRandom()


@contextmanager
def drawn_with(source: random.Random) -> Iterator[None]:
    """Draw from this source meanwhile: the demo's seeded one, so the demo is
    the same each time it is made. Real experiments never use it."""
    global _random
    previous, _random = _random, source
    try:
        yield
    finally:
        _random = previous


class ExperimentError(ValueError):
    """An experiment that cannot be started, with a code for the message."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def group_for(draw: float, share: float) -> ExperimentGroup:
    """Treated exactly when the draw is below the share: the rule an auditor
    applies to the stored draws."""
    return ExperimentGroup.TREATED if draw < share else ExperimentGroup.HELD_BACK


def open_customers(kind: ExperimentKind, now: datetime | None = None) -> sa.Select:
    """Ids of customers in an open experiment of this kind (horizon not over)."""
    return (
        sa.select(Assignment.customer_id)
        .join(Experiment, Experiment.id == Assignment.experiment_id)
        .where(Experiment.kind == kind, Assignment.ends_at > (now or clock.now()))
    )


def held_back_ids() -> sa.Select:
    """Ids of customers held back right now, from any experiment: nothing is
    done to them, so no call list may hold them (karn.app registers this with
    the call list)."""
    return sa.select(Assignment.customer_id).where(
        Assignment.group == ExperimentGroup.HELD_BACK,
        Assignment.ends_at > clock.now(),
    )


def open_groups(customer_ids: Iterable[int], kind: ExperimentKind) -> dict[int, Any]:
    """customer id -> (group, experiment id) for those in an open experiment."""
    ids = list(customer_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(Assignment.customer_id, Assignment.group, Assignment.experiment_id)
        .join(Experiment, Experiment.id == Assignment.experiment_id)
        .where(
            Experiment.kind == kind,
            Assignment.ends_at > clock.now(),
            Assignment.customer_id.in_(ids),
        )
    )
    return {customer: (group, experiment) for customer, group, experiment in rows}


def start(
    kind: ExperimentKind,
    customers: list[Customer],
    by: User | None,
    *,
    share: float,
    horizon_days: int,
    title: str | None = None,
) -> tuple[Experiment | None, list[Customer]]:
    """Draw each customer into the treated or held-back group of a new experiment.

    Customers already in an open experiment of the same kind are left out and
    returned: one open experiment per customer and kind, so no one's outcome
    is counted twice. With no one left, no experiment is made (None).
    """
    if not 0.0 < share < 1.0:
        raise ExperimentError("share")
    if not 1 <= horizon_days <= MAX_HORIZON_DAYS:
        raise ExperimentError("horizon")
    now = clock.now()
    # Two managers (or a double click) drawing the same customers at once:
    # the second waits here until the first has committed, then sees its
    # draws. PostgreSQL locks the customers' rows; SQLite has no row locks
    # and reads outside a transaction until the first write, so a write that
    # changes nothing takes its database write lock before anything is read.
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(
            sa.update(Experiment).where(sa.false()).values(id=Experiment.id)
        )
    db.session.execute(
        sa.select(Customer.id)
        .where(Customer.id.in_([c.id for c in customers]))
        .order_by(Customer.id)
        .with_for_update()
    ).all()
    taken = set(open_groups([c.id for c in customers], kind))
    already = [c for c in customers if c.id in taken]
    drawn = [c for c in customers if c.id not in taken and c.erased_at is None]
    if not drawn:
        return None, already
    experiment = Experiment(
        kind=kind,
        title=(title or "").strip()[:200] or None,
        created_by_id=by.id if by else None,
        created_at=now,
        started_at=now,
        horizon_days=horizon_days,
        treatment_share=share,
    )
    db.session.add(experiment)
    db.session.flush()
    ends = now + timedelta(days=horizon_days)
    rows = []
    for customer in drawn:
        draw = _random.random()
        rows.append(
            {
                "experiment_id": experiment.id,
                "customer_id": customer.id,
                "group": group_for(draw, share),
                "draw": draw,
                "assigned_at": now,
                "ends_at": ends,
                "revenue": customer.monthly_revenue,
                "currency": customer.currency,
            }
        )
    db.session.execute(sa.insert(Assignment), rows)
    treated = sum(1 for r in rows if r["group"] == ExperimentGroup.TREATED)
    audit.record(
        "experiment.create",
        experiment,
        user=by,
        kind=kind.value,
        share=share,
        horizon_days=horizon_days,
        treated=treated,
        held_back=len(rows) - treated,
        already=len(already) or None,
    )
    return experiment, already


def enrol(
    experiment: Experiment, customers: list[Customer], by: User | None = None
) -> dict[int, ExperimentGroup]:
    """Draw customers into an experiment that is already running, one by one
    as they become due (a follow-up) or a batch at once; returns the group of
    each customer drawn now.

    The rules of `start` hold: erased customers and those in another open
    experiment of the same kind are left out. A customer already in this
    experiment keeps their first draw: the unique key on (experiment,
    customer) lets only one of two workers drawing the same person at once
    write a row, and only the rows written here are returned, so whatever
    the caller does for the treated (write a mail in the same transaction)
    happens exactly once.
    """
    candidates = [c for c in customers if c.erased_at is None]
    if not candidates:
        return {}
    now = clock.now()
    busy = {
        customer
        for customer, (_group, other) in open_groups(
            [c.id for c in candidates], experiment.kind
        ).items()
        if other != experiment.id
    }
    ends = now + timedelta(days=experiment.horizon_days)
    rows, seen = [], set()
    for customer in candidates:
        if customer.id in busy or customer.id in seen:
            continue
        seen.add(customer.id)
        draw = _random.random()
        rows.append(
            {
                "experiment_id": experiment.id,
                "customer_id": customer.id,
                "group": group_for(draw, experiment.treatment_share),
                "draw": draw,
                "assigned_at": now,
                "ends_at": ends,
                "revenue": customer.monthly_revenue,
                "currency": customer.currency,
            }
        )
    if not rows:
        return {}
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    written = db.session.execute(
        dialect.insert(Assignment)
        .on_conflict_do_nothing(index_elements=["experiment_id", "customer_id"])
        .returning(Assignment.customer_id, Assignment.group),
        rows,
    ).all()
    groups = dict(written)
    treated = sum(1 for g in groups.values() if g == ExperimentGroup.TREATED)
    if groups:
        audit.record(
            "experiment.enrol",
            experiment,
            user=by,
            kind=experiment.kind.value,
            treated=treated,
            held_back=len(groups) - treated,
        )
    return groups


def assignments_of(experiment: Experiment, group: ExperimentGroup) -> sa.Select:
    return sa.select(Assignment).where(
        Assignment.experiment_id == experiment.id, Assignment.group == group
    )


def for_person(customer_id: int) -> list[dict[str, Any]]:
    """A person's assignments as plain data, for the access export."""
    rows = db.session.execute(
        sa.select(Assignment, Experiment)
        .join(Experiment, Experiment.id == Assignment.experiment_id)
        .where(Assignment.customer_id == customer_id)
        .order_by(Assignment.id)
    ).all()
    return [
        {
            "experiment_id": experiment.id,
            "kind": experiment.kind.value,
            "group": a.group.value,
            "draw": a.draw,
            "treatment_share": experiment.treatment_share,
            "assigned_at": a.assigned_at.isoformat(),
            "ends_at": a.ends_at.isoformat(),
            "revenue": str(a.revenue) if a.revenue is not None else None,
            "currency": a.currency,
        }
        for a, experiment in rows
    ]


def forget(customer_ids: list[int], dry_run: bool = False) -> int:
    """Remove these customers' assignments (erasure; only counted in a dry
    run); the caller commits."""
    if not customer_ids:
        return 0
    if dry_run:
        return db.session.scalar(
            sa.select(sa.func.count()).where(Assignment.customer_id.in_(customer_ids))
        )
    # A finished experiment keeps its result: counted before anyone leaves it.
    final.close_finished(customer_ids)
    result = db.session.execute(
        sa.delete(Assignment).where(Assignment.customer_id.in_(customer_ids))
    )
    return result.rowcount or 0


def running_in(
    kinds: Iterable[ExperimentKind], start: datetime, end: datetime
) -> list[Experiment]:
    """Experiments of these kinds whose horizon overlaps [start, end), oldest
    first (for the digest)."""
    last_end = (
        sa.select(sa.func.max(Assignment.ends_at))
        .where(Assignment.experiment_id == Experiment.id)
        .scalar_subquery()
    )
    return db.session.scalars(
        sa.select(Experiment)
        .where(
            Experiment.kind.in_(list(kinds)),
            Experiment.started_at < end,
            last_end >= start,
        )
        .order_by(Experiment.started_at, Experiment.id)
    ).all()
