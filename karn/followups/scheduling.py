"""Writing due follow-ups: the worker's job.

Each pass looks, per active follow-up, at the responses with its reason as
their main reason that were submitted since it was switched on and are now
``delay_days`` old, in order of submission, from where the last pass stopped
(``FollowUp.scanned_at``/``scanned_id``). For each eligible respondent
(karn.followups.eligibility) who is in no other experiment's control group
the draw decides: treated get the mail written to
the outbox, due at the next moment outside the quiet hours; held back get
their assignment only. Who was not eligible when their follow-up was due is
passed over for good, as is a response whose follow-up is more than
LATE_DAYS overdue (the worker was stopped): a follow-up weeks late is no
longer the answer to their survey.

Exactly once: the follow-up's row is locked for the pass (PostgreSQL; SQLite
writes one at a time), the draw's row is unique per experiment and customer,
and a mail is written only for a draw written in the same transaction.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask

from karn import clock, settings
from karn.customers.models import Customer
from karn.enums import ExperimentGroup, ExperimentKind
from karn.experiments import operations as experiments
from karn.experiments.models import Assignment, Experiment
from karn.extensions import db
from karn.followups import eligibility
from karn.followups import mails as followup_mails
from karn.followups.models import FollowUp
from karn.surveys import delivery, outbox
from karn.surveys.models import Response
from karn.webhooks import events

log = logging.getLogger(__name__)
BATCH = 500
# A follow-up not written within this many days of being due is not written.
LATE_DAYS = 14
# How long one pass goes on with a backlog; the rest waits for the next pass.
SLICE_SECONDS = 30
KIND = "follow_up"


@dataclass
class FollowUpReport:
    """What one pass did."""

    mailed: int = 0
    held_back: int = 0
    passed_over: int = 0
    # A batch was full when the time was up: more may be due.
    more: bool = False

    def add(self, other: "FollowUpReport") -> None:
        self.mailed += other.mailed
        self.held_back += other.held_back
        self.passed_over += other.passed_over


def ensure_experiment(follow_up: FollowUp, by=None) -> Experiment:
    """The follow-up's experiment, made the first time it is switched on."""
    if follow_up.experiment is not None:
        return follow_up.experiment
    now = clock.now()
    experiment = Experiment(
        kind=ExperimentKind.FOLLOW_UP,
        # Shown by reason in the reader's language (karn.followups.effect).
        title=None,
        created_by_id=by.id if by else None,
        created_at=now,
        started_at=now,
        horizon_days=int(settings.get("WIN_BACK_HORIZON_DAYS")),
        treatment_share=float(settings.get("FOLLOW_UP_SHARE")),
    )
    db.session.add(experiment)
    db.session.flush()
    follow_up.experiment = experiment
    return experiment


def _after_cursor(follow_up: FollowUp):
    if follow_up.scanned_at is None:
        return sa.true()
    return sa.and_(
        # The plain bound lets the index start at the cursor.
        Response.submitted_at >= follow_up.scanned_at,
        sa.or_(
            Response.submitted_at > follow_up.scanned_at,
            sa.and_(
                Response.submitted_at == follow_up.scanned_at,
                Response.id > (follow_up.scanned_id or 0),
            ),
        ),
    )


def due_responses(follow_up: FollowUp, now: datetime, limit: int = BATCH) -> list:
    """The next responses whose follow-up is due: (id, submitted_at,
    customer_id, language), in order of submission."""
    due_until = now - timedelta(days=follow_up.delay_days)
    return db.session.execute(
        sa.select(
            Response.id, Response.submitted_at, Response.customer_id, Response.language
        )
        .where(
            Response.primary_reason == follow_up.reason,
            Response.submitted_at.is_not(None),
            Response.submitted_at >= follow_up.active_since,
            Response.submitted_at <= due_until,
            _after_cursor(follow_up),
        )
        .order_by(Response.submitted_at, Response.id)
        .limit(limit)
    ).all()


def waiting(follow_up: FollowUp) -> int:
    """Responses since it was switched on whose follow-up is not yet decided."""
    if not follow_up.active or follow_up.active_since is None:
        return 0
    return db.session.scalar(
        sa.select(sa.func.count()).where(
            Response.primary_reason == follow_up.reason,
            Response.submitted_at.is_not(None),
            Response.submitted_at >= follow_up.active_since,
            Response.customer_id.is_not(None),
            _after_cursor(follow_up),
        )
    )


def _held_back_elsewhere(ids: set[int], experiment_id: int, now: datetime) -> set[int]:
    """Those among these in the control group of another open experiment (a
    campaign, a keep call): a mail now would spoil that comparison, so, as a
    campaign does (karn.followups.campaigns), they are not mailed."""
    if not ids:
        return set()
    return set(
        db.session.scalars(
            sa.select(Assignment.customer_id).where(
                Assignment.customer_id.in_(ids),
                Assignment.group == ExperimentGroup.HELD_BACK,
                Assignment.ends_at > now,
                Assignment.experiment_id != experiment_id,
            )
        )
    )


def _skeleton(follow_up: FollowUp, lang: str, cache: dict):
    """The rendering in the respondent's language; in the other one should
    theirs not be written (a follow-up is only switched on with both)."""
    if lang not in cache:
        chosen = lang
        if not follow_up.written_in(lang):
            chosen = "en" if lang == "nl" else "nl"
        cache[lang] = followup_mails.Skeleton(follow_up.texts(chosen), chosen)
    return cache[lang]


def schedule_batch(follow_up_id: int, now: datetime) -> tuple[FollowUpReport, bool]:
    """Decide the next batch of one follow-up in one transaction; returns what
    was done and whether the batch was full."""
    report = FollowUpReport()
    # No campaign may decide on the same people while this batch does.
    eligibility.decide_one_at_a_time()
    follow_up = db.session.scalar(
        sa.select(FollowUp)
        .where(FollowUp.id == follow_up_id, FollowUp.active.is_(True))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if follow_up is None or follow_up.active_since is None:
        db.session.rollback()
        return report, False
    rows = due_responses(follow_up, now)
    if not rows:
        db.session.rollback()
        return report, False
    too_late = now - timedelta(days=follow_up.delay_days + LATE_DAYS)
    language: dict[int, str] = {}
    for row in rows:
        if row.customer_id is not None and row.submitted_at >= too_late:
            language.setdefault(row.customer_id, row.language.value)
    allowed = eligibility.eligible_ids(list(language), now) if language else set()
    experiment = ensure_experiment(follow_up)
    allowed -= _held_back_elsewhere(allowed, experiment.id, now)
    customers = db.session.scalars(
        sa.select(Customer).where(Customer.id.in_(allowed)).order_by(Customer.id)
    ).all()
    groups = experiments.enrol(experiment, list(customers))
    due_at = delivery.next_send_time(now)
    cache: dict = {}
    addresser = followup_mails.Addresser()
    messages = []
    for customer in customers:
        group = groups.get(customer.id)
        if group == ExperimentGroup.HELD_BACK:
            report.held_back += 1
            events.followup_result(
                experiment_id=experiment.id,
                kind=KIND,
                group=group.value,
                outcome="held_back",
                customer=customer,
            )
        if group != ExperimentGroup.TREATED:
            continue
        skeleton = _skeleton(follow_up, language[customer.id], cache)
        mail = addresser.mail(skeleton, customer.id, customer.name)
        messages.append(
            {
                "kind": KIND,
                "to_address": customer.email,
                "language": skeleton.lang,
                "customer_id": customer.id,
                "due_at": due_at,
                **mail,
            }
        )
    report.mailed = outbox.enqueue_many(messages)
    report.passed_over = len(rows) - report.mailed - report.held_back
    last = rows[-1]
    follow_up.scanned_at, follow_up.scanned_id = last.submitted_at, last.id
    db.session.commit()
    return report, len(rows) == BATCH


def schedule_due(now: datetime | None = None, budget: float | None = None):
    """Every active follow-up's due responses, a batch at a time, for up to
    ``budget`` seconds (no limit when None)."""
    now = now or clock.now()
    started = time.monotonic()
    report = FollowUpReport()
    ids = db.session.scalars(
        sa.select(FollowUp.id).where(FollowUp.active.is_(True)).order_by(FollowUp.id)
    ).all()
    db.session.commit()
    for follow_up_id in ids:
        full = True
        while full:
            if budget is not None and time.monotonic() - started > budget:
                report.more = True
                return report
            done, full = schedule_batch(follow_up_id, now)
            report.add(done)
    return report


def run_follow_up_job(app: Flask, once: bool = False) -> FollowUpReport | None:
    """The worker's job: writes due follow-ups; never raises."""
    with app.app_context():
        try:
            report = schedule_due(budget=None if once else SLICE_SECONDS)
            if report.mailed or report.held_back:
                log.info(
                    "follow-ups: %d mailed, %d held back",
                    report.mailed,
                    report.held_back,
                )
            return report
        except Exception:
            db.session.rollback()
            log.exception("writing follow-ups failed; trying again next pass")
            return None
        finally:
            db.session.remove()
