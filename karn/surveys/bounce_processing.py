"""Acting on returned mail: match bounces to the outbox and update customers."""

# The parser (bounces.py) says what a returned mail is; this module decides
# what it means for Karn and reads the mailbox it arrives in.
#
# - Each failed recipient is acted on by its reason's effect (see
#   bounce_effects): an address that cannot receive mail is undeliverable at
#   once, a full or disabled mailbox counts toward BOUNCE_SOFT_LIMIT, a
#   refusal of the sender pauses the receiving domain and never touches the
#   customer. A complaint unsubscribes and suppresses the customer at once.
# - A delay warning ("still trying") is recorded but not counted: the same
#   message may still be delivered, or fail later and be counted then.
# - Auto-replies change nothing; mail that is not recognised is reported as
#   such, never guessed into a verdict.
# - Every returned mail handled is written to the audit log ("mail.bounce")
#   with its own Message-ID. That entry is what makes processing idempotent
#   without a table of its own: a mail whose entry exists is a duplicate.

import email.parser
import email.policy
import hashlib
import imaplib
import logging
import re
import ssl as ssl_module
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app

from karn import clock
from karn.accounts import audit
from karn.accounts.models import AuditEntry
from karn.customers.models import Customer
from karn.enums import OutboxStatus
from karn.extensions import db
from karn.surveys import bounce_effects, bounces, delivery, links, mail_reasons
from karn.surveys.bounce_effects import BounceOutcome
from karn.surveys.models import OutboxMessage

log = logging.getLogger(__name__)

AUDIT_ACTION = "mail.bounce"
# Matching by address alone is a guess, so it only considers mail sent
# recently: most bounces arrive within minutes, and MTAs give up retrying
# after about five days.
RECIPIENT_WINDOW = timedelta(days=7)
# Seconds between two polls of the mailbox by the worker, and the most
# messages one poll handles, so a backlog does not hold up sending mail.
DEFAULT_IMAP_INTERVAL = 300
IMAP_BATCH = 200
IMAP_TIMEOUT = 60

# What happened to one returned mail.
APPLIED = "applied"  # matched; its effects (if any) are applied
UNMATCHED = "unmatched"  # a bounce, but for no message we know
DUPLICATE = "duplicate"  # handled before
IGNORED = "ignored"  # mail, but neither a bounce nor an auto-reply
UNREADABLE = "unreadable"  # not mail at all, or it could not be read
UNSUBSCRIBE = "unsubscribe"  # a List-Unsubscribe mailto: request

# The subject a mail client writes for the mailto: of List-Unsubscribe.
_UNSUBSCRIBE_SUBJECT = re.compile(r"^\s*unsubscribe\s+(\S+)\s*$", re.IGNORECASE)


class MailboxError(Exception):
    """The bounce mailbox could not be reached or read."""


# How a report names each failure's effect.
_EFFECT_COUNTS = {
    mail_reasons.ADDRESS_DEAD: "address_dead",
    mail_reasons.MAILBOX_STATE: "mailbox",
    mail_reasons.SENDER_REFUSED: "sender_refused",
    mail_reasons.CONNECTION: "connection",
}
_COUNTS = (
    "address_dead",
    "mailbox",
    "sender_refused",
    "connection",
    "delayed",
    "complaints",
    "autoreply",
    "unmatched",
    "duplicate",
    "ignored",
    "unreadable",
    "unsubscribed",
)


@dataclass
class Report:
    """Counts over a run of returned mails (each counted once, a failure by
    the worst effect among its recipients)."""

    address_dead: int = 0
    mailbox: int = 0
    sender_refused: int = 0
    connection: int = 0
    delayed: int = 0
    complaints: int = 0
    autoreply: int = 0
    unmatched: int = 0
    duplicate: int = 0
    ignored: int = 0
    unreadable: int = 0
    unsubscribed: int = 0
    undeliverable: int = 0
    cancelled: int = 0
    paused: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Every returned mail looked at."""
        return sum(getattr(self, name) for name in _COUNTS)

    def add(self, outcome: BounceOutcome) -> None:
        """Count one outcome."""
        if outcome.result == APPLIED:
            if outcome.kind == bounces.FAILURE:
                name = _EFFECT_COUNTS.get(outcome.effect, "mailbox")
            else:
                name = {
                    bounces.DELAY: "delayed",
                    bounces.COMPLAINT: "complaints",
                    bounces.AUTOREPLY: "autoreply",
                }[outcome.kind]
        else:
            name = {
                UNMATCHED: "unmatched",
                DUPLICATE: "duplicate",
                IGNORED: "ignored",
                UNREADABLE: "unreadable",
                UNSUBSCRIBE: "unsubscribed",
            }[outcome.result]
        setattr(self, name, getattr(self, name) + 1)
        self.undeliverable += len(outcome.undeliverable)
        self.cancelled += outcome.cancelled
        self.paused += len(outcome.paused)

    def merge(self, other: "Report") -> None:
        """Add another report's counts and errors to this one."""
        for name in self.__dataclass_fields__:
            if name != "errors":
                setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)

    def summary(self) -> str:
        """One line for people and logs."""
        return (
            f"address dead {self.address_dead}, mailbox {self.mailbox}, "
            f"sender refused {self.sender_refused}, "
            f"connection {self.connection}, delayed {self.delayed}, "
            f"complaints {self.complaints}, autoreply {self.autoreply}, "
            f"unmatched {self.unmatched}, duplicate {self.duplicate}, "
            f"not recognised {self.ignored}, unreadable {self.unreadable}, "
            f"unsubscribe requests {self.unsubscribed}; "
            f"marked undeliverable {self.undeliverable}, "
            f"cancelled mail {self.cancelled}, domains paused {self.paused}"
        )


# --- one returned mail --------------------------------------------------------


def process_bounce(raw: bytes) -> BounceOutcome:
    """Match one returned mail and apply it; flushes, the caller commits."""
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
        bytes(raw)
    )
    if not headers.keys():
        return BounceOutcome(UNREADABLE, reason="no mail headers")
    unsubscribe = _unsubscribe_request(headers)
    if unsubscribe is not None:
        return unsubscribe
    bounce = bounces.parse_bounce(raw, _envelope_from())
    if bounce is None:
        return BounceOutcome(IGNORED, reason="not recognised as returned mail")
    worst = bounce.worst
    outcome = BounceOutcome(
        APPLIED,
        kind=bounce.kind,
        effect=worst.effect if worst else None,
        key=_bounce_key(headers, raw),
        reason=bounce.reason,
    )
    messages, outcome.matched_by = _find_messages(bounce)
    outcome.outbox_ids = [m.id for m in messages]
    # Locked before the duplicate check, so that two workers handling the same
    # mail at once take turns and the second sees the first one's entry.
    customers = _lock_customers({m.customer_id for m in messages} - {None})
    outcome.customer_ids = [c.id for c in customers]
    if _seen_before(outcome.key):
        outcome.result = DUPLICATE
        return outcome
    by_id = {c.id: c for c in customers}
    if not messages:
        outcome.result = UNMATCHED
    elif bounce.kind == bounces.COMPLAINT:
        bounce_effects.apply_complaint(bounce, messages, by_id, outcome)
    elif bounce.kind in (bounces.FAILURE, bounces.DELAY):
        bounce_effects.apply_failure(bounce, messages, by_id, outcome)
    audit.record(
        AUDIT_ACTION,
        customers[0] if len(customers) == 1 else None,
        bounce=outcome.key,
        result=outcome.result,
        kind=bounce.kind,
        effect=outcome.effect,
        status=bounce.status,
        reason=bounce.reason,
        recipients=bounce.recipients[:10],
        matched_by=outcome.matched_by,
        outbox=outcome.outbox_ids,
        customers=outcome.customer_ids,
        undeliverable=outcome.undeliverable or None,
        unsubscribed=outcome.unsubscribed or None,
        paused=outcome.paused or None,
    )
    db.session.flush()
    return outcome


def _unsubscribe_request(headers) -> BounceOutcome | None:
    """A mail sent through the List-Unsubscribe mailto: link: stop their mail."""
    match = _UNSUBSCRIBE_SUBJECT.match(str(headers.get("Subject", "")))
    if not match:
        return None
    customer_id = links.customer_of_unsubscribe_token(match.group(1))
    customer = db.session.get(Customer, customer_id) if customer_id else None
    if customer is None:
        return BounceOutcome(
            IGNORED, reason="unsubscribe request with an unknown token"
        )
    delivery.unsubscribe(customer)
    audit.record("mail.unsubscribe", customer, channel="mailto")
    return BounceOutcome(UNSUBSCRIBE, customer_ids=[customer.id], reason="unsubscribe")


def _envelope_from() -> str | None:
    """Our own bounce address; VERP ids are only trusted on it."""
    config = current_app.config
    # Without an envelope sender, bounces go to the From address.
    return config.get("MAIL_ENVELOPE_FROM") or config.get("MAIL_DEFAULT_SENDER")


def _bounce_key(headers, raw: bytes) -> str:
    message_id = re.search(r"<[^<>\s]+>", str(headers.get("Message-ID") or ""))
    if message_id and len(message_id.group()) <= 250:
        return message_id.group()
    # No usable Message-ID: the content itself, with line ends as a mailbox
    # and a file may differ in them.
    normalised = bytes(raw).replace(b"\r\n", b"\n")
    return "sha256:" + hashlib.sha256(normalised).hexdigest()


def _find_messages(bounce: bounces.Bounce) -> tuple[list[OutboxMessage], str | None]:
    message_ids, outbox_ids = bounces.match_keys(bounce)
    if outbox_ids:
        found = db.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.id.in_(outbox_ids))
            .order_by(OutboxMessage.id)
        ).all()
        if found:
            return list(found), "outbox_id"
    if message_ids:
        found = db.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.message_id.in_(message_ids))
            .order_by(OutboxMessage.id)
        ).all()
        if found:
            return list(found), "message_id"
    recipients = [r.lower() for r in bounce.recipients if r]
    if recipients:
        since = clock.now() - RECIPIENT_WINDOW
        found = []
        for recipient in recipients:
            latest = db.session.scalar(
                sa.select(OutboxMessage)
                .where(
                    sa.func.lower(OutboxMessage.to_address) == recipient,
                    OutboxMessage.status == OutboxStatus.SENT,
                    OutboxMessage.sent_at >= since,
                )
                .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
                .limit(1)
            )
            if latest is not None and latest not in found:
                found.append(latest)
        if found:
            return found, "recipient"
    return [], None


def _lock_customers(ids: set[int]) -> list[Customer]:
    if not ids:
        return []
    return list(
        db.session.scalars(
            sa.select(Customer)
            .where(Customer.id.in_(ids))
            .order_by(Customer.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def _seen_before(key: str) -> bool:
    return (
        db.session.scalar(
            sa.select(AuditEntry.id)
            .where(
                AuditEntry.action == AUDIT_ACTION,
                AuditEntry.details["bounce"].as_string() == key,
            )
            .limit(1)
        )
        is not None
    )


def _process_and_commit(raw: bytes, name: str, report: Report) -> BounceOutcome | None:
    """Process one mail in its own transaction; None when that failed."""
    try:
        outcome = process_bounce(raw)
        db.session.commit()
    except Exception as exc:
        # One bad message must not stop the rest; nothing of it is kept.
        db.session.rollback()
        log.exception("could not process returned mail %s", name)
        report.unreadable += 1
        report.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        return None
    report.add(outcome)
    if outcome.result == UNREADABLE:
        report.errors.append(f"{name}: {outcome.reason}")
    return outcome


# --- files --------------------------------------------------------------------


def process_files(paths: Iterable[str | Path]) -> Report:
    """Process returned mails saved as files ("-" reads one from standard input)."""
    report = Report()
    for path in paths:
        name = str(path)
        try:
            if name == "-":
                raw = sys.stdin.buffer.read()
            else:
                raw = Path(path).read_bytes()
        except OSError as exc:
            report.unreadable += 1
            report.errors.append(f"{name}: {exc.strerror or exc}")
            continue
        _process_and_commit(raw, name, report)
    return report


# --- IMAP ---------------------------------------------------------------------


def _quote_mailbox(name: str) -> str:
    # imaplib sends arguments as they are; a folder name with a space breaks
    # the command unless quoted.
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(exc: Exception) -> str:
    # imaplib puts the server's reply in its exceptions as bytes.
    detail = exc.args[0] if exc.args else exc
    return detail.decode(errors="replace") if isinstance(detail, bytes) else str(exc)


def _check(response: tuple, what: str) -> list:
    status, data = response
    if status != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode(
            errors="replace"
        )
        raise MailboxError(f"{what} failed: {detail}")
    return data


def _fetched_body(data: list) -> bytes | None:
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            return item[1]
    return None


def process_imap(
    host: str,
    port: int,
    user: str,
    password: str,
    folder: str = "INBOX",
    ssl: bool = True,
    delete: bool = False,
    limit: int | None = None,
) -> Report:
    """Process the unseen mail in an IMAP folder, marking each handled one seen.

    Each message is committed before it is flagged, so a crash between the two
    leaves it unseen; the next run finds it already in the audit log and counts
    it as a duplicate. A message whose processing failed stays unseen for the
    next run. With `delete`, handled bounces and auto-replies are removed;
    other mail stays for a person to read.
    """
    report = Report()
    try:
        if ssl:
            connection = imaplib.IMAP4_SSL(
                host,
                port,
                ssl_context=ssl_module.create_default_context(),
                timeout=IMAP_TIMEOUT,
            )
        else:
            connection = imaplib.IMAP4(host, port, timeout=IMAP_TIMEOUT)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"cannot connect to {host}:{port}: {exc}") from exc
    try:
        try:
            _check(connection.login(user, password), "login")
        except imaplib.IMAP4.error as exc:
            raise MailboxError(f"login as {user!r} failed: {_text(exc)}") from exc
        _check(connection.select(_quote_mailbox(folder)), f"selecting {folder}")
        uids = _check(connection.uid("SEARCH", None, "UNSEEN"), "search")[0].split()
        if limit is not None:
            uids = uids[:limit]
        deleted = False
        for uid in uids:
            name = f"{folder} uid {uid.decode()}"
            # PEEK: the message is only flagged seen once its outcome is committed.
            data = _check(connection.uid("FETCH", uid, "(BODY.PEEK[])"), "fetch")
            raw = _fetched_body(data)
            if raw is None:
                continue  # removed by someone else since the search
            outcome = _process_and_commit(raw, name, report)
            if outcome is None:
                continue
            _check(connection.uid("STORE", uid, "+FLAGS.SILENT", r"(\Seen)"), "store")
            if delete and outcome.result in (APPLIED, UNMATCHED, DUPLICATE):
                _check(
                    connection.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)"),
                    "store",
                )
                deleted = True
        if deleted:
            _check(connection.expunge(), "expunge")
        connection.close()
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"{host}:{port}: {_text(exc)}") from exc
    finally:
        try:
            connection.logout()
        except (OSError, imaplib.IMAP4.error):
            pass
    return report


def imap_configured() -> bool:
    """True when a bounce mailbox is set (BOUNCE_IMAP_HOST)."""
    return bool(current_app.config.get("BOUNCE_IMAP_HOST"))


def process_configured_mailbox(limit: int | None = None) -> Report:
    """Process the bounce mailbox named by the BOUNCE_IMAP_* settings."""
    config = current_app.config
    if not imap_configured():
        raise MailboxError("no bounce mailbox is configured (KARN_BOUNCE_IMAP_HOST)")
    return process_imap(
        config["BOUNCE_IMAP_HOST"],
        int(config.get("BOUNCE_IMAP_PORT") or 993),
        config.get("BOUNCE_IMAP_USER") or "",
        config.get("BOUNCE_IMAP_PASSWORD") or "",
        folder=config.get("BOUNCE_IMAP_FOLDER") or "INBOX",
        ssl=_setting_bool(config.get("BOUNCE_IMAP_SSL"), True),
        delete=_setting_bool(config.get("BOUNCE_IMAP_DELETE"), False),
        limit=limit,
    )


def _setting_bool(value, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


# --- the worker and the command line ------------------------------------------

_LAST_POLL = "karn.bounces.last_poll"


def run_bounce_job(app: Flask, force: bool = False) -> Report | None:
    """Poll the bounce mailbox when it is configured and due; never raises."""
    if not app.config.get("BOUNCE_IMAP_HOST"):
        return None
    interval = float(app.config.get("BOUNCE_IMAP_INTERVAL") or DEFAULT_IMAP_INTERVAL)
    last = app.extensions.get(_LAST_POLL)
    if not force and last is not None and time.monotonic() - last < interval:
        return None
    with app.app_context():
        try:
            report = process_configured_mailbox(limit=IMAP_BATCH)
        except Exception as exc:
            # A mailbox that is down must not stop the worker sending mail.
            log.warning("bounce mailbox not processed: %s", exc)
            app.extensions[_LAST_POLL] = time.monotonic()
            return None
        finally:
            db.session.remove()
    # A full batch means more is waiting: poll again on the next pass.
    if report.total < IMAP_BATCH:
        app.extensions[_LAST_POLL] = time.monotonic()
    if report.total:
        log.info("bounces: %s", report.summary())
    return report


@click.command("bounces")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--imap", is_flag=True, help="Also read the BOUNCE_IMAP_* mailbox.")
def bounces_command(files: tuple[str, ...], imap: bool) -> None:
    """Process returned mail from FILES ("-" for standard input) or --imap."""
    if not files and not imap:
        raise click.UsageError("give one or more FILES, or --imap")
    report = process_files(files) if files else Report()
    if imap:
        try:
            mailbox = process_configured_mailbox()
        except MailboxError as exc:
            raise click.ClickException(str(exc)) from exc
        report.merge(mailbox)
    click.echo(report.summary())
    for error in report.errors:
        click.echo(f"  {error}", err=True)
