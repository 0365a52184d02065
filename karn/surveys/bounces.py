"""Recognise returned mail: failures, delays, complaints and auto-replies."""

# Pure parsing, bytes in and plain data out: no Flask and no database. The
# caller matches a `Bounce` to outbox rows by `message_ids` (our stable
# Message-ID), `karn_ids` (the X-Karn-Message header or a VERP envelope sender)
# and decides what to do with it.
#
# Choices a caller needs to know:
#
# - `parse_bounce` returns None for mail it does not recognise (it never
#   guesses) and for notices that only report success (Action: delivered,
#   relayed or expanded, or a 2.x.x status).
# - `kind` is FAILURE (the message was not delivered to at least one
#   recipient), DELAY (a warning that delivery is still being tried; not a
#   failure), COMPLAINT (a recipient reported the message as spam, an ARF
#   feedback report or a provider's feedback loop) or AUTOREPLY (out of office
#   and the like: the mail was delivered).
# - Every failed or delayed recipient is in `details` with its own status,
#   reason (a key of `mail_reasons.REASONS`) and effect (a `mail_failures`
#   kind). Only a reason that says the address cannot receive mail has the
#   effect ADDRESS_DEAD; policy, spam, authentication and blocklist refusals
#   are SENDER_REFUSED and say nothing against the customer's address.
# - CRLF, LF and bare CR line ends give the same verdict.
# - VERP addresses are <local>+<outbox id>@<domain>. Pass `envelope_from` to
#   `parse_bounce` so that only our own base address is trusted.
#
# Reasons and their effects are in `mail_reasons` (the words in
# `bounce_status`); reading MIME parts, headers, recipients and the matching
# keys is in `bounce_mail`. Everything a caller uses is reachable from here.

import email
import email.policy
import json
import logging
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Literal

from karn.surveys.bounce_mail import (
    VERP_SEPARATOR,
    _addresses,
    _angle_ids,
    _failed_recipients_header,
    _failure_text,
    _header,
    _human_text,
    _is_notice,
    _karn_ids,
    _known_ids,
    _looks_like_autoreply,
    _looks_like_bounce,
    _message_ids,
    _only,
    _original_to,
    _originals,
    _own_parties,
    _param,
    _parts,
    _quoted_original,
    _received_for,
    _status_blocks,
    _text,
    _text_recipients,
    _unique,
    clean_address,
    normalise_line_ends,
    outbox_id_from_verp,
    verp_address,
)
from karn.surveys.bounce_status import (
    DELAY_WORDS,
    SUCCESS_SUBJECT,
    _clean_diagnostic,
    _diagnostic_line,
    _refine,
    _remote_host,
    words_reason,
)
from karn.surveys.mail_reasons import (
    ADDRESS_DEAD,
    CONNECTION,
    MAILBOX_STATE,
    REASONS,
    SENDER_REFUSED,
    classify_reason,
    effect_of,
    find_reply_code,
    find_status,
    host_reason,
    is_permanent,
    stage_of,
)

__all__ = [
    "Kind",
    "FAILURE",
    "DELAY",
    "COMPLAINT",
    "AUTOREPLY",
    "VERP_SEPARATOR",
    "RecipientStatus",
    "Bounce",
    "verp_address",
    "outbox_id_from_verp",
    "match_keys",
    "parse_bounce",
]

log = logging.getLogger(__name__)

Kind = Literal["failure", "delay", "complaint", "autoreply"]
FAILURE: Kind = "failure"
DELAY: Kind = "delay"
COMPLAINT: Kind = "complaint"
AUTOREPLY: Kind = "autoreply"

# Worst first: when recipients in one notice differ, the bounce names the worst.
_SEVERITY = {ADDRESS_DEAD: 0, MAILBOX_STATE: 1, SENDER_REFUSED: 2, CONNECTION: 3}


@dataclass
class RecipientStatus:
    """The outcome reported for one recipient of the original message."""

    recipient: str
    reason: str = "undefined"
    effect: str = MAILBOX_STATE
    status: str | None = None
    diagnostic: str | None = None
    action: str | None = None
    remote_host: str | None = None
    original_recipient: str | None = None
    reply_code: int | None = None

    @property
    def domain(self) -> str:
        """The recipient's domain."""
        return self.recipient.rpartition("@")[2]

    @property
    def permanent(self) -> bool:
        return is_permanent(self.status, self.reply_code, self.action)


@dataclass
class Bounce:
    """A returned mail reduced to what is needed to match and act on it."""

    kind: Kind
    details: list[RecipientStatus] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    karn_ids: list[int] = field(default_factory=list)
    # Complaints: the report's Feedback-Type (abuse, fraud, ...).
    feedback_type: str | None = None
    # Complaints and auto-replies: the address concerned, when named.
    reported: list[str] = field(default_factory=list)

    @property
    def recipients(self) -> list[str]:
        """Failed (or, in a delay notice, delayed) recipients; for complaints
        and auto-replies the address that complained or replied."""
        if self.kind in (COMPLAINT, AUTOREPLY):
            return list(self.reported)
        wanted = "delayed" if self.kind == DELAY else None
        chosen = [d for d in self.details if (d.action == "delayed") == bool(wanted)]
        return _unique(d.recipient for d in chosen or self.details)

    @property
    def worst(self) -> RecipientStatus | None:
        failed = [d for d in self.details if d.action != "delayed"] or self.details
        return min(failed, key=lambda d: _SEVERITY[d.effect], default=None)

    @property
    def reason(self) -> str:
        """The worst recipient's reason code; "complaint" or "autoreply" else."""
        worst = self.worst
        return worst.reason if worst else self.kind

    @property
    def status(self) -> str | None:
        return self.worst.status if self.worst else None

    @property
    def diagnostic(self) -> str | None:
        return self.worst.diagnostic if self.worst else None

    @property
    def is_failure(self) -> bool:
        """True for delivery failures, not delays, complaints or auto-replies."""
        return self.kind == FAILURE


def match_keys(bounce: Bounce) -> tuple[list[str], list[int]]:
    """The Message-IDs and outbox ids to look a bounce up by, best first."""
    return list(bounce.message_ids), list(bounce.karn_ids)


# --- parsing ----------------------------------------------------------------


def parse_bounce(raw: bytes, envelope_from: str | None = None) -> Bounce | None:
    """Parse one mail: a Bounce for failures, delays, complaints and
    auto-replies; None for anything else."""
    if not isinstance(raw, bytes | bytearray):
        raise TypeError(f"expected bytes, got {type(raw).__name__}")
    if not raw.strip():
        return None
    # A mailbox poll must survive whatever lands in the mailbox, so a parser
    # error on hostile or broken input is logged and reported as None.
    try:
        raw = normalise_line_ends(bytes(raw))
        message = email.message_from_bytes(raw, policy=email.policy.default)
        return _parse(message, envelope_from)
    except Exception:
        log.warning("could not parse a returned mail", exc_info=True)
        return None


def _parse(
    message: Message, envelope_from: str | None, nested: bool = False
) -> Bounce | None:
    found = _complaint(message, envelope_from)
    if found is not None:
        return found
    notice = _json_notice(message, envelope_from)
    if notice is not None:
        # A provider's JSON notice: a bounce, a complaint, or a delivery
        # report (nothing to do).
        return notice if notice.details or notice.kind == COMPLAINT else None
    report = _delivery_status_part(message)
    if report is not None:
        bounce = _from_dsn(message, report, envelope_from)
        if bounce is not _NOT_READ:
            return bounce
    if _looks_like_bounce(message):
        return _from_text(message, envelope_from, nested)
    if _looks_like_autoreply(message):
        return _autoreply(message, envelope_from)
    return None


# Returned by `_from_dsn` when a report has no usable per-recipient fields.
_NOT_READ = object()
# Causes an explanation names that outweigh an address verdict.
_PLAIN_CAUSES = ("mailbox_full", "suspended")
_SUCCESS = ("delivered", "relayed", "expanded")


def _recipient(
    address: str,
    text: str,
    *,
    status: str | None = None,
    action: str | None = None,
    original: str | None = None,
    remote_host: str | None = None,
    fallback: str = "",
    context: str = "",
    own_stage: bool = False,
) -> RecipientStatus:
    """One recipient's outcome from its status, action and words; `fallback`
    is the notice's general explanation, read when the recipient's own words
    name no cause, `context` the whole notice, read for the SMTP stage unless
    `own_stage` (a notice with a conversation per recipient)."""
    diagnostic = _diagnostic_line(text) if find_reply_code(text) else None
    status = _refine(status, text)
    reply_code = find_reply_code(text)
    stage = stage_of(text)
    if not own_stage:
        stage = stage or stage_of(fallback) or stage_of(context)
    reason = classify_reason(status, reply_code, text, action, stage)
    if reason in ("undefined", "on_hold") and fallback and fallback != text:
        status = _refine(status, fallback)
        reply_code = reply_code or find_reply_code(fallback)
        reason = classify_reason(status, reply_code, fallback, action, stage)
    permanent = is_permanent(status, reply_code, action)
    remote_host = remote_host or _remote_host(text) or _remote_host(fallback)
    domain = address.rpartition("@")[2]
    reason = host_reason(remote_host, domain, text, status, stage) or reason
    return RecipientStatus(
        recipient=address,
        reason=reason,
        effect=effect_of(reason, permanent, status),
        status=status,
        diagnostic=diagnostic
        or _diagnostic_line(fallback or text)
        or _diagnostic_line(text),
        action=action or ("failed" if permanent else None),
        remote_host=remote_host,
        original_recipient=original,
        reply_code=reply_code,
    )


def _bounce(
    message: Message,
    details: list[RecipientStatus],
    originals: list[Message | None],
    human: str,
    envelope_from: str | None,
    extra_ids: list[str] | None = None,
) -> Bounce | None:
    if not details:
        return None
    delayed = all(d.action == "delayed" for d in details)
    return Bounce(
        kind=DELAY if delayed else FAILURE,
        details=details,
        message_ids=_unique(
            _message_ids(message, originals, human) + (extra_ids or [])
        ),
        karn_ids=_karn_ids(message, originals, human, envelope_from),
    )


# --- RFC 3464 delivery status notifications ----------------------------------

_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_FIELDS_START = re.compile(
    r"(?im)^(reporting-mta|original-recipient|final-recipient)\s*:"
)


def _delivery_status_part(message: Message) -> Message | str | None:
    for part in _parts(message):
        if part.get_content_type() in _STATUS_TYPES:
            return part
    # Some servers send the fields as plain text, inside a report or in the
    # body of the notice itself: accept them when they read like a report.
    texts = [_text(p) for p in _parts(message) if p.get_content_type() == "text/plain"]
    for text in texts or [_human_text(message)]:
        match = _FIELDS_START.search(text)
        if match and re.search(r"(?im)^final-recipient\s*:", text):
            return text[match.start() :]
    return None


def _from_dsn(
    message: Message, report: Message | str, envelope_from: str | None
) -> Bounce | None | object:
    blocks = _status_blocks(report)
    per_recipient = [b for b in blocks if "final-recipient" in b or "action" in b]
    human = _human_text(message)
    failure = _failure_text(human)
    originals = _originals(message)
    excluded = _known_ids(message, originals, human) | _own_parties(message, originals)
    named = _text_recipients(failure, excluded)
    details = []
    for block in per_recipient:
        action = (block.get("action") or "").strip().lower().split(" ")[0] or None
        status = find_status(block.get("status"))
        if action in _SUCCESS or (status or "").startswith("2."):
            continue
        original = clean_address(block.get("original-recipient"))
        address = clean_address(block.get("final-recipient")) or original
        if address is None:
            address = _only(named) or _only(_original_to(originals))
            if address is None:
                continue
        text = _clean_diagnostic(block.get("diagnostic-code")) or ""
        own = named.get(address, "")
        remote = block.get("remote-mta", "").partition(";")[2].strip() or None
        details.append(
            _recipient(
                address,
                text or own,
                status=status,
                action=action,
                original=original,
                remote_host=remote,
                fallback=own if text else failure,
                context=failure,
            )
        )
    if len(details) == 1 and details[0].effect == ADDRESS_DEAD:
        # The notice's own explanation names another cause (a full mailbox,
        # a block): conflicting words never make an address dead.
        said = words_reason(failure)
        if said and REASONS[said].effect != ADDRESS_DEAD and said in _PLAIN_CAUSES:
            details[0].reason = said
            details[0].effect = effect_of(said, details[0].permanent, details[0].status)
    if per_recipient and not details:
        # Success only, or nothing readable: no failure here.
        return None if any(_success(b) for b in per_recipient) else _NOT_READ
    if not details:
        return _NOT_READ
    # Gmail names the original in the per-message fields as well.
    reported = [
        i
        for block in blocks
        if block not in per_recipient
        for i in _angle_ids(block.get("x-original-message-id", ""))
    ]
    return _bounce(message, details, originals, human, envelope_from, reported)


def _success(block: dict[str, str]) -> bool:
    action = (block.get("action") or "").strip().lower()
    return action in _SUCCESS or (find_status(block.get("status")) or "").startswith(
        "2."
    )


# --- plain-text notices --------------------------------------------------------


def _from_text(
    message: Message, envelope_from: str | None, nested: bool = False
) -> Bounce | None:
    human = _human_text(message)
    failure = _failure_text(human)
    originals = _originals(message)
    quoted = _quoted_original(human)
    if quoted is not None:
        originals.append(quoted)
    subject = _header(message, "Subject")
    delayed = bool(DELAY_WORDS.search(subject) or DELAY_WORDS.search(failure))
    if SUCCESS_SUBJECT.search(subject) and not find_status(failure):
        return None
    excluded = _known_ids(message, originals, human) | _own_parties(message, originals)
    named = _text_recipients(failure, excluded)
    listed = _failed_recipients_header(message)
    inner = None if nested or named or listed else _inner(originals, envelope_from)
    if inner is not None:
        # A gateway passing on a notice it was sent names no one itself: the
        # returned notice's recipients are the failed ones, not its addressee.
        found = _bounce(
            message, inner.details, originals, human, envelope_from, inner.message_ids
        )
        if found is not None:
            found.karn_ids = _unique(inner.karn_ids + found.karn_ids)
        return found
    addresses = (
        list(named) or listed or _original_to(originals) or _received_for(originals)
    )
    permanent = re.search(r"(?i)permanent", failure)
    action = "delayed" if delayed and not permanent else "failed"
    details = [
        _recipient(
            address,
            named.get(address, failure),
            action=action,
            fallback=failure,
            own_stage=len(named) > 1 and address in named,
        )
        for address in addresses
    ]
    return _bounce(message, details, originals, human, envelope_from)


def _inner(originals: list[Message | None], envelope_from: str | None) -> Bounce | None:
    """A delivery notice returned inside this one, read on its own."""
    for original in originals:
        if original is None or not _is_notice(original):
            continue
        inner = _parse(original, envelope_from, nested=True)
        if inner is not None and inner.kind in (FAILURE, DELAY) and inner.details:
            return inner
    return None


# --- complaints ------------------------------------------------------------------


def _complaint(message: Message, envelope_from: str | None) -> Bounce | None:
    """An ARF feedback report (RFC 5965) or a provider's feedback-loop mail."""
    originals = _originals(message)
    fields: dict[str, str] = {}
    feedback = None
    for part in _parts(message):
        if part.get_content_type() == "message/feedback-report":
            for block in _status_blocks(part):
                for name, value in block.items():
                    fields.setdefault(name, value)
            feedback = (fields.get("feedback-type") or "abuse").strip().lower()
    is_report = (_param(message, "report-type") or "").lower() == "feedback-report"
    if feedback is None and is_report:
        feedback = "abuse"
    if feedback is None:
        # Microsoft's JMRP and the like: the original forwarded as an
        # attachment, its recipient named in a header of its own.
        for original in originals:
            if original is not None and original.get("X-HmXmrOriginalRecipient"):
                feedback = "abuse"
                fields["original-rcpt-to"] = _header(
                    original, "X-HmXmrOriginalRecipient"
                )
        if _header(message, "X-Apple-Unsubscribe").lower() == "true":
            feedback = "opt-out"
    if feedback is None:
        return None
    reported = [
        clean_address(fields.get(name))
        for name in ("original-rcpt-to", "removal-recipient")
    ]
    reported = [a for a in reported if a] or [
        a for a in (_original_to(originals) if is_report or fields else []) if a
    ]
    if feedback == "opt-out":
        reported = [clean_address(_header(message, "From"))]
    karn_ids = _karn_ids(message, originals, "", envelope_from)
    for value in [fields.get("original-mail-from", "")] + [
        _header(o, "Return-Path") for o in originals if o is not None
    ]:
        outbox_id = outbox_id_from_verp(value, envelope_from) if "@" in value else None
        if outbox_id is not None:
            karn_ids.append(outbox_id)
    ids = _message_ids(message, originals, "")
    ids += _angle_ids(fields.get("original-message-id", ""))
    return Bounce(
        kind=COMPLAINT,
        message_ids=_unique(ids),
        karn_ids=_unique(karn_ids),
        feedback_type=feedback,
        reported=_unique(a for a in reported if a),
    )


# --- JSON notices (Amazon SES through SNS or e-mail) ---------------------------


def _json_notice(message: Message, envelope_from: str | None) -> Bounce | None:
    body = _human_text(message)
    start = body.find("{")
    if start < 0 or "notificationType" not in body and "eventType" not in body:
        return None
    try:
        # Mail transport may have folded the long lines.
        body = re.sub(r"\n ", "", body[start:])
        data, _ = json.JSONDecoder(strict=False).raw_decode(body)
        if isinstance(data.get("Message"), str):
            data = json.loads(data["Message"], strict=False)
    except (ValueError, AttributeError):
        return None
    if not isinstance(data, dict):
        return None
    kind = data.get("notificationType") or data.get("eventType")
    mail = data.get("mail") or {}
    headers = {
        str(h.get("name", "")).lower(): str(h.get("value", ""))
        for h in mail.get("headers") or []
        if isinstance(h, dict)
    }
    ids = _angle_ids(headers.get("message-id", ""))
    karn_ids = []
    value = headers.get("x-karn-message", "")
    if value.isdigit() and int(value) > 0:
        karn_ids.append(int(value))
    for value in (mail.get("source", ""), headers.get("return-path", "")):
        outbox_id = outbox_id_from_verp(str(value), envelope_from) if value else None
        if outbox_id is not None:
            karn_ids.append(outbox_id)
    bounce = Bounce(kind=FAILURE, message_ids=_unique(ids), karn_ids=_unique(karn_ids))
    if kind == "Complaint":
        complaint = data.get("complaint") or {}
        bounce.kind = COMPLAINT
        bounce.feedback_type = complaint.get("complaintFeedbackType") or "abuse"
        bounce.reported = [
            a
            for r in complaint.get("complainedRecipients") or []
            if (a := clean_address(r.get("emailAddress")))
        ]
    elif kind == "Bounce":
        info = data.get("bounce") or {}
        transient = info.get("bounceType") != "Permanent"
        for r in info.get("bouncedRecipients") or []:
            address = clean_address(r.get("emailAddress"))
            if address:
                text = _clean_diagnostic(r.get("diagnosticCode")) or " ".join(
                    str(info.get(k, "")) for k in ("bounceType", "bounceSubType")
                )
                action = (
                    "delayed" if transient and not r.get("status") else r.get("action")
                )
                bounce.details.append(
                    _recipient(address, text, status=r.get("status"), action=action)
                )
        if bounce.details and all(d.action == "delayed" for d in bounce.details):
            bounce.kind = DELAY
    elif kind not in ("Delivery", "Send", "Open", "Click", "DeliveryDelay"):
        return None
    return bounce


# --- automatic replies -------------------------------------------------------


def _autoreply(message: Message, envelope_from: str | None) -> Bounce:
    sender = [clean_address(a) for _, a in _addresses(message, "From")]
    human = _human_text(message)
    return Bounce(
        kind=AUTOREPLY,
        message_ids=_message_ids(message, [], human),
        karn_ids=_karn_ids(message, [], human, envelope_from),
        reported=_unique(a for a in sender if a),
    )
