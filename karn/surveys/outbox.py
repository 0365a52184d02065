"""The outbox: mail is written here with its cause and sent by the worker.

A message goes pending -> sending -> sent, or back to pending with a later
due time after a temporary failure, or to failed. Rows are claimed with one
atomic UPDATE (FOR UPDATE SKIP LOCKED on PostgreSQL, SQLite's single writer
otherwise), so several workers never send the same message.

A claimed batch goes over one SMTP connection in groups of HAND_OVER_GROUP:
the whole group is marked "handed over" in one commit before its first message
goes to the server, and the messages the server accepted are marked sent in one
commit after its last. Two commits per group instead of one per message is what
makes the sender fast, above all on PostgreSQL, where every commit waits for the
disk. The price is paid only when a worker dies without cleaning up (killed,
power lost): recovery cannot tell which messages of the group in flight reached
the server, so it fails all of them, at most HAND_OVER_GROUP, as "uncertain"
for a person to check rather than risk sending one twice. Messages of earlier
groups are sent, those of later groups go back to pending. With a rate limit
the group is a single message: speed does not matter then.
"""

import logging
import smtplib
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.charset import QP, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid, parseaddr
from io import BytesIO

import sqlalchemy as sa
from flask import current_app
from flask_mail import sanitize_address

from karn import clock
from karn.customers.models import Customer
from karn.enums import InvitationStatus, OutboxStatus
from karn.extensions import db, mail
from karn.surveys.models import Invitation, OutboxMessage

log = logging.getLogger(__name__)

# A claim older than this whose worker has not finished is taken to be dead.
CLAIM_LEASE = timedelta(minutes=10)
# Messages marked "handed over" together; the most a dead worker leaves uncertain.
HAND_OVER_GROUP = 10
UNCERTAIN = (
    "The worker stopped while handing this message, or one sent together with "
    "it, to the mail server; it may have been delivered, so it is not sent "
    "again automatically."
)

# Quoted-printable bodies keep every line short and 7-bit, whatever the text:
# servers refuse lines over 998 octets. (Flask-Mail registers utf-8 as raw
# 8-bit, so the charset is set here rather than looked up.)
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP
# compat32 leaves ASCII header values as they are (a List-Unsubscribe URL must
# not become an encoded word) and is several times faster than policy.SMTP.
_WIRE = policy.compat32.clone(linesep="\r\n")


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

    Messages never handed to the server go back to pending; those of the group
    being handed over may have been delivered, so they are failed for a person
    to check.
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


def _header(value) -> str | Header:
    value = str(value)
    if "\r" in value or "\n" in value:
        raise ValueError(f"line break in a header value: {value!r}")
    return value if value.isascii() else Header(value, "utf-8")


def render(message: OutboxMessage) -> bytes:
    """The message as handed to the server, with its stable Message-ID."""
    text = MIMEText(message.body_text or "", "plain", _UTF8, policy=_WIRE)
    if message.body_html:
        mime = MIMEMultipart("alternative", policy=_WIRE)
        mime.attach(text)
        mime.attach(MIMEText(message.body_html, "html", _UTF8, policy=_WIRE))
    else:
        mime = text
    if message.subject:
        mime["Subject"] = _header(message.subject)
    mime["From"] = _header(sanitize_address(current_app.config["MAIL_DEFAULT_SENDER"]))
    mime["To"] = _header(sanitize_address(message.to_address))
    mime["Date"] = formatdate(localtime=True)
    mime["Message-ID"] = message.message_id
    extra = {"X-Karn-Message": str(message.id), **(message.headers or {})}
    for name, value in extra.items():
        mime[name] = _header(value)
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_WIRE).flatten(mime)
    return out.getvalue()


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


def _after_sent(kind: str, invitation_id: int | None, sent_at: datetime) -> None:
    """An invitation or reminder has left: its invitation says so."""
    if invitation_id is None:
        return
    invitation = db.session.get(Invitation, invitation_id)
    if kind == "invitation" and invitation.sent_at is None:
        invitation.sent_at = sent_at
        if invitation.status == InvitationStatus.SCHEDULED:
            invitation.status = InvitationStatus.SENT
    elif kind == "reminder":
        invitation.last_reminded_at = sent_at
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
    message: OutboxMessage,
    exc: Exception,
    report: DispatchReport,
    give_up: bool = False,
) -> None:
    now = clock.now()
    message.attempts += 1
    message.last_error = _describe(exc)[:2000]
    message.claimed_by = message.claimed_at = None
    max_attempts = current_app.config["MAIL_MAX_ATTEMPTS"]
    if give_up or _is_permanent(exc) or message.attempts >= max_attempts:
        message.status = OutboxStatus.FAILED
        report.failed += 1
        _after_failure(message, permanent=_is_permanent(exc))
    else:
        message.status = OutboxStatus.PENDING
        message.due_at = now + _backoff(message.attempts)
        report.retried += 1
    report.errors.append(f"{message.to_address}: {message.last_error}")


def _release(outgoing: list["_Outgoing"]) -> None:
    """Give back messages known not to have reached the server."""
    ids = [item.id for item in outgoing]
    if ids:
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(
                status=OutboxStatus.PENDING,
                claimed_by=None,
                claimed_at=None,
                handed_over_at=None,
            ),
            execution_options={"synchronize_session": False},
        )


@dataclass
class _Outgoing:
    """A claimed message ready for the server: what sending it needs."""

    message: OutboxMessage
    id: int
    kind: str
    invitation_id: int | None
    envelope_to: str
    data: bytes


def _prepare(messages: list[OutboxMessage], report: DispatchReport) -> list[_Outgoing]:
    """Render each message once; one that cannot be rendered fails unsent."""
    outgoing = []
    for message in messages:
        try:
            envelope_to = sanitize_address(message.to_address)
            data = render(message)
        except (ValueError, TypeError, UnicodeError) as exc:
            _fail_or_retry(message, exc, report, give_up=True)
            continue
        outgoing.append(
            _Outgoing(
                message=message,
                id=message.id,
                kind=message.kind,
                invitation_id=message.invitation_id,
                envelope_to=envelope_to,
                data=data,
            )
        )
    return outgoing


def _mark_handed_over(group: list[_Outgoing]) -> None:
    db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_([item.id for item in group]))
        .values(handed_over_at=clock.now()),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()


def _mark_sent(accepted: list[tuple[_Outgoing, datetime]]) -> None:
    """Record what the server accepted (the caller commits)."""
    if not accepted:
        return
    table = OutboxMessage.__table__
    db.session.execute(
        table.update()
        .where(table.c.id == sa.bindparam("sent_id"))
        .values(
            status=OutboxStatus.SENT,
            sent_at=sa.bindparam("sent_time"),
            claimed_by=None,
        ),
        [{"sent_id": item.id, "sent_time": when} for item, when in accepted],
    )
    for item, when in accepted:
        _after_sent(item.kind, item.invitation_id, when)


def send_batch(
    messages: list[OutboxMessage], should_stop=lambda: False
) -> DispatchReport:
    """Send claimed messages over one SMTP connection, a group at a time."""
    report = DispatchReport()
    if not messages:
        return report
    envelope_from = sanitize_address(
        current_app.config.get("MAIL_ENVELOPE_FROM")
        or current_app.config["MAIL_DEFAULT_SENDER"]
    )
    rate = current_app.config.get("MAIL_RATE_PER_MINUTE") or 0
    pause = 60.0 / rate if rate else 0.0
    group_size = 1 if pause else HAND_OVER_GROUP
    pending = _prepare(messages, report)
    try:
        connection = mail.connect().__enter__()
    except (OSError, smtplib.SMTPException) as exc:
        # The server cannot be reached: everything waits for a later pass.
        for item in pending:
            _fail_or_retry(item.message, exc, report)
        db.session.commit()
        return report
    send = connection.host.sendmail
    group: list[_Outgoing] = []  # marked handed over, not yet tried
    accepted: list[tuple[_Outgoing, datetime]] = []  # accepted, not yet marked
    try:
        while pending and not should_stop():
            group, pending = pending[:group_size], pending[group_size:]
            # Committed before the first hand-over, so a crash leaves a trace
            # of every message that may be in flight.
            _mark_handed_over(group)
            broken = False
            while group and not should_stop():
                item = group.pop(0)
                try:
                    send(envelope_from, [item.envelope_to], item.data)
                except smtplib.SMTPServerDisconnected as exc:
                    _fail_or_retry(item.message, exc, report)
                    broken = True  # the connection is gone
                    break
                except smtplib.SMTPException as exc:
                    # Before OSError, which SMTPException is a kind of: a
                    # refused address leaves the connection fit for the rest.
                    _fail_or_retry(item.message, exc, report)
                    if (
                        isinstance(exc, smtplib.SMTPResponseException)
                        and exc.smtp_code == 421
                    ):
                        broken = True  # the server is closing the connection
                        break
                    continue
                except OSError as exc:
                    _fail_or_retry(item.message, exc, report)
                    broken = True  # the connection is gone
                    break
                accepted.append((item, clock.now()))
                report.sent += 1
            _mark_sent(accepted)
            accepted = []
            # The rest of an interrupted group was never tried.
            _release(group)
            group = []
            db.session.commit()
            if broken:
                break  # the rest waits for the next pass
            if pause:
                time.sleep(pause)
    finally:
        # Also on an unexpected error: what was accepted is recorded, what was
        # never tried goes back. Only a message whose hand-over raised stays
        # "sending", to be failed as uncertain by recovery.
        _mark_sent(accepted)
        _release(group + pending)
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
