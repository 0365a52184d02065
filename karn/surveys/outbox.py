"""The outbox: mail is written here with its cause and sent by the worker.

A message goes pending -> sending -> sent, or back to pending with a later
due time after a temporary failure, or to failed. Rows are claimed with one
atomic UPDATE (FOR UPDATE SKIP LOCKED on PostgreSQL, SQLite's single writer
otherwise), so several workers never send the same message.

A claimed batch goes over one SMTP connection in groups of HAND_OVER_GROUP:
the whole group is marked "handed over" in one commit before its first message
goes to the server, and the messages the server accepted are marked sent after
its last, in the commit that hands the next group over (after the last group,
in one of their own). One commit per group instead of one per message is what
makes the sender fast, above all on PostgreSQL, where every commit waits for the
disk. The price is paid only when a worker dies without cleaning up (killed,
power lost): recovery cannot tell which messages of the group in flight reached
the server, so it fails all of them, at most HAND_OVER_GROUP, as "uncertain"
for a person to check rather than risk sending one twice (their invitations
count as sent, so reminders follow). Messages of earlier groups are sent, those
of later groups go back to pending. With a rate limit the group is a single
message: speed does not matter then.

A claim is a lease: the worker renews it while it works through its batch, and
every mark it makes (handed over, sent, given back) checks that it still holds
the message, so a slow worker and one that recovers its claims can never both
send it. A claim is recovered when its lease ran out, or at once when its
worker ran on this machine and is gone.

Every failure is classified (karn.surveys.mail_failures): only a refusal that
says the address cannot receive mail, or a full or disabled mailbox, touches
the customer. A server that cannot be reached, or that refuses Karn itself,
costs no attempts: the mail waits and is tried again. Mail that could not go
out while it was still useful (an invitation or reminder whose link has
expired) is cancelled and counted, never sent late. The sending of one batch
over one connection is karn.surveys.sending.
"""

import logging
import os
import socket
from collections.abc import Iterable
from datetime import datetime, timedelta
from email.utils import make_msgid, parseaddr

import sqlalchemy as sa
from flask import current_app

from karn import clock
from karn.enums import OutboxStatus
from karn.extensions import db
from karn.formatting import stored_text
from karn.surveys import deliverability
from karn.surveys.models import OutboxMessage
from karn.surveys.sending import DispatchReport, _after_sent, send_batch

log = logging.getLogger(__name__)

# A claim not renewed for this long is taken to be dead (the default of
# MAIL_CLAIM_LEASE_SECONDS). Workers renew theirs six times per lease.
CLAIM_LEASE = timedelta(minutes=3)
UNCERTAIN = stored_text(
    "The worker stopped while handing this message, or one sent together with "
    "it, to the mail server; it may have been delivered, so it is not sent "
    "again automatically."
)()


def mail_configured() -> bool:
    """True when an SMTP server is set; otherwise mail is held in the outbox."""
    return bool(current_app.config.get("MAIL_SERVER"))


def _sender_domain() -> str:
    address = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1]
    return address.rpartition("@")[2] or "localhost"


def _row(
    *,
    kind: str,
    to_address: str,
    language: str,
    subject: str,
    body_text: str,
    body_html: str | None = None,
    headers: dict | None = None,
    customer_id: int | None = None,
    invitation_id: int | None = None,
    user_id: int | None = None,
    due_at: datetime | None = None,
    domain: str,
    status: OutboxStatus,
    now: datetime,
) -> dict:
    return {
        "kind": kind,
        "to_address": to_address,
        "language": language,
        "subject": subject,
        "body_text": body_text,
        "body_html": body_html,
        "headers": headers or {},
        "customer_id": customer_id,
        "invitation_id": invitation_id,
        "user_id": user_id,
        "message_id": make_msgid(domain=domain),
        "status": status,
        "due_at": due_at or now,
        "attempts": 0,
        "created_at": now,
    }


def _written() -> dict:
    """What every message written now has in common."""
    return {
        "domain": _sender_domain(),
        "status": OutboxStatus.PENDING if mail_configured() else OutboxStatus.HELD,
        "now": clock.now(),
    }


def enqueue(
    *,
    kind: str,
    to_address: str,
    language: str,
    subject: str,
    body_text: str,
    body_html: str | None = None,
    headers: dict | None = None,
    customer_id: int | None = None,
    invitation_id: int | None = None,
    user_id: int | None = None,
    due_at: datetime | None = None,
) -> OutboxMessage:
    """Add a message to the outbox in the caller's transaction."""
    message = OutboxMessage(
        **_row(
            kind=kind,
            to_address=to_address,
            language=language,
            subject=subject,
            body_text=body_text,
            body_html=body_html,
            headers=headers,
            customer_id=customer_id,
            invitation_id=invitation_id,
            user_id=user_id,
            due_at=due_at,
            **_written(),
        )
    )
    db.session.add(message)
    db.session.flush()
    return message


def enqueue_many(messages: Iterable[dict]) -> int:
    """Add messages (each the arguments of `enqueue`) to the outbox in the
    caller's transaction, with one statement; returns how many."""
    common = _written()
    rows = [_row(**message, **common) for message in messages]
    if rows:
        db.session.execute(sa.insert(OutboxMessage), rows)
    return len(rows)


def lease() -> timedelta:
    seconds = current_app.config.get("MAIL_CLAIM_LEASE_SECONDS")
    return timedelta(seconds=float(seconds)) if seconds else CLAIM_LEASE


def gone_here(workers: set[str]) -> set[str]:
    """The workers among these that ran on this machine and have stopped."""
    host, me = socket.gethostname(), os.getpid()
    gone = set()
    for name in workers:
        where, _, pid = name.rpartition(":")
        if where != host or not pid.isdigit() or int(pid) == me:
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            gone.add(name)
        except OSError:
            pass  # it exists, under another user
    return gone


def recover_stale_claims(now: datetime | None = None) -> DispatchReport:
    """Give back messages whose worker died mid-batch.

    Messages never handed to the server go back to pending; those of the group
    being handed over may have been delivered, so they are failed for a person
    to check, and their invitations count as sent.
    """
    now = now or clock.now()
    sending = OutboxMessage.status == OutboxStatus.SENDING
    holders = set(
        db.session.scalars(
            sa.select(OutboxMessage.claimed_by).where(sending).distinct()
        )
    )
    stale = sa.and_(
        sending,
        sa.or_(
            OutboxMessage.claimed_at < now - lease(),
            OutboxMessage.claimed_by.in_(gone_here(holders - {None})),
        ),
    )
    in_flight = sa.and_(
        OutboxMessage.handed_over_at.is_not(None),
        OutboxMessage.handed_over_at >= OutboxMessage.claimed_at,
    )
    report = DispatchReport()
    uncertain = db.session.execute(
        sa.update(OutboxMessage)
        .where(stale, in_flight)
        .values(status=OutboxStatus.FAILED, last_error=UNCERTAIN)
        .returning(
            OutboxMessage.kind,
            OutboxMessage.invitation_id,
            OutboxMessage.handed_over_at,
        )
    ).all()
    _after_sent(uncertain)
    report.uncertain = len(uncertain)
    report.released = db.session.execute(
        sa.update(OutboxMessage)
        .where(stale, sa.not_(in_flight))
        .values(status=OutboxStatus.PENDING, claimed_by=None, claimed_at=None)
    ).rowcount
    db.session.commit()
    if report.released or report.uncertain:
        log.warning(
            "recovered stale claims: %d released, %d uncertain",
            report.released,
            report.uncertain,
        )
    return report


def claim(worker: str, limit: int, now: datetime | None = None) -> list[OutboxMessage]:
    """Atomically take up to `limit` due messages for this worker.

    With a rate limit, no more than a minute's worth: a pass never holds the
    worker's other jobs up for longer.
    """
    now = now or clock.now()
    rate = current_app.config.get("MAIL_RATE_PER_MINUTE") or 0
    if rate:
        limit = max(1, min(limit, int(rate)))
    # Mail to a receiving domain that refused the sender waits for its pause.
    paused = [
        sa.not_(
            sa.func.lower(sa.func.coalesce(OutboxMessage.to_address, "")).endswith(
                f"@{domain}", autoescape=True
            )
        )
        for domain in deliverability.paused_domains(now)
    ]
    due = (
        sa.select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.due_at <= now,
            *paused,
        )
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = db.session.scalars(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_(due))
        .values(status=OutboxStatus.SENDING, claimed_by=worker, claimed_at=now)
        .returning(OutboxMessage.id)
    ).all()
    db.session.commit()
    if not ids:
        return []
    return db.session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.id)
    ).all()


def dispatch(worker: str, should_stop=lambda: False) -> DispatchReport:
    """One pass: recover dead claims, then send every due message in batches."""
    report = recover_stale_claims()
    if not mail_configured():
        return report
    batch_size = current_app.config["MAIL_BATCH_SIZE"]
    while not should_stop():
        batch = claim(worker, batch_size)
        if not batch:
            break
        result = send_batch(batch, should_stop, worker)
        report.add(result)
        if result.sent == 0 and (result.retried or result.failed or result.deferred):
            break  # the server is refusing; try again on the next pass
    return report
