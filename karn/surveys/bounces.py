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

import email
import email.policy
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Literal, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

Kind = Literal["hard", "soft", "autoreply", "unknown"]
HARD: Kind = "hard"
SOFT: Kind = "soft"
AUTOREPLY: Kind = "autoreply"
UNKNOWN: Kind = "unknown"

# Worst first: when recipients in one notice differ, the bounce takes the worst.
_SEVERITY = {HARD: 0, SOFT: 1, UNKNOWN: 2}

# The separator between the envelope local part and the outbox id, as most
# MTAs (Postfix recipient_delimiter, Exim local_part_suffix) are set up for.
VERP_SEPARATOR = "+"

# Our own Message-IDs are short; anything longer is not worth matching.
_MAX_ID_LENGTH = 250


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


# --- VERP -------------------------------------------------------------------


def verp_address(envelope_from: str, outbox_id: int) -> str:
    """The envelope sender carrying an outbox id: bounces@x.nl -> bounces+12@x.nl."""
    address = parseaddr(envelope_from)[1] or envelope_from.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an email address: {envelope_from!r}")
    if outbox_id <= 0:
        raise ValueError(f"outbox id must be positive: {outbox_id!r}")
    return f"{local}{VERP_SEPARATOR}{int(outbox_id)}@{domain}"


def outbox_id_from_verp(address: str, envelope_from: str | None = None) -> int | None:
    """The outbox id in a VERP address, or None; checks the base when given."""
    address = (parseaddr(address)[1] or address).strip().strip("<>").lower()
    local, at, domain = address.rpartition("@")
    base, separator, tag = local.rpartition(VERP_SEPARATOR)
    if not (at and domain and separator and base):
        return None
    # Plain digits only, no sign or leading zero, and a sane length: a
    # customer's own "name+2024@" must not be mistaken for an outbox id.
    if not re.fullmatch(r"[1-9][0-9]{0,17}", tag):
        return None
    if envelope_from is not None:
        expected = (parseaddr(envelope_from)[1] or envelope_from).strip().lower()
        if f"{base}@{domain}" != expected:
            return None
    return int(tag)


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
_ORIGINAL_TYPES = ("message/rfc822", "message/global")
_HEADERS_TYPES = (
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global-headers",
)


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


_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)


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


# --- classification ------------------------------------------------------------

# RFC 3463 subjects run 0-7, which keeps version numbers such as
# "Exim 4.96.2" from passing for a status.
_STATUS_IN_TEXT = re.compile(r"(?<![\d.])([245])\.([0-7])\.(\d{1,3})(?!\.?\d)")
_SMTP_CODE = re.compile(r"(?<![\d.:])(421|45[012]|55[0-4])(?=[ \t-]+[\w<#])")
_QUOTA = re.compile(
    r"over ?quota|quota exceeded|exceeded (its|the|their)? ?(storage|quota)"
    r"|mailbox (is )?full|inbox (is )?full|insufficient (system )?storage"
    r"|out of storage|mailbox size limit",
    re.I,
)
_NO_USER = re.compile(
    r"user unknown|unknown user|no such (user|recipient|mailbox|address)"
    r"|mailbox (is )?unavailable|mailbox not found|does not exist|doesn't exist"
    r"|recipient not found|invalid (recipient|mailbox|address)"
    r"|address (couldn't|could not) be found|account (has been )?disabled"
    r"|unrouteable address|unknown recipient",
    re.I,
)
_PERMANENT = re.compile(
    r"permanent (error|failure|fatal)|failed permanently|given up", re.I
)
_TEMPORARY = re.compile(
    r"temporar(y|ily)|try again later|will (be retried|keep trying|retry)"
    r"|still (being retried|trying)|delayed",
    re.I,
)
_POLICY = re.compile(
    r"\bspam\b|blocked|block ?list|black ?list|listed (at|on|in)|policy"
    r"|reputation|rejected for policy|content rejected",
    re.I,
)


def _status_code(value: str | None) -> str | None:
    """The first enhanced status code (like 5.1.1) in a field or text."""
    if not value:
        return None
    match = _STATUS_IN_TEXT.search(value)
    return ".".join(match.groups()) if match else None


def _refine_status(status: str | None, text: str) -> str | None:
    """A specific code from the text when the field is missing or X.0.0."""
    if status and not status.endswith(".0.0"):
        return status
    for match in _STATUS_IN_TEXT.finditer(text or ""):
        found = ".".join(match.groups())
        if found[0] in "45" and (status is None or found[0] == status[0]):
            if not found.endswith(".0.0") or status is None:
                return found
    return status


def _classify(action: str | None, status: str | None, text: str) -> Kind:
    if action == "delayed":
        return SOFT
    if status and status != "5.0.0" and status[0] in "45":
        if status == "5.2.2":
            return SOFT
        return HARD if status[0] == "5" else SOFT
    if _QUOTA.search(text):
        return SOFT
    if status == "5.0.0":
        return HARD
    code = _SMTP_CODE.search(text)
    if code:
        if code.group(1) == "552":
            return SOFT
        return HARD if code.group(1)[0] == "5" else SOFT
    if _NO_USER.search(text) or _PERMANENT.search(text):
        return HARD
    if _TEMPORARY.search(text):
        return SOFT
    # "failed" alone does not say whether the address is at fault.
    return UNKNOWN


_DETAIL = {
    "1.1": "the mailbox does not exist",
    "1.2": "the recipient's domain does not exist or does not accept mail",
    "1.3": "the recipient address is malformed",
    "1.6": "the mailbox has moved and has no forwarding address",
    "1.10": "the recipient address was not found or does not accept mail",
    "2.1": "the mailbox is disabled",
    "2.2": "the mailbox is full",
    "2.3": "the message is larger than the recipient accepts",
    "2.4": "a mailing list on the receiving side failed",
    "3.2": "the receiving system is not accepting mail",
    "4.1": "the receiving server rejected the recipient or did not answer",
    "4.4": "no route to the receiving server",
    "4.6": "a forwarding loop was detected",
    "4.7": "delivery timed out",
    "5.1": "the receiving server did not accept the message",
}


def _reason(kind: Kind, status: str | None, action: str | None, text: str) -> str:
    """A short plain-English explanation of the outcome."""
    if kind == HARD:
        lead = "Permanent failure"
    elif kind == SOFT and action == "delayed":
        lead = "Delivery delayed"
    elif kind == SOFT and status and status.startswith("5."):
        lead = "Not delivered, counted as a temporary failure"
    elif kind == SOFT:
        lead = "Temporary failure"
    else:
        lead = "Delivery failed for an unrecognised reason"
    detail, may_be_fine = None, False
    if status:
        subject_detail = status.split(".", 1)[1]
        detail = _DETAIL.get(subject_detail)
        if subject_detail.startswith("7."):
            detail = "refused by the receiving server's policy or spam filter"
            may_be_fine = True
    if detail is None:
        if _QUOTA.search(text):
            detail = "the mailbox is full"
        elif _NO_USER.search(text):
            detail = "the mailbox does not exist"
        elif kind != SOFT and _POLICY.search(text):
            detail = "possibly a spam or policy block"
            may_be_fine = True
    reason = lead + (f": {detail}" if detail else "")
    if status:
        reason += f" ({status})"
    if action == "delayed":
        reason += "; the server is still trying"
    if may_be_fine:
        reason += "; the address itself may be fine"
    return reason + "."


# --- matching keys ----------------------------------------------------------------

_MESSAGE_ID_LINE = re.compile(r"(?im)^[ \t>]*message-id:[ \t]*\r?\n?[ \t]*(<[^<>\s]+>)")
_KARN_LINE = re.compile(r"(?im)^[ \t>]*x-karn-message:[ \t]*(\d{1,18})\b")
# Headers of the notice itself, which is addressed to our envelope sender. The
# per-recipient Original-Recipient field names the customer, whose own
# "name+tag@" address must never be read as an outbox id, so it is not used.
_VERP_HEADERS = (
    "To",
    "Delivered-To",
    "X-Original-To",
    "Envelope-To",
    "Original-Recipient",
)


def _message_ids(
    message: Message, originals: list[Message | None], text: str
) -> list[str]:
    found = []
    for original in originals:
        if original is not None:
            found += _angle_ids(_header(original, "Message-ID"))
    found += _MESSAGE_ID_LINE.findall(text)
    # Replies and some notices point back at the original directly.
    found += _angle_ids(_header(message, "In-Reply-To"))
    found += _angle_ids(_header(message, "References"))
    own = set(_angle_ids(_header(message, "Message-ID")))
    return _unique(i for i in found if i not in own and len(i) <= _MAX_ID_LENGTH)


def _angle_ids(value: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value or "")


def _karn_ids(
    message: Message,
    originals: list[Message | None],
    text: str,
    envelope_from: str | None,
) -> list[int]:
    found: list[int] = []
    for original in originals:
        if original is not None:
            value = _header(original, "X-Karn-Message").strip()
            if re.fullmatch(r"\d{1,18}", value) and int(value) > 0:
                found.append(int(value))
    found += [int(v) for v in _KARN_LINE.findall(text) if int(v) > 0]
    for name in _VERP_HEADERS:
        for _, address in _addresses(message, name):
            outbox_id = outbox_id_from_verp(address, envelope_from)
            if outbox_id is not None:
                found.append(outbox_id)
    return _unique(found)


def _originals(message: Message) -> list[Message | None]:
    """The returned original messages, or just their headers."""
    found: list[Message | None] = []
    for part in _parts(message):
        content_type = part.get_content_type()
        if content_type in _ORIGINAL_TYPES:
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                found.append(payload[0])
            else:
                # Encoded (against the rules) rather than parsed: parse it.
                found.append(_message_from_text(_text(part)))
        elif content_type in _HEADERS_TYPES:
            found.append(_message_from_text(_text(part)))
    return found


def _original_to(originals: list[Message | None]) -> list[str]:
    for original in originals:
        if original is not None:
            addresses = [a.lower() for _, a in _addresses(original, "To") if "@" in a]
            if addresses:
                return _unique(addresses)
    return []


def _failed_recipients_header(message: Message) -> list[str]:
    value = _header(message, "X-Failed-Recipients")
    return _unique(a.lower() for a in _ADDRESS.findall(value))


# --- MIME helpers ---------------------------------------------------------------


def _parts(message: Message) -> list[Message]:
    """All parts of a message, not descending into attached messages."""
    found = [message]
    if message.is_multipart() and not message.get_content_type().startswith("message/"):
        payload = message.get_payload()
        if isinstance(payload, list):
            for part in payload:
                if isinstance(part, Message):
                    found += _parts(part)
    return found


def _human_text(message: Message) -> str:
    """The readable text of a notice: its plain parts, or its HTML as text."""
    plain, html = [], []
    for part in _parts(message):
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        content_type = part.get_content_type()
        if content_type == "text/plain":
            plain.append(_text(part))
        elif content_type == "text/html":
            html.append(_html_to_text(_text(part)))
    return "\n".join(plain or html)


def _text(part: Message) -> str:
    """A part's body as text, tolerating wrong or unknown charsets."""
    payload = part.get_payload(decode=True)
    if payload is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _message_from_text(text: str) -> Message | None:
    if not text.strip():
        return None
    return email.message_from_string(text.lstrip(), policy=email.policy.default)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("style", "script", "head"):
            self._skip += 1
        elif tag in ("br", "p", "div", "tr", "li", "pre", "table"):
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("p", "div", "tr", "li", "pre", "table"):
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def _html_to_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return "".join(parser.chunks)


def _header(message: Message, name: str) -> str:
    """A header as text, or '' when it is missing or will not parse."""
    try:
        values = message.get_all(name) or []
        return " ".join(" ".join(str(v).split()) for v in values)
    except Exception:
        # policy.default parses structured headers on access, and hostile
        # input can trip it; such a header is treated as absent.
        return ""


def _addresses(message: Message, name: str) -> list[tuple[str, str]]:
    value = _header(message, name)
    if not value:
        return []
    # Some fields (Original-Recipient) carry an 'rfc822;' address type.
    value = re.sub(r"(?i)\brfc822\s*;", "", value)
    return [(n, a.strip()) for n, a in getaddresses([value]) if a]


def _param(message: Message, name: str) -> str | None:
    try:
        value = message.get_param(name)
    except Exception:
        return None
    return value if isinstance(value, str) else None


def _unique(items: Iterable[T]) -> list[T]:
    """Items in first-seen order without repeats."""
    return list(dict.fromkeys(items))
