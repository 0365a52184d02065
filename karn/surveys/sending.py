"""One batch of claimed mail over one SMTP connection (see karn.surveys.outbox).

Renders each message once (karn.surveys.wire), marks a group "handed over"
before it goes to the server and "sent" after, renews the claim while it works,
and classifies every failure (karn.surveys.mail_failures) to decide what it
costs whom.
"""

import logging
import smtplib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_mail import sanitize_address

from karn import clock
from karn.customers.models import Customer
from karn.enums import InvitationStatus, OutboxStatus
from karn.extensions import db
from karn.formatting import stored_text
from karn.surveys import deliverability, mail_failures
from karn.surveys.mail_failures import Failure
from karn.surveys.models import Invitation, OutboxMessage
from karn.surveys.wire import render

log = logging.getLogger("karn.surveys.outbox")


# After the server could not be reached or refused Karn itself.
CONNECTION_RETRY = timedelta(minutes=1)


# After one receiving side refused Karn: the wait doubles with the mail's age.
DEFER_FIRST = timedelta(minutes=15)


DEFER_LONGEST = timedelta(hours=24)


# How long mail other than invitations and reminders is worth sending late.
USEFUL_FOR = timedelta(days=2)
TOO_LATE = stored_text("Not sent: it could not go out while it was useful.")()


# Messages marked "handed over" together; the most a dead worker leaves uncertain.
HAND_OVER_GROUP = 10


@dataclass
class DispatchReport:
    """What one pass of the sender did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    uncertain: int = 0
    # Waiting without using up attempts: the server or the receiving side
    # refused Karn, or could not be reached.
    deferred: int = 0
    # Past their useful time: never sent.
    cancelled: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: "DispatchReport") -> None:
        names = ("sent", "retried", "failed", "released", "uncertain")
        for name in (*names, "deferred", "cancelled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)


def _backoff(attempts: int) -> timedelta:
    # 1, 2, 4, ... minutes, at most six hours.
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def classify(exc: Exception, stage: str) -> Failure:
    """What an SMTP error says, where in the conversation it came."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, msg = next(iter(exc.recipients.values()))
        return mail_failures.classify(code, _text(msg), mail_failures.RCPT)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        stage = mail_failures.MAIL_FROM
    elif isinstance(exc, smtplib.SMTPDataError):
        stage = mail_failures.DATA
    elif isinstance(exc, smtplib.SMTPAuthenticationError):
        stage = mail_failures.LOGIN
    elif isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPHeloError):
        stage = mail_failures.GREETING
    if isinstance(exc, smtplib.SMTPResponseException):
        return mail_failures.classify(exc.smtp_code, _text(exc.smtp_error), stage)
    # No reply at all: refused connection, time-out, dropped connection.
    return mail_failures.classify(None, f"{type(exc).__name__}: {exc}", stage)


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{addr}: {code} {_text(msg)}"
            for addr, (code, msg) in exc.recipients.items()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"


def _per_row(column: sa.Column, values: dict[int, object]) -> sa.ColumnElement:
    """A column's new value for each row, by id: many rows in one UPDATE (the
    funnel's triggers run once per statement, not per row)."""
    whens = {key: sa.literal(value, column.type) for key, value in values.items()}
    return sa.case(whens, value=column.table.c.id)


def _after_sent(sent: Iterable[tuple[str, int | None, datetime]]) -> None:
    """Invitations and reminders that have left, as (kind, invitation, when):
    their invitations say so, with one statement per kind."""
    table = Invitation.__table__
    status = table.c.status
    invitations: dict[int, datetime] = {}
    reminders: dict[int, datetime] = {}
    for kind, invitation_id, when in sent:
        if invitation_id is None:
            continue
        if kind == "invitation":
            invitations.setdefault(invitation_id, when)
        elif kind == "reminder":
            reminders[invitation_id] = when

    def becomes(before: InvitationStatus, after: InvitationStatus):
        return sa.case((status == before, sa.literal(after, status.type)), else_=status)

    if invitations:
        db.session.execute(
            table.update()
            .where(table.c.id.in_(list(invitations)), table.c.sent_at.is_(None))
            .values(
                sent_at=_per_row(table.c.sent_at, invitations),
                status=becomes(InvitationStatus.SCHEDULED, InvitationStatus.SENT),
            )
        )
    if reminders:
        db.session.execute(
            table.update()
            .where(table.c.id.in_(list(reminders)))
            .values(
                last_reminded_at=_per_row(table.c.last_reminded_at, reminders),
                status=becomes(InvitationStatus.SENT, InvitationStatus.REMINDED),
            )
        )


# Told about mail of their kinds that left or failed for good, in the
# transaction that records it: (kind, customer id, "sent" or "failed").
_finished_listeners: list[tuple[frozenset, Callable[[list], None]]] = []


def on_finished(kinds: Iterable[str], listener: Callable[[list], None]) -> None:
    """Call ``listener([(kind, customer_id, "sent" | "failed"), ...])`` for
    mail of these kinds once it was sent or failed for good."""
    if all(known is not listener for _k, known in _finished_listeners):
        _finished_listeners.append((frozenset(kinds), listener))


def _finished(results: Iterable[tuple[str, int | None, str]]) -> None:
    results = list(results)
    for kinds, listener in _finished_listeners:
        mine = [r for r in results if r[0] in kinds]
        if mine:
            listener(mine)


def _after_failure(message: OutboxMessage, failure: Failure | None) -> None:
    """A message could not be delivered: its invitation failed. A refusal that
    says the address is dead counts toward MAIL_FAILURES_BEFORE_UNDELIVERABLE,
    a full or disabled mailbox toward BOUNCE_SOFT_LIMIT; nothing else touches
    the customer."""
    if message.invitation_id is not None:
        invitation = db.session.get(Invitation, message.invitation_id)
        if invitation.status in (InvitationStatus.SCHEDULED, InvitationStatus.SENT):
            invitation.status = InvitationStatus.FAILED
            invitation.closed_at = clock.now()
    if failure is None or not failure.touches_customer or not failure.permanent:
        return
    if message.customer_id is None:
        return
    customer = db.session.get(Customer, message.customer_id)
    customer.delivery_failures += 1
    config = current_app.config
    if failure.kind == mail_failures.ADDRESS_DEAD:
        limit = config["MAIL_FAILURES_BEFORE_UNDELIVERABLE"]
    else:
        limit = config.get("BOUNCE_SOFT_LIMIT") or 3
    if customer.delivery_failures >= max(1, int(limit)) and customer.bounced_at is None:
        customer.bounced_at = clock.now()
        log.info("customer %s marked undeliverable: %s", customer.id, failure.kind)


def _fail_or_retry(
    message: OutboxMessage,
    exc: Exception,
    report: DispatchReport,
    failure: Failure | None = None,
) -> None:
    """Record a failed try: retried later, or failed for good. Without a
    classification (a message that cannot even be rendered) it fails at once."""
    now = clock.now()
    message.attempts += 1
    message.last_error = _describe(exc)[:2000]
    message.claimed_by = message.claimed_at = None
    max_attempts = current_app.config["MAIL_MAX_ATTEMPTS"]
    if failure is None or failure.permanent or message.attempts >= max_attempts:
        message.status = OutboxStatus.FAILED
        report.failed += 1
        _after_failure(message, failure)
        _finished([(message.kind, message.customer_id, "failed")])
    else:
        message.status = OutboxStatus.PENDING
        message.due_at = now + _backoff(message.attempts)
        report.retried += 1
    report.errors.append(f"{message.to_address}: {message.last_error}")


def _defer(
    messages: list[OutboxMessage], exc: Exception, report: DispatchReport, wait
) -> None:
    """Put messages back to wait, without using up an attempt: the fault was
    the server's or the receiving side's refusal of Karn, not theirs."""
    now = clock.now()
    error = _describe(exc)[:2000]
    for message in messages:
        message.status = OutboxStatus.PENDING
        message.claimed_by = message.claimed_at = message.handed_over_at = None
        message.last_error = error
        message.due_at = now + wait(message, now)
        report.deferred += 1
    report.errors.append(error)


def _soon(_message: OutboxMessage, _now: datetime) -> timedelta:
    return CONNECTION_RETRY


def _doubling(message: OutboxMessage, now: datetime) -> timedelta:
    """15 minutes, then as long as the mail has waited so far, up to a day."""
    waited = now - (message.created_at or now)
    return min(max(waited, DEFER_FIRST), DEFER_LONGEST)


def _held_by(worker: str, outgoing: list["_Outgoing"]) -> sa.ColumnElement:
    """Those of these messages that this worker still holds."""
    return sa.and_(
        OutboxMessage.id.in_([item.id for item in outgoing]),
        OutboxMessage.claimed_by == worker,
        OutboxMessage.status == OutboxStatus.SENDING,
    )


def _release(outgoing: list["_Outgoing"], worker: str) -> None:
    """Give back messages known not to have reached the server."""
    if outgoing:
        db.session.execute(
            sa.update(OutboxMessage)
            .where(_held_by(worker, outgoing))
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
    customer_id: int | None
    envelope_to: str
    data: bytes


def _useful_until(messages: list[OutboxMessage]) -> dict[int, datetime | None]:
    """Until when each message is worth sending: an invitation's or reminder's
    link must still be valid; other mail, USEFUL_FOR after it was written."""
    invitation_ids = {m.invitation_id for m in messages if m.invitation_id}
    links = {}
    if invitation_ids:
        links = dict(
            db.session.execute(
                sa.select(Invitation.id, Invitation.expires_at).where(
                    Invitation.id.in_(invitation_ids)
                )
            ).all()
        )
    return {
        m.id: links.get(m.invitation_id)
        if m.invitation_id
        else (m.created_at + USEFUL_FOR if m.created_at else None)
        for m in messages
    }


def _prepare(messages: list[OutboxMessage], report: DispatchReport) -> list[_Outgoing]:
    """Render each message once; one that cannot be rendered fails unsent, one
    past its useful time is cancelled."""
    outgoing = []
    now = clock.now()
    until = _useful_until(messages)
    try:
        sender = sanitize_address(current_app.config["MAIL_DEFAULT_SENDER"])
    except (ValueError, TypeError, UnicodeError):
        sender = None  # rendering says so, for each message
    for message in messages:
        if until[message.id] is not None and until[message.id] <= now:
            message.status = OutboxStatus.CANCELLED
            message.claimed_by = message.claimed_at = None
            message.last_error = TOO_LATE
            report.cancelled += 1
            continue
        try:
            envelope_to = sanitize_address(message.to_address)
            data = render(message, envelope_to, sender)
        except (ValueError, TypeError, UnicodeError) as exc:
            _fail_or_retry(message, exc, report)
            continue
        outgoing.append(
            _Outgoing(
                message=message,
                id=message.id,
                kind=message.kind,
                invitation_id=message.invitation_id,
                customer_id=message.customer_id,
                envelope_to=envelope_to,
                data=data,
            )
        )
    return outgoing


def _hand_over(group: list[_Outgoing], worker: str) -> list[_Outgoing]:
    """Mark a group handed over, in one commit, and return what this worker
    still holds: only those may go to the server."""
    now = clock.now()
    held = set(
        db.session.scalars(
            sa.update(OutboxMessage)
            .where(_held_by(worker, group))
            .values(handed_over_at=now, claimed_at=now)
            .returning(OutboxMessage.id),
            execution_options={"synchronize_session": False},
        )
    )
    db.session.commit()
    lost = [item for item in group if item.id not in held]
    if lost:
        log.warning("%d claimed messages were taken back; not sent", len(lost))
    return [item for item in group if item.id in held]


def _renew(outgoing: list[_Outgoing], worker: str) -> None:
    """Extend the lease on the messages still to be sent (the caller commits)."""
    if outgoing:
        db.session.execute(
            sa.update(OutboxMessage)
            .where(_held_by(worker, outgoing))
            .values(claimed_at=clock.now()),
            execution_options={"synchronize_session": False},
        )


def _mark_sent(accepted: list[tuple[_Outgoing, datetime]], worker: str) -> None:
    """Record what the server accepted (the caller commits)."""
    if not accepted:
        return
    table = OutboxMessage.__table__
    when = {item.id: at for item, at in accepted}
    db.session.execute(
        table.update()
        .where(table.c.id.in_(list(when)), table.c.claimed_by == worker)
        .values(
            status=OutboxStatus.SENT,
            sent_at=_per_row(table.c.sent_at, when),
            claimed_by=None,
        )
    )
    _after_sent((item.kind, item.invitation_id, at) for item, at in accepted)
    _finished((item.kind, item.customer_id, "sent") for item, _at in accepted)


def connect() -> smtplib.SMTP:
    """An SMTP session with the configured server, every command time-limited."""
    config = current_app.config
    timeout = float(config.get("MAIL_TIMEOUT") or 20)
    server, port = config["MAIL_SERVER"], config["MAIL_PORT"]
    if config.get("MAIL_USE_SSL"):
        host = smtplib.SMTP_SSL(server, port, timeout=timeout)
    else:
        host = smtplib.SMTP(server, port, timeout=timeout)
    try:
        if config.get("MAIL_USE_TLS"):
            host.starttls()
        if config.get("MAIL_USERNAME") and config.get("MAIL_PASSWORD"):
            host.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
    except BaseException:
        host.close()
        raise
    return host


def _quit(host: smtplib.SMTP) -> None:
    try:
        host.quit()
    except (OSError, smtplib.SMTPException):
        host.close()


class _Session:
    """One batch over one connection: what is still to go, and the lease."""

    def __init__(self, worker: str, pending: list[_Outgoing]):
        self.worker = worker
        self.pending = pending
        self.renewed = time.monotonic()
        lease = current_app.config.get("MAIL_CLAIM_LEASE_SECONDS") or 180
        self.renew_every = float(lease) / 6

    def renew_if_due(self) -> None:
        if time.monotonic() - self.renewed >= self.renew_every:
            _renew(self.pending, self.worker)
            db.session.commit()
            self.renewed = time.monotonic()


def send_batch(
    messages: list[OutboxMessage], should_stop=lambda: False, worker: str = ""
) -> DispatchReport:
    """Send claimed messages over one SMTP connection, a group at a time."""
    report = DispatchReport()
    if not messages:
        return report
    worker = worker or messages[0].claimed_by
    envelope_from = sanitize_address(
        current_app.config.get("MAIL_ENVELOPE_FROM")
        or current_app.config["MAIL_DEFAULT_SENDER"]
    )
    rate = current_app.config.get("MAIL_RATE_PER_MINUTE") or 0
    pause = 60.0 / rate if rate else 0.0
    group_size = 1 if pause else HAND_OVER_GROUP
    session = _Session(worker, _prepare(messages, report))
    db.session.commit()
    try:
        host = connect()
    except (OSError, smtplib.SMTPException) as exc:
        # Unreachable, or refusing Karn before any address: nobody's fault but
        # the server's or the configuration's. Everything waits, uncharged.
        _defer([item.message for item in session.pending], exc, report, _soon)
        log.warning("mail server: %s", _describe(exc))
        db.session.commit()
        return report
    group: list[_Outgoing] = []  # marked handed over, not yet tried
    accepted: list[tuple[_Outgoing, datetime]] = []  # accepted, not yet marked
    try:
        while session.pending and not should_stop():
            session.renew_if_due()
            group = session.pending[:group_size]
            session.pending = session.pending[group_size:]
            # What the server accepted of the last group is recorded in the
            # commit that hands this one over: one commit per group. Committed
            # before the first hand-over, so a crash leaves a trace of every
            # message that may be in flight.
            _mark_sent(accepted, worker)
            group = _hand_over(group, worker)
            accepted = []
            stop = False
            while group and not should_stop():
                item = group.pop(0)
                try:
                    host.sendmail(envelope_from, [item.envelope_to], item.data)
                except (OSError, smtplib.SMTPException) as exc:
                    stopped_by = exc
                    failure = classify(exc, mail_failures.RCPT)
                    if failure.kind == mail_failures.CONNECTION:
                        # No reply: the message did not reach the server.
                        _defer([item.message], exc, report, _soon)
                        stop = True
                    elif failure.kind == mail_failures.SENDER_REFUSED:
                        # Refused for who sends it: waits, uncharged. Refused at
                        # MAIL FROM, every other message would be too.
                        stop = isinstance(exc, smtplib.SMTPSenderRefused)
                        _defer(
                            [item.message], exc, report, _soon if stop else _doubling
                        )
                        if not stop:
                            # This receiving domain refused Karn: its mail
                            # waits for the pause (deliverability).
                            deliverability.smtp_refusal(
                                item.envelope_to, failure, item.message.customer_id
                            )
                    else:
                        _fail_or_retry(item.message, exc, report, failure)
                        deliverability.smtp_refusal(
                            item.envelope_to, failure, item.message.customer_id
                        )
                    if stop:
                        break
                    continue
                accepted.append((item, clock.now()))
                report.sent += 1
            if stop:
                # Every other message would meet the same: they all wait.
                rest = [item.message for item in group + session.pending]
                if rest:
                    _defer(rest, stopped_by, report, _soon)
                    report.errors.pop()
                group, session.pending = [], []
                break
            # The rest of an interrupted group was never tried.
            _release(group, worker)
            group = []
            if pause:
                _mark_sent(accepted, worker)
                accepted = []
                db.session.commit()
                time.sleep(pause)
    finally:
        # Also on an unexpected error: what was accepted is recorded, what was
        # never tried goes back. Only a message whose hand-over raised stays
        # "sending", to be failed as uncertain by recovery.
        _mark_sent(accepted, worker)
        _release(group + session.pending, worker)
        db.session.commit()
        _quit(host)
    return report
