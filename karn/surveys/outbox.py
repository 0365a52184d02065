"""The outbox: mail is written here with its cause and sent by the worker.

A message goes pending -> sending -> sent, or back to pending with a later
due time after a temporary failure, or to failed. Rows are claimed with one
atomic UPDATE (FOR UPDATE SKIP LOCKED on PostgreSQL, SQLite's single writer
otherwise), so several workers never send the same message.
"""

import logging
import smtplib
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import make_msgid, parseaddr

import sqlalchemy as sa
from flask import current_app
from flask_mail import Message

from karn import clock
from karn.customers.models import Customer
from karn.enums import InvitationStatus, OutboxStatus
from karn.extensions import db, mail
from karn.surveys.models import Invitation, OutboxMessage

log = logging.getLogger(__name__)

# A claim older than this whose worker has not finished is taken to be dead.
CLAIM_LEASE = timedelta(minutes=10)
UNCERTAIN = (
    "The worker stopped while handing this message to the mail server; it may "
    "have been delivered, so it is not sent again automatically."
)


def mail_configured() -> bool:
    """True when an SMTP server is set; otherwise mail is held in the outbox."""
    return bool(current_app.config.get("MAIL_SERVER"))


def _sender_domain() -> str:
    address = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1]
    return address.rpartition("@")[2] or "localhost"


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
        kind=kind,
        to_address=to_address,
        language=language,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        headers=headers or {},
        customer_id=customer_id,
        invitation_id=invitation_id,
        user_id=user_id,
        message_id=make_msgid(domain=_sender_domain()),
        status=OutboxStatus.PENDING if mail_configured() else OutboxStatus.HELD,
        due_at=due_at or clock.now(),
    )
    db.session.add(message)
    db.session.flush()
    return message


@dataclass
class DispatchReport:
    """What one pass of the sender did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    uncertain: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: "DispatchReport") -> None:
        for name in ("sent", "retried", "failed", "released", "uncertain"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)


def recover_stale_claims(now: datetime | None = None) -> DispatchReport:
    """Give back messages whose worker died mid-batch.

    Messages never handed to the server go back to pending; one that was being
    handed over may have been delivered, so it is failed for a person to check.
    """
    now = now or clock.now()
    stale = sa.and_(
        OutboxMessage.status == OutboxStatus.SENDING,
        OutboxMessage.claimed_at < now - CLAIM_LEASE,
    )
    in_flight = sa.and_(
        OutboxMessage.handed_over_at.is_not(None),
        OutboxMessage.handed_over_at >= OutboxMessage.claimed_at,
    )
    report = DispatchReport()
    report.uncertain = db.session.execute(
        sa.update(OutboxMessage)
        .where(stale, in_flight)
        .values(status=OutboxStatus.FAILED, last_error=UNCERTAIN)
    ).rowcount
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
    """Atomically take up to `limit` due messages for this worker."""
    now = now or clock.now()
    due = (
        sa.select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.due_at <= now
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


def to_mail(message: OutboxMessage) -> Message:
    """The Flask-Mail message for an outbox row, with its stable Message-ID."""
    mail_message = Message(
        subject=message.subject or "",
        recipients=[message.to_address],
        body=message.body_text,
        html=message.body_html,
        extra_headers={"X-Karn-Message": str(message.id), **(message.headers or {})},
    )
    mail_message.msgId = message.message_id
    return mail_message


def _backoff(attempts: int) -> timedelta:
    # 1, 2, 4, ... minutes, at most six hours.
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def _is_permanent(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{addr}: {code} {_text(msg)}"
            for addr, (code, msg) in exc.recipients.items()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"


def _after_sent(message: OutboxMessage) -> None:
    """An invitation or reminder has left: its invitation says so."""
    if message.invitation_id is None:
        return
    invitation = db.session.get(Invitation, message.invitation_id)
    if message.kind == "invitation" and invitation.sent_at is None:
        invitation.sent_at = message.sent_at
        if invitation.status == InvitationStatus.SCHEDULED:
            invitation.status = InvitationStatus.SENT
    elif message.kind == "reminder":
        invitation.last_reminded_at = message.sent_at
        if invitation.status == InvitationStatus.SENT:
            invitation.status = InvitationStatus.REMINDED


def _after_failure(message: OutboxMessage, permanent: bool) -> None:
    """A message could not be delivered: its invitation failed, and after enough
    permanent refusals the address is marked undeliverable."""
    if message.invitation_id is not None:
        invitation = db.session.get(Invitation, message.invitation_id)
        if invitation.status in (InvitationStatus.SCHEDULED, InvitationStatus.SENT):
            invitation.status = InvitationStatus.FAILED
            invitation.closed_at = clock.now()
    if permanent and message.customer_id is not None:
        customer = db.session.get(Customer, message.customer_id)
        customer.delivery_failures += 1
        limit = current_app.config["MAIL_FAILURES_BEFORE_UNDELIVERABLE"]
        if customer.delivery_failures >= limit and customer.bounced_at is None:
            customer.bounced_at = clock.now()
            log.info("customer %s marked undeliverable", customer.id)


def _fail_or_retry(
    message: OutboxMessage, exc: Exception, report: DispatchReport
) -> None:
    now = clock.now()
    message.attempts += 1
    message.last_error = _describe(exc)[:2000]
    message.claimed_by = message.claimed_at = None
    max_attempts = current_app.config["MAIL_MAX_ATTEMPTS"]
    if _is_permanent(exc) or message.attempts >= max_attempts:
        message.status = OutboxStatus.FAILED
        report.failed += 1
        _after_failure(message, permanent=_is_permanent(exc))
    else:
        message.status = OutboxStatus.PENDING
        message.due_at = now + _backoff(message.attempts)
        report.retried += 1
    report.errors.append(f"{message.to_address}: {message.last_error}")


def _release(messages: list[OutboxMessage]) -> None:
    for message in messages:
        message.status = OutboxStatus.PENDING
        message.claimed_by = message.claimed_at = None


def send_batch(
    messages: list[OutboxMessage], should_stop=lambda: False
) -> DispatchReport:
    """Send claimed messages over one SMTP connection, marking each as it goes."""
    report = DispatchReport()
    if not messages:
        return report
    envelope_from = current_app.config.get("MAIL_ENVELOPE_FROM")
    rate = current_app.config.get("MAIL_RATE_PER_MINUTE") or 0
    pause = 60.0 / rate if rate else 0.0
    pending = list(messages)
    try:
        connection = mail.connect().__enter__()
    except (OSError, smtplib.SMTPException) as exc:
        # The server cannot be reached: everything waits for a later pass.
        for message in pending:
            _fail_or_retry(message, exc, report)
        db.session.commit()
        return report
    try:
        while pending:
            if should_stop():
                break
            message = pending.pop(0)
            # Committed before the hand-over (together with the previous
            # message's "sent"), so a crash leaves a trace of what was in flight.
            message.handed_over_at = clock.now()
            db.session.commit()
            try:
                connection.send(to_mail(message), envelope_from=envelope_from)
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                _fail_or_retry(message, exc, report)
                break  # the connection is gone; the rest wait for the next pass
            except smtplib.SMTPException as exc:
                _fail_or_retry(message, exc, report)
                if (
                    isinstance(exc, smtplib.SMTPResponseException)
                    and exc.smtp_code == 421
                ):
                    break  # the server is closing the connection
                continue
            message.status = OutboxStatus.SENT
            message.sent_at = clock.now()
            message.claimed_by = None
            report.sent += 1
            _after_sent(message)
            if pause:
                db.session.commit()
                time.sleep(pause)
    finally:
        _release(pending)
        db.session.commit()
        try:
            connection.__exit__(None, None, None)
        except (OSError, smtplib.SMTPException):
            pass
    return report


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
        result = send_batch(batch, should_stop)
        report.add(result)
        if result.sent == 0 and (result.retried or result.failed):
            break  # the server is refusing; try again on the next pass
    return report
