"""Recognise returned mail: delivery status notifications, bounces and auto-replies."""

# Pure parsing, bytes in and plain data out: no Flask and no database. The
# caller matches a `Bounce` to outbox rows by `message_ids` (our stable
# Message-ID), `karn_ids` (the X-Karn-Message header or a VERP envelope sender)
# and decides what to do with it.
#
# Choices a caller needs to know:
#
# - `parse_bounce` returns None for mail that is neither a delivery failure nor
#   an automatic reply, and for notifications that only report success
#   (Action: delivered, relayed or expanded).
# - Automatic replies (out of office and the like) are returned with kind
#   "autoreply" rather than None, so they can still be matched and logged; they
#   are not delivery failures and must not count towards any bounce limit.
#   Their `recipients` holds the address that sent the reply.
# - 5.2.2 (mailbox full) and SMTP 552 without a more specific status are soft:
#   the address exists and usually works again once the owner makes room, even
#   though RFC 3463 calls 5.x.x permanent.
# - 5.7.x (refused by policy, usually a spam filter) is hard, as the server
#   will keep refusing, but the reason says so because the address itself may
#   well exist.
# - A final failure with a 4.x.x status (the server gave up retrying a
#   temporary error) is soft: the message was lost but the address is likely
#   fine.
# - "unknown" is a recognised failure notice whose cause could not be read,
#   including "Action: failed" without any status or reply code.
# - VERP addresses are <local>+<outbox id>@<domain>. Pass `envelope_from` to
#   `parse_bounce` so that only our own base address is trusted.
#
# The classification of status codes and reasons is in `bounce_status`;
# reading MIME parts, headers and addresses, VERP and the matching keys is in
# `bounce_mail`. Everything a caller uses is reachable from this module.

import email
import email.policy
import logging
import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import parseaddr

from karn.surveys.bounce_mail import (
    _ADDRESS,
    VERP_SEPARATOR,
    _addresses,
    _angle_ids,
    _failed_recipients_header,
    _header,
    _human_text,
    _karn_ids,
    _message_ids,
    _original_to,
    _originals,
    _param,
    _parts,
    _text,
    _unique,
    outbox_id_from_verp,
    verp_address,
)
from karn.surveys.bounce_status import (
    _SMTP_CODE,
    _STATUS_IN_TEXT,
    AUTOREPLY,
    HARD,
    SOFT,
    UNKNOWN,
    Kind,
    _classify,
    _reason,
    _refine_status,
    _status_code,
)

__all__ = [
    "Kind",
    "HARD",
    "SOFT",
    "AUTOREPLY",
    "UNKNOWN",
    "VERP_SEPARATOR",
    "RecipientStatus",
    "Bounce",
    "verp_address",
    "outbox_id_from_verp",
    "match_keys",
    "parse_bounce",
]

log = logging.getLogger(__name__)

# Worst first: when recipients in one notice differ, the bounce takes the worst.
_SEVERITY = {HARD: 0, SOFT: 1, UNKNOWN: 2}


@dataclass
class RecipientStatus:
    """The outcome reported for one recipient of the original message."""

    recipient: str
    kind: Kind
    original_recipient: str | None = None
    action: str | None = None
    status: str | None = None
    diagnostic: str | None = None


@dataclass
class Bounce:
    """A returned mail reduced to what is needed to match and act on it."""

    kind: Kind
    recipients: list[str] = field(default_factory=list)
    status: str | None = None
    diagnostic: str | None = None
    message_ids: list[str] = field(default_factory=list)
    karn_ids: list[int] = field(default_factory=list)
    reason: str = ""
    # Every failed or delayed recipient, for notices that name several.
    details: list[RecipientStatus] = field(default_factory=list)

    @property
    def is_failure(self) -> bool:
        """True for delivery failures (hard, soft or unknown), not auto-replies."""
        return self.kind != AUTOREPLY


def match_keys(bounce: Bounce) -> tuple[list[str], list[int]]:
    """The Message-IDs and outbox ids to look a bounce up by, best first."""
    return list(bounce.message_ids), list(bounce.karn_ids)


# --- parsing ----------------------------------------------------------------


def parse_bounce(raw: bytes, envelope_from: str | None = None) -> Bounce | None:
    """Parse one mail; a Bounce for failures and auto-replies, otherwise None."""
    if not isinstance(raw, bytes | bytearray):
        raise TypeError(f"expected bytes, got {type(raw).__name__}")
    if not raw.strip():
        return None
    # A mailbox poll must survive whatever lands in the mailbox, so a parser
    # error on hostile or broken input is logged and reported as None.
    try:
        message = email.message_from_bytes(bytes(raw), policy=email.policy.default)
        return _parse(message, envelope_from)
    except Exception:
        log.warning("could not parse a returned mail", exc_info=True)
        return None


def _parse(message: Message, envelope_from: str | None) -> Bounce | None:
    report = _delivery_status_part(message)
    if report is not None:
        return _from_dsn(message, report, envelope_from)
    if _looks_like_bounce(message):
        return _from_text(message, envelope_from)
    if _looks_like_autoreply(message):
        return _autoreply(message, envelope_from)
    return None


# --- RFC 3464 delivery status notifications ----------------------------------

_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")


def _delivery_status_part(message: Message) -> Message | None:
    for part in _parts(message):
        if part.get_content_type() in _STATUS_TYPES:
            return part
    # Some servers label the machine-readable part text/plain; accept it
    # inside a delivery-status report when it reads like one.
    if _is_report(message):
        for part in _parts(message):
            if part.get_content_type() == "text/plain":
                text = _text(part)
                if re.search(r"(?im)^(final|original)-recipient\s*:", text):
                    return part
    return None


def _is_report(message: Message) -> bool:
    return (
        message.get_content_type() == "multipart/report"
        and (_param(message, "report-type") or "").lower() == "delivery-status"
    )


def _from_dsn(
    message: Message, report: Message, envelope_from: str | None
) -> Bounce | None:
    blocks = _status_blocks(report)
    per_recipient = [b for b in blocks if "final-recipient" in b or "action" in b]
    human = _human_text(message)
    originals = _originals(message)
    details: list[RecipientStatus] = []
    for block in per_recipient:
        action = (block.get("action") or "").strip().lower() or None
        # Successful outcomes are not failures; leave them out.
        if action in ("delivered", "relayed", "expanded"):
            continue
        diagnostic = _clean_diagnostic(block.get("diagnostic-code"))
        status = _status_code(block.get("status"))
        status = _refine_status(status, diagnostic)
        kind = _classify(action, status, diagnostic or "")
        details.append(
            RecipientStatus(
                recipient=_dsn_address(block.get("final-recipient")),
                original_recipient=_dsn_address(block.get("original-recipient"))
                or None,
                kind=kind,
                action=action,
                status=status,
                diagnostic=diagnostic,
            )
        )
    if per_recipient and not details:
        return None
    if not details:
        # A report without per-recipient fields: fall back on the prose.
        return _from_text(message, envelope_from)
    # The explanation a server gives in prose is better than nothing.
    for detail in details:
        if detail.kind == UNKNOWN:
            status = _refine_status(detail.status, _failure_text(human))
            detail.status = status
            detail.kind = _classify(detail.action, status, _failure_text(human))
    worst = min(details, key=lambda d: _SEVERITY[d.kind])
    chosen = [d for d in details if d.kind == worst.kind]
    recipients = _unique(
        (d.original_recipient or d.recipient) for d in chosen if d.recipient
    )
    if not recipients:
        recipients = _failed_recipients_header(message) or _original_to(originals)
    text = " ".join(filter(None, [worst.diagnostic, _failure_text(human)]))
    # Gmail names the original in the per-message fields as well.
    reported = [
        i
        for block in blocks
        if block not in per_recipient
        for i in _angle_ids(block.get("x-original-message-id", ""))
    ]
    return Bounce(
        kind=worst.kind,
        recipients=recipients,
        status=worst.status,
        diagnostic=worst.diagnostic,
        message_ids=_unique(_message_ids(message, originals, human) + reported),
        karn_ids=_karn_ids(message, originals, human, envelope_from),
        reason=_reason(worst.kind, worst.status, worst.action, text),
        details=details,
    )


def _status_blocks(report: Message) -> list[dict[str, str]]:
    payload = report.get_payload()
    if isinstance(payload, list):
        blocks = []
        for sub in payload:
            fields: dict[str, str] = {}
            for name in sub.keys():
                fields.setdefault(name.lower(), _header(sub, name))
            blocks.append(fields)
        return blocks
    return _parse_fields(_text(report))


def _parse_fields(text: str) -> list[dict[str, str]]:
    """Header-style blocks separated by blank lines, with folded lines joined."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
            current, name = {}, None
        elif line[:1] in (" ", "\t") and name:
            current[name] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            name = key.strip().lower()
            current.setdefault(name, value.strip())
    if current:
        blocks.append(current)
    return blocks


def _dsn_address(value: str | None) -> str:
    """The address in 'rfc822; jan@example.com', lower-cased."""
    if not value:
        return ""
    kind, semicolon, address = value.partition(";")
    if not semicolon:
        address = kind
    address = address.strip().strip("<>").strip()
    return address.lower() if "@" in address else ""


def _clean_diagnostic(value: str | None) -> str | None:
    """The server's words, without the 'smtp;' type and folding."""
    if not value:
        return None
    value = re.sub(r"^\s*(smtp|x-[\w.-]+)\s*;\s*", "", value, flags=re.I)
    value = " ".join(value.split())
    return value[:500] or None


# --- plain-text bounces --------------------------------------------------------

_DAEMON_LOCAL = re.compile(
    r"^(mailer-daemon|mailer_daemon|mail-daemon|maildaemon|postmaster|"
    r"microsoftexchange[0-9a-f]*)$",
    re.I,
)
_DAEMON_NAME = re.compile(
    r"mail delivery (system|subsystem)|mail administrator|mailer-daemon", re.I
)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(mail delivery failed"
    r"|undelivered mail returned to sender"
    r"|delivery status notification \((failure|delay)\)"
    r"|undeliverable\s*:|undeliverable mail|undelivered mail"
    r"|returned mail\s*:|failure notice|delivery failure|delivery has failed"
    r"|mail system error|delayed mail|warning: could not send message"
    r"|message delivery (has been )?delayed|delivery delayed"
    r"|onbestelbaar\s*:|niet bezorgd|unzustellbar\s*:|non remis\s*:"
    r"|nicht zustellbar)",
    re.I,
)


def _looks_like_bounce(message: Message) -> bool:
    if _header(message, "X-Failed-Recipients"):
        return True
    if message.get("X-MS-Exchange-Message-Is-Ndr") is not None:
        return True
    if _BOUNCE_SUBJECT.search(_header(message, "Subject")):
        return True
    name, address = parseaddr(_header(message, "From"))
    local = address.rpartition("@")[0] or address
    return bool(_DAEMON_LOCAL.match(local) or _DAEMON_NAME.search(name))


def _from_text(message: Message, envelope_from: str | None) -> Bounce | None:
    human = _human_text(message)
    originals = _originals(message)
    failure = _failure_text(human)
    status = _refine_status(None, failure)
    subject = _header(message, "Subject")
    action = "delayed" if re.search(r"delay", subject, re.I) else None
    kind = _classify(action, status, failure)
    if kind == UNKNOWN and re.search(r"\(success\)|\bdelivered\b", subject, re.I):
        # Success notices from the same daemons are not failures.
        return None
    recipients = _failed_recipients_header(message) or _text_recipients(
        message, failure
    )
    if not recipients:
        recipients = _original_to(originals) or _original_to([_quoted_original(human)])
    diagnostic = _diagnostic_line(failure)
    return Bounce(
        kind=kind,
        recipients=recipients,
        status=status,
        diagnostic=diagnostic,
        message_ids=_message_ids(message, originals, human),
        karn_ids=_karn_ids(message, originals, human, envelope_from),
        reason=_reason(kind, status, action, failure),
        details=[
            RecipientStatus(
                recipient=r, kind=kind, status=status, diagnostic=diagnostic
            )
            for r in recipients
        ],
    )


# Where a plain-text bounce stops explaining and starts quoting the original.
_ORIGINAL_MARKER = re.compile(
    r"^.*("
    r"this is a copy of the message"  # Exim
    r"|below this line is a copy of the message"  # qmail
    r"|original message headers"  # Exchange
    r"|original message follows"
    r"|-+\s*original message\s*-+"  # Gmail (older), Outlook
    r"|message headers? follows?"
    r"|returned message"
    r"|unsent message below"
    r").*$",
    re.I | re.M,
)


def _failure_text(text: str) -> str:
    """The explanatory part of a bounce, without the quoted original."""
    match = _ORIGINAL_MARKER.search(text)
    return text[: match.start()] if match else text


def _quoted_original(text: str) -> Message | None:
    match = _ORIGINAL_MARKER.search(text)
    if not match:
        return None
    quoted = text[match.end() :].lstrip("\r\n")
    return email.message_from_string(quoted, policy=email.policy.default)


def _text_recipients(message: Message, failure: str) -> list[str]:
    """Addresses named in the explanation, minus the notice's own parties."""
    own = {
        address.lower()
        for name in ("From", "To", "Delivered-To", "X-Original-To", "Envelope-To")
        for _, address in _addresses(message, name)
    }
    found = []
    for address in _ADDRESS.findall(failure):
        address = address.lower().strip(".")
        local = address.rpartition("@")[0]
        if address in own or _DAEMON_LOCAL.match(local):
            continue
        found.append(address)
    return _unique(found)


def _diagnostic_line(text: str) -> str | None:
    """The line of a bounce that carries the server's reply code."""
    for pattern in (_STATUS_IN_TEXT, _SMTP_CODE):
        match = pattern.search(text)
        if match:
            start = text.rfind("\n", 0, match.start()) + 1
            end = text.find("\n", match.end())
            line = text[start : end if end >= 0 else None]
            code = _SMTP_CODE.search(line)
            if code:
                # Start at the reply code; what precedes it is a host name.
                line = line[code.start() :]
            # Exchange wraps the reply in '#550 ... ##', qmail writes '(#5.1.1)'.
            line = re.sub(r"#(?=\d)|\s*##+\s*$", "", line.strip())
            line = " ".join(line.split())
            return line[:500] or None
    return None


# --- automatic replies -------------------------------------------------------

_AUTOREPLY_SUBJECT = re.compile(
    r"out of (the )?office|out-of-office|\booo\b|automatic reply|auto[- ]?reply"
    r"|autoresponse|auto[- ]response|away from (the )?office|on vacation"
    r"|automatisch antwoord|afwezig|niet aanwezig|niet op kantoor|vakantie"
    r"|automatische antwort|abwesenheit|r[ée]ponse automatique"
    r"|absent\b|absence",
    re.I,
)


def _looks_like_autoreply(message: Message) -> bool:
    auto_submitted = _header(message, "Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    for name in ("X-Autoreply", "X-Autorespond", "X-Autogenerated"):
        if message.get(name) is not None:
            return True
    precedence = _header(message, "Precedence").strip().lower()
    if precedence in ("auto_reply", "auto-reply"):
        return True
    return bool(_AUTOREPLY_SUBJECT.search(_header(message, "Subject")))


def _autoreply(message: Message, envelope_from: str | None) -> Bounce:
    sender = [a.lower() for _, a in _addresses(message, "From") if "@" in a]
    human = _human_text(message)
    return Bounce(
        kind=AUTOREPLY,
        recipients=_unique(sender),
        message_ids=_message_ids(message, [], human),
        karn_ids=_karn_ids(message, [], human, envelope_from),
        reason="Automatic reply (such as out of office); the mail was delivered.",
    )
