"""Reading returned mail: parts, headers, addresses, and the keys to the outbox.

Everything `bounces` needs to read any kind of returned mail: its parts and
headers, the original message it carries or quotes, the recipients a notice
names, and the keys (our Message-IDs, X-Karn-Message, VERP envelope senders)
that tie it to the outbox.

A notice names its failed recipients in a few places only: the DSN fields,
the X-Failed-Recipients header, the lines of its explanation that introduce a
recipient (an address alone on a line, leading a line, after "RCPT TO:" or
words such as "could not be delivered to"), and the returned message's To.
Addresses anywhere else - Message-IDs, the notice's own parties, our sender,
pipe commands, header lines of the quoted original - are never recipients.
"""

import email
import email.policy
import re
from collections.abc import Iterable
from email.message import Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import TypeVar

from karn.surveys.bounce_status import (
    BOUNCE_SUBJECT,
    BOUNCE_WORDS,
    DAEMON_LOCAL,
    DAEMON_NAME,
    find_reply_code,
    find_status,
)

T = TypeVar("T")

# The separator between the envelope local part and the outbox id, as most
# MTAs (Postfix recipient_delimiter, Exim local_part_suffix) are set up for.
VERP_SEPARATOR = "+"

# Our own Message-IDs are short; anything longer is not worth matching.
_MAX_ID_LENGTH = 250

_ORIGINAL_TYPES = ("message/rfc822", "message/global")
_HEADERS_TYPES = (
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global-headers",
)

# An address: a local part (or a quoted one) and a domain. "@host" alone, with
# no local part, never matches.
_ATOM = r"[A-Za-z0-9!#$%&'*+=?^_`{|}~-]"
_LOCAL = rf"""(?<![\w/.=+-])(?:"[^"\s@<>]+"|{_ATOM}+(?:\.+{_ATOM}+)*)"""
ADDRESS = rf"{_LOCAL}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?![A-Za-z0-9-]|\.[A-Za-z0-9])"
_ADDRESS = re.compile(ADDRESS)


def normalise_line_ends(raw: bytes) -> bytes:
    """CRLF and bare CR line ends as LF, so that all three read the same."""
    return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def clean_address(value: str | None) -> str | None:
    """One address from a field or a line, lower-cased; None when it is not one."""
    if not value:
        return None
    value = re.sub(r"(?i)^\s*(rfc822|x-[\w-]+|utf-8)\s*;", "", value).strip()
    value = re.sub(r"(?i)^mailto:", "", value.strip().strip("<>").strip())
    match = _ADDRESS.fullmatch(value) or _ADDRESS.search(value)
    if not match:
        return None
    address = match.group(0).lower()
    local, _, domain = address.rpartition("@")
    if not local.strip('"') or not re.search(r"[a-z]", domain):
        return None
    return address


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
    """The To addresses of the first returned message that has any."""
    for original in originals:
        if original is None:
            continue
        found = [clean_address(a) for _, a in _addresses(original, "To")]
        found = [a for a in found if a]
        if found:
            return _unique(found)
    return []


def _failed_recipients_header(message: Message) -> list[str]:
    value = _header(message, "X-Failed-Recipients")
    return _unique(a for a in map(clean_address, re.split(r"[,\s]+", value)) if a)


# --- the recipients a notice names ----------------------------------------------

# Where a plain-text notice stops explaining and starts quoting the original.
_ORIGINAL_MARKER = re.compile(
    r"^.*("
    r"this is a copy of the message"  # Exim
    r"|below this line is a copy of the message"  # qmail
    r"|(enclosed|included|below) is a copy of"
    r"|original message (headers|follows|text)"
    r"|-+\s*original (message|mail)( info)?\s*-+"
    r"|^\s*original message:?\s*$"
    r"|message (headers?|text) follows?"
    r"|header of the original message"
    r"|-+\s*returned message\s*-+"
    r"|unsent message (below|follows)"
    r"|-+\s*the header of the original"
    r").*$",
    re.I | re.M,
)


def _failure_text(text: str) -> str:
    """The explanatory part of a notice, without the quoted original."""
    match = _ORIGINAL_MARKER.search(text)
    return text[: match.start()] if match else text


def _quoted_original(text: str) -> Message | None:
    match = _ORIGINAL_MARKER.search(text)
    if not match:
        return None
    return _message_from_text(text[match.end() :].lstrip("\n"))


def _known_ids(
    message: Message, originals: list[Message | None], text: str
) -> set[str]:
    """Every Message-ID the notice mentions, as bare lower-case addresses."""
    values = []
    for source in [message, *originals]:
        if source is not None:
            values += [
                _header(source, n) for n in ("Message-ID", "References", "In-Reply-To")
            ]
    found = set()
    for value in values:
        found.update(i[1:-1].lower() for i in _angle_ids(value))
    found.update(
        m.lower()
        for m in re.findall(rf"(?i)message-?id\s*(?:of|:|=)?\s*<?({ADDRESS})", text)
    )
    return found


def _own_parties(message: Message, originals: list[Message | None]) -> set[str]:
    """The notice's own sender and addressee, and the original's sender (us)."""
    found = set()
    for name in ("From", "To", "Reply-To", "Return-Path", "Sender"):
        found.update(a.lower() for _, a in _addresses(message, name))
    for name, value in message.items():
        if name.lower().startswith(("list-", "x-ml-")):
            found.update(a.lower() for a in _ADDRESS.findall(str(value)))
    for original in originals:
        if original is not None:
            for name in ("From", "Sender", "Return-Path", "Reply-To", "Errors-To"):
                found.update(a.lower() for _, a in _addresses(original, name))
    return found


# Lines that name addresses that are not recipients: quoted header lines,
# aliases an address was expanded from, delivery commands.
_NOT_A_RECIPIENT_LINE = re.compile(
    r"(?i)^\s*(message-?id|references|in-reply-to|return-path|received|reply-to|from"
    r"|sender|errors-to|b?cc|x-[\w-]+|dkim-signature|list-[\w-]+|mailing-list"
    r"|delivered-to|x-original-to|envelope-to|mail from|original sender)\s*:"
    r"|^\s*(for|by|id|with|from)\s|generated (from|by)|expanded from|\|\s*/|pipe to"
)
_LEADING = re.compile(rf"^[\s*>•·=-]*[<\"']?({ADDRESS})[>\"']?(?=$|[\s:;,.(<])")
_RCPT = re.compile(rf"(?i)\brcpt to:?\s*<?({ADDRESS})")
_INTRODUCED = re.compile(
    rf"(?i)\b(?:deliver\w*|sent|reach|failed|errors?|recipients?|addressee"
    rf"|address(?:es)?|undeliverable|undelivered)\b[^@\n<>]{{0,40}}?[\s:]\s*"
    rf"[<\"']?({ADDRESS})"
)
_SENDMAIL = re.compile(rf"<({ADDRESS})>(?:\.\.\.|,|:)(?:\s|$)")
_ANGLED = re.compile(rf"<({ADDRESS})>")
_TRANSCRIPT_LINE = re.compile(r"^\s*(>>>|<<<)")
_SECTION = re.compile(r"(?i)^\W*while talking to|^\s*-{3,}|^\s*={3,}|^\s*\*{3,}")


def _named_in(line: str) -> list[str]:
    if _NOT_A_RECIPIENT_LINE.search(line):
        return []
    found = []
    for pattern in (_LEADING, _RCPT, _INTRODUCED, _SENDMAIL):
        found += pattern.findall(line)
    return found


def _text_recipients(text: str, excluded: set[str]) -> dict[str, str]:
    """The recipients a notice's explanation names, each with its own lines.

    A line that names a recipient starts that recipient's part; the lines up
    to the next one are its explanation (an Exim, qmail or Postfix notice
    lists each failed address with the server's reply below it).
    """
    blocks: dict[str, list[str]] = {}
    current: list[str] = []
    # Transcript lines of a conversation that names no recipient yet: they
    # belong to the recipient the lines after them name (Sendmail).
    pending: list[str] = []
    for line in text.splitlines():
        if not line.strip() or _SECTION.search(line):
            # A blank line or a new conversation ends a recipient's part.
            current, pending = [], []
            continue
        named = []
        for value in _named_in(line):
            address = clean_address(value)
            if address and address not in excluded and address not in named:
                named.append(address)
        if named and named != current:
            current = named
            for address in current:
                blocks.setdefault(address, []).extend(pending)
            pending = []
        elif not current and _TRANSCRIPT_LINE.match(line):
            pending.append(line)
        for address in current:
            blocks.setdefault(address, []).append(line)
    if not blocks:
        # Last: an address in angle brackets anywhere in the explanation.
        for value in _ANGLED.findall(text):
            address = clean_address(value)
            if address and address not in excluded:
                blocks.setdefault(address, [text])
    return {address: "\n".join(lines) for address, lines in blocks.items()}


def _received_for(originals: list[Message | None]) -> list[str]:
    """The single "for <address>" of the original's Received headers."""
    found = []
    for original in originals:
        if original is not None:
            for value in original.get_all("Received") or []:
                match = re.search(rf"\bfor\s+<?({ADDRESS})>?", str(value))
                if match:
                    found.append(match.group(1).lower())
    found = _unique(found)
    return found if len(found) == 1 else []


# --- reading the fields and lines of a notice ----------------------------------


def _only(items) -> str | None:
    items = list(items)
    return items[0] if len(items) == 1 else None


def _status_blocks(report: Message | str) -> list[dict[str, str]]:
    if isinstance(report, str):
        return _parse_fields(report)
    payload = report.get_payload()
    if not isinstance(payload, list):
        return _parse_fields(_text(report))
    blocks = []
    for sub in payload:
        try:
            items = list(sub.items())
        except Exception:
            continue
        # One line per field, in order: a recipient's fields may follow
        # another's without the blank line between.
        blocks += _parse_fields(
            "\n".join(f"{k}: {' '.join(str(v).split())}" for k, v in items)
        )
    return blocks


def _parse_fields(text: str) -> list[dict[str, str]]:
    """Header-style blocks separated by blank lines, with folded lines joined."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        if not line.strip() or line.startswith("--"):
            if current:
                blocks.append(current)
            current, name = {}, None
        elif line[:1] in (" ", "\t") and name:
            current[name] += " " + line.strip()
        elif re.match(r"[\w-]+\s*:", line):
            key, _, value = line.partition(":")
            name = key.strip().lower()
            if name in current and name in ("final-recipient", "original-recipient"):
                # A new recipient without a blank line between.
                blocks.append(current)
                current = {}
            current.setdefault(name, value.strip())
    if current:
        blocks.append(current)
    return blocks


def _from_daemon(message: Message) -> bool:
    """Whether a message comes from a mailer daemon or a postmaster."""
    name, address = parseaddr(_header(message, "From"))
    local = address.rpartition("@")[0] or address
    return bool(DAEMON_LOCAL.match(local) or DAEMON_NAME.search(name))


def _looks_like_bounce(message: Message) -> bool:
    if _header(message, "X-Failed-Recipients"):
        return True
    if message.get("X-MS-Exchange-Message-Is-Ndr") is not None:
        return True
    subject = _header(message, "Subject")
    daemon = _from_daemon(message)
    if BOUNCE_SUBJECT.search(subject) and not re.match(
        r"(?i)\s*(re|aw|fwd?):", subject
    ):
        return True
    failure = _failure_text(_human_text(message))
    if daemon and (find_reply_code(failure) or find_status(failure)):
        return True
    return bool(
        BOUNCE_WORDS.search(failure) and (daemon or not _header(message, "In-Reply-To"))
    )


def _is_notice(message: Message) -> bool:
    """Whether a returned message is itself a delivery notice: a report, or
    mail from a mailer daemon, or words only a notice uses."""
    if (_param(message, "report-type") or "").lower() == "delivery-status":
        return True
    failure = _failure_text(_human_text(message))
    return _from_daemon(message) or bool(BOUNCE_WORDS.search(failure))


_AUTOREPLY_SUBJECT = re.compile(
    r"out of (the )?office|out-of-office|\booo\b|automatic reply|auto[- ]?reply"
    r"|autoresponse|auto[- ]response|away from (the )?office|on vacation|away until"
    r"|automatisch antwoord|afwezig|niet aanwezig|niet op kantoor|vakantie"
    r"|automatische antwort|abwesenheit|r[ée]ponse automatique"
    r"|absent\b|absence",
    re.I,
)


def _looks_like_autoreply(message: Message) -> bool:
    auto_submitted = _header(message, "Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    for name in ("X-Autoreply", "X-Autorespond", "X-Autogenerated", "X-Apple-Action"):
        if message.get(name) is not None:
            return True
    precedence = _header(message, "Precedence").strip().lower()
    if precedence in ("auto_reply", "auto-reply"):
        return True
    return bool(_AUTOREPLY_SUBJECT.search(_header(message, "Subject")))


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
    """The readable text of a notice: its plain parts, or its HTML as text.
    A multipart notice whose boundaries are missing is read as plain text."""
    plain, html = [], []
    for part in _parts(message):
        if part.get_content_maintype() == "multipart":
            payload = part.get_payload()
            if isinstance(payload, str):
                plain.append(payload)
            continue
        if part.get_content_disposition() == "attachment":
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
