"""Read a returned mail: MIME parts, headers, addresses, VERP and matching keys."""

# What `bounces` needs to read any kind of returned mail: its parts and
# headers, the original message it carries or quotes, the addresses in it, and
# the keys (our Message-IDs, X-Karn-Message, VERP envelope senders) that tie it
# to the outbox.

import email
import email.policy
import re
from collections.abc import Iterable
from email.message import Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import TypeVar

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

_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)


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
