"""Erasure, access requests and retention for the people Karn holds data on.

Retention is here; erasure (with what it removes and what it keeps) is in
``karn.privacy.erasure`` and the access export in ``karn.privacy.export``.
Callers use this module for all three.
"""

import calendar
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from karn import clock
from karn.accounts import audit
from karn.customers.models import Customer
from karn.enums import OutboxStatus
from karn.extensions import db
from karn.feedback import privacy as feedback
from karn.privacy.erasure import (
    CLOSED_LABELS,
    KEPT_LABELS,
    REMOVED_LABELS,
    ErasureReport,
    erase_customer,
    erase_many,
    find_customer,
    preview_erasure,
)
from karn.privacy.export import _plain, export_person
from karn.settings import Setting
from karn.surveys.models import OutboxMessage
from karn.webhooks import privacy as webhooks

__all__ = [
    "CLOSED_LABELS",
    "DEFAULT_RETENTION_MAIL_DAYS",
    "DEFAULT_RETENTION_PERSONAL_MONTHS",
    "KEPT_LABELS",
    "REMOVED_LABELS",
    "ErasureReport",
    "RetentionReport",
    "enforce_retention",
    "erase_customer",
    "erase_many",
    "export_person",
    "find_customer",
    "last_retention_run",
    "months_before",
    "preview_erasure",
    "run_retention_job",
]

log = logging.getLogger(__name__)

DEFAULT_RETENTION_PERSONAL_MONTHS = 24
DEFAULT_RETENTION_MAIL_DAYS = 90
RETENTION_LAST_RUN_KEY = "privacy.retention_last_run"
RETENTION_INTERVAL = timedelta(days=1)

# --- retention -----------------------------------------------------------------


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time a number of calendar months earlier (clamped)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


@dataclass
class RetentionReport:
    """What one retention run erased and stripped, or would (dry run)."""

    dry_run: bool = False
    personal_before: datetime | None = None
    mail_before: datetime | None = None
    customers: int = 0
    customer_ids: list[int] = field(default_factory=list)
    mails: int = 0
    # Feedback texts older than the personal-data limit, removed.
    feedback_texts: int = 0
    # Webhook deliveries (with their attempts) finished before mail_before.
    webhook_deliveries: int = 0
    batches: int = 0
    erasure: ErasureReport = field(default_factory=ErasureReport)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["erasure"] = self.erasure.as_dict()
        for name in ("personal_before", "mail_before"):
            data[name] = _plain(data[name])
        return data


def _old_mail(cutoff: datetime):
    has_content = sa.or_(
        OutboxMessage.subject.is_not(None),
        OutboxMessage.body_text.is_not(None),
        OutboxMessage.body_html.is_not(None),
    )
    # Mail that was never sent and never will be ages from when it was written.
    old = sa.or_(
        OutboxMessage.sent_at < cutoff,
        sa.and_(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.status.in_((OutboxStatus.FAILED, OutboxStatus.CANCELLED)),
            OutboxMessage.created_at < cutoff,
        ),
    )
    return sa.and_(has_content, old)


def enforce_retention(
    now: datetime | None = None, dry_run: bool = False, batch: int = 500
) -> RetentionReport:
    """Erase people past the personal-data limit and strip old mail, per batch.

    Commits after every batch; with dry_run it only counts and lists.
    """
    now = now or clock.now()
    months = _setting("RETENTION_PERSONAL_MONTHS", DEFAULT_RETENTION_PERSONAL_MONTHS)
    days = _setting("RETENTION_MAIL_DAYS", DEFAULT_RETENTION_MAIL_DAYS)
    report = RetentionReport(
        dry_run=dry_run,
        personal_before=months_before(now, months),
        mail_before=now - timedelta(days=days),
    )
    report.erasure.dry_run = dry_run
    last_id = 0
    while True:
        customers = db.session.scalars(
            sa.select(Customer)
            .where(
                Customer.erased_at.is_(None),
                Customer.departed_at < report.personal_before,
                Customer.id > last_id,
            )
            .order_by(Customer.id)
            .limit(batch)
        ).all()
        if not customers:
            break
        last_id = customers[-1].id
        result = erase_many(customers, dry_run=dry_run, reason="retention")
        report.customers += result.customers
        report.customer_ids += result.customer_ids
        for section in ("removed", "closed", "kept"):
            getattr(report.erasure, section).update(getattr(result, section))
        report.erasure.customers += result.customers
        report.batches += 1
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()

    last_id = 0
    while True:
        ids = db.session.scalars(
            sa.select(OutboxMessage.id)
            .where(_old_mail(report.mail_before), OutboxMessage.id > last_id)
            .order_by(OutboxMessage.id)
            .limit(batch)
        ).all()
        if not ids:
            break
        last_id = ids[-1]
        report.mails += len(ids)
        report.batches += 1
        if not dry_run:
            db.session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(subject=None, body_text=None, body_html=None)
            )
            db.session.commit()

    # Feedback, also anonymous, keeps its text no longer than personal data.
    report.feedback_texts = feedback.strip_older_than(
        report.personal_before, dry_run=dry_run, batch=batch
    )
    # The webhook delivery log is kept as long as mail.
    report.webhook_deliveries = webhooks.prune(
        report.mail_before, dry_run=dry_run, batch=batch
    )

    if not dry_run and (
        report.customers
        or report.mails
        or report.feedback_texts
        or report.webhook_deliveries
    ):
        audit.record(
            "privacy.retention",
            customers=report.customers,
            mails=report.mails,
            feedback_texts=report.feedback_texts or None,
            webhook_deliveries=report.webhook_deliveries or None,
            months=months,
            days=days,
        )
        db.session.commit()
    return report


def _claim_retention_run(now: datetime) -> bool:
    """Take today's run (True), unless another worker ran it within a day."""
    stamp = now.isoformat()
    claimed = db.session.execute(
        sa.update(Setting)
        .where(
            Setting.key == RETENTION_LAST_RUN_KEY,
            Setting.updated_at <= now - RETENTION_INTERVAL,
        )
        .values(value=stamp, updated_at=now)
    ).rowcount
    if claimed:
        db.session.commit()
        return True
    if db.session.get(Setting, RETENTION_LAST_RUN_KEY) is not None:
        db.session.rollback()
        return False
    try:
        db.session.add(Setting(key=RETENTION_LAST_RUN_KEY, value=stamp, updated_at=now))
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()  # another worker claimed it first
        return False
    return True


def run_retention_job(app) -> RetentionReport | None:
    """For each worker pass: enforce retention at most once a day; never raises."""
    try:
        with app.app_context():
            try:
                now = clock.now()
                if not _claim_retention_run(now):
                    return None
                report = enforce_retention(now=now)
                if report.customers or report.mails:
                    log.info(
                        "retention: erased %d people, stripped %d mails",
                        report.customers,
                        report.mails,
                    )
                return report
            finally:
                db.session.remove()
    except Exception:
        # Retention waits for tomorrow's pass; sending mail must go on.
        log.exception("retention run failed")
        return None


def last_retention_run() -> datetime | None:
    """When retention last ran in the worker, if ever."""
    row = db.session.get(Setting, RETENTION_LAST_RUN_KEY)
    if row is None or not isinstance(row.value, str):
        return None
    try:
        return datetime.fromisoformat(row.value).astimezone(UTC)
    except ValueError:
        return None
