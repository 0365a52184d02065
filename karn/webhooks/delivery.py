"""The worker's delivery pass: claim due deliveries, POST them, record each try.

Claiming works like the mail outbox (karn.surveys.outbox): one atomic UPDATE
takes a batch (FOR UPDATE SKIP LOCKED on PostgreSQL, SQLite's single writer
otherwise), and a claim is a lease. Unlike mail, webhooks are delivered at
least once: a worker that dies mid-batch leaves its deliveries "sending", and
recovery simply puts them back, to be posted again with the same webhook-id
(receivers drop a duplicate by it). A delivery answered 2xx is never sent
again by Karn itself; an administrator may resend it by hand.

A failed try is retried after a wait that doubles (with jitter, so many
deliveries to one receiver that was down do not all come back at once) up to
RETRY_LONGEST; after WEBHOOK_MAX_ATTEMPTS tries it fails for good. When
WEBHOOK_DISABLE_AFTER deliveries in a row to one endpoint failed for good, the
endpoint is switched off, the audit log says so, the administrators get a mail
and every admin page shows a notice until someone looks.
"""

import logging
import os
import random
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from karn import clock
from karn.accounts import audit
from karn.accounts.models import User
from karn.enums import Role
from karn.extensions import db
from karn.formatting import stored_text
from karn.surveys import links, outbox
from karn.surveys.outbox import gone_here
from karn.webhooks import sender, subscribers
from karn.webhooks.models import (
    CANCELLED,
    DELIVERED,
    FAILED,
    PENDING,
    SENDING,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

log = logging.getLogger(__name__)

RETRY_FIRST = timedelta(seconds=30)
RETRY_LONGEST = timedelta(hours=6)
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_DISABLE_AFTER = 5
DEFAULT_TIMEOUT = 10.0
CLAIM_LEASE = timedelta(minutes=3)
BATCH = 20
# How long one pass goes on posting before the worker's other jobs get a turn.
SLICE_SECONDS = 30
NOTICE_KIND = "webhook_disabled"
NO_LONGER_PERSONAL = stored_text(
    "Not sent: it holds personal fields, and the endpoint no longer receives them."
)


@dataclass
class PassReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    disabled: list[int] = field(default_factory=list)
    # Endpoints that gave no answer at all in this pass (time-out, refused
    # connection): their other deliveries wait instead of timing out too.
    unreachable: set[int] = field(default_factory=set)


def _config(name: str, default):
    value = current_app.config.get(name)
    return type(default)(value) if value not in (None, "") else default


def backoff(attempts: int) -> timedelta:
    """How long to wait after the attempts-th failed try: 30 s, 1 min, 2 min,
    ... at most RETRY_LONGEST, each between half and all of that."""
    longest = RETRY_FIRST * 2 ** min(max(attempts - 1, 0), 20)
    wait = min(longest, RETRY_LONGEST)
    return wait / 2 + wait / 2 * random.random()


def lease() -> timedelta:
    seconds = current_app.config.get("WEBHOOK_CLAIM_LEASE_SECONDS")
    return timedelta(seconds=float(seconds)) if seconds else CLAIM_LEASE


def recover(now: datetime | None = None) -> int:
    """Deliveries whose worker died (lease over, or gone from this machine)
    go back to pending, due at once; they keep their webhook-id."""
    now = now or clock.now()
    sending = WebhookDelivery.status == SENDING
    holders = set(
        db.session.scalars(
            sa.select(WebhookDelivery.claimed_by).where(sending).distinct()
        )
    )
    released = db.session.execute(
        sa.update(WebhookDelivery)
        .where(
            sending,
            sa.or_(
                WebhookDelivery.claimed_at < now - lease(),
                WebhookDelivery.claimed_by.in_(gone_here(holders - {None})),
            ),
        )
        .values(status=PENDING, claimed_by=None, claimed_at=None, due_at=now)
    ).rowcount
    db.session.commit()
    if released:
        log.warning(
            "webhooks: %d deliveries of a stopped worker to send again", released
        )
    return released


def claim(worker: str, limit: int = BATCH, now: datetime | None = None) -> list[int]:
    """Atomically take up to ``limit`` due deliveries of enabled endpoints."""
    now = now or clock.now()
    due = (
        sa.select(WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == PENDING,
            WebhookDelivery.due_at <= now,
            WebhookEndpoint.enabled.is_(True),
        )
        .order_by(WebhookDelivery.due_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    ids = db.session.scalars(
        sa.update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(due))
        .values(status=SENDING, claimed_by=worker, claimed_at=now)
        .returning(WebhookDelivery.id)
    ).all()
    db.session.commit()
    return sorted(ids)


def _hold(ids: list[int], worker: str) -> set[int]:
    """Renew the lease on these deliveries; returns those this worker still
    holds (only those may be posted)."""
    held = set(
        db.session.scalars(
            sa.update(WebhookDelivery)
            .where(
                WebhookDelivery.id.in_(ids),
                WebhookDelivery.claimed_by == worker,
                WebhookDelivery.status == SENDING,
            )
            .values(claimed_at=clock.now())
            .returning(WebhookDelivery.id),
            execution_options={"synchronize_session": False},
        )
    )
    db.session.commit()
    return held


def send_one(delivery_id: int, worker: str, report: PassReport) -> None:
    """POST one claimed delivery and record the outcome."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.enabled or endpoint.id in report.unreachable:
        # Switched off since the claim (by hand, or after failures in this
        # batch), or not answering: the delivery waits, untried and uncharged.
        delivery.status = PENDING
        delivery.claimed_by = delivery.claimed_at = None
        if endpoint.enabled:
            delivery.due_at = clock.now() + RETRY_FIRST
        db.session.commit()
        return
    if delivery.personal and not endpoint.personal:
        # Written with personal fields, but the endpoint no longer receives
        # them (an administrator changed that since): it is not sent.
        delivery.status = CANCELLED
        delivery.claimed_by = delivery.claimed_at = None
        delivery.last_error = NO_LONGER_PERSONAL()
        db.session.commit()
        return
    outcome = sender.post(
        endpoint.url,
        endpoint.secret,
        delivery.message_id,
        delivery.body.encode(),
        allow_private=endpoint.allow_private,
        timeout=_config("WEBHOOK_TIMEOUT", DEFAULT_TIMEOUT),
    )
    record(delivery, outcome, worker, report)


def record(
    delivery: WebhookDelivery,
    outcome: sender.Outcome,
    worker: str,
    report: PassReport,
) -> None:
    """Write one try: delivered, retried later, or failed for good (and the
    endpoint switched off after too many of those in a row)."""
    now = clock.now()
    db.session.refresh(delivery, with_for_update=True)
    if delivery.status != SENDING or delivery.claimed_by != worker:
        db.session.rollback()  # taken back meanwhile: the new holder records
        return
    endpoint = delivery.endpoint
    db.session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            at=now,
            status_code=outcome.status,
            error=outcome.error,
            ok=outcome.ok,
        )
    )
    delivery.attempts += 1
    delivery.last_status, delivery.last_error = outcome.status, outcome.error
    if outcome.status is None:
        report.unreachable.add(endpoint.id)
    delivery.claimed_by = delivery.claimed_at = None
    if outcome.ok:
        delivery.status, delivery.delivered_at = DELIVERED, now
        endpoint.failures = 0
        report.delivered += 1
    elif delivery.attempts < _config("WEBHOOK_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS):
        delivery.status = PENDING
        delivery.due_at = now + backoff(delivery.attempts)
        report.retried += 1
    else:
        delivery.status = FAILED
        endpoint.failures += 1
        report.failed += 1
        limit = _config("WEBHOOK_DISABLE_AFTER", DEFAULT_DISABLE_AFTER)
        if endpoint.enabled and endpoint.failures >= max(1, limit):
            disable(endpoint, now, outcome.error or "?")
            report.disabled.append(endpoint.id)
    db.session.commit()


def disable(endpoint: WebhookEndpoint, now: datetime, error: str) -> None:
    """Switch an endpoint off after failures: audit log, and a mail to every
    active administrator (the caller commits)."""
    endpoint.enabled = False
    endpoint.disabled_at = now
    # The last error, as the notice shows it (disabled by hand: none).
    endpoint.disabled_reason = error[:500]
    audit.record(
        "webhook.disable",
        endpoint,
        url=endpoint.url,
        failures=endpoint.failures,
    )
    log.warning("webhook endpoint %s disabled after failures", endpoint.id)
    subscribers.invalidate()
    _mail_admins(endpoint)


def _mail_admins(endpoint: WebhookEndpoint) -> None:
    admins = db.session.scalars(
        sa.select(User).where(
            User.active.is_(True), User.role == Role.ADMIN, User.email != ""
        )
    ).all()
    page = links.external("webhook_admin.endpoint", endpoint_id=endpoint.id)
    for admin in admins:
        lang = admin.language.value
        with force_locale(lang):
            subject = _("Karn stopped sending webhooks to %(url)s", url=endpoint.url)
            text = render_template(
                "email/webhook_disabled.txt", endpoint=endpoint, page=page
            )
        outbox.enqueue(
            kind=NOTICE_KIND,
            to_address=admin.email,
            language=lang,
            subject=subject,
            body_text=text,
            user_id=admin.id,
        )


def run_pass(worker: str, should_stop=lambda: False) -> PassReport:
    """Recover dead claims, then post what is due, for up to SLICE_SECONDS."""
    report = PassReport()
    report.released = recover()
    started = time.monotonic()

    def go_on() -> bool:
        return not should_stop() and time.monotonic() - started < SLICE_SECONDS

    while go_on():
        ids = claim(worker)
        if not ids:
            break
        while ids and go_on():
            held = _hold(ids, worker)
            current, ids = ids[0], [i for i in ids[1:] if i in held]
            if current in held:
                send_one(current, worker, report)
        if ids:  # stopping, or the slice is over: give the rest back untried
            db.session.execute(
                sa.update(WebhookDelivery)
                .where(
                    WebhookDelivery.id.in_(ids), WebhookDelivery.claimed_by == worker
                )
                .values(status=PENDING, claimed_by=None, claimed_at=None)
            )
            db.session.commit()
    return report


def run_webhook_job(app: Flask, worker: str = "", should_stop=lambda: False):
    """For each worker pass: deliver due webhooks; never raises."""
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    with app.app_context():
        try:
            report = run_pass(worker, should_stop)
            if report.delivered or report.failed or report.retried:
                log.info(
                    "webhooks: delivered %d, retried %d, failed %d",
                    report.delivered,
                    report.retried,
                    report.failed,
                )
            return report
        except Exception:
            db.session.rollback()
            log.exception("webhook delivery pass failed")
            return None
        finally:
            db.session.remove()


def resend(delivery: WebhookDelivery, by: User) -> None:
    """Send a delivery again, with its webhook-id, as soon as the worker can
    (the caller commits). A receiver that drops duplicates by webhook-id will
    drop it if it received it before."""
    delivery.status, delivery.due_at = PENDING, clock.now()
    delivery.attempts = 0
    delivery.claimed_by = delivery.claimed_at = None
    audit.record(
        "webhook.resend",
        delivery.endpoint,
        user=by,
        delivery=delivery.id,
        event=delivery.event,
    )
