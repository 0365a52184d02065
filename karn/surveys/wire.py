"""Mail as handed to the SMTP server: the bytes of an outbox message.

The bytes are what the standard library's `email` writes for a MIMEMultipart
of a text and an HTML MIMEText part in utf-8 quoted-printable (a lone MIMEText
without HTML), flattened by BytesGenerator under compat32 with CRLF line ends,
with the MIME boundary drawn at random as there. Building those objects for
every mail cost more than sending it, so `render` writes the same bytes
directly: each header line and each quoted-printable line is still worked out
by `email`, once, and remembered, because they repeat from mail to mail.
tests/test_surveys_mail_rendering.py compares the two.
"""

import re
from email import policy, quoprimime
from email.charset import QP, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formatdate
from io import BytesIO

from flask import current_app
from flask_mail import sanitize_address

from karn.surveys.models import OutboxMessage

# Quoted-printable bodies keep every line short and 7-bit, whatever the text:
# servers refuse lines over 998 octets. (Flask-Mail registers utf-8 as raw
# 8-bit, so the charset is set here rather than looked up.)
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP


# compat32 leaves ASCII header values as they are (a List-Unsubscribe URL must
# not become an encoded word) and is several times faster than policy.SMTP.
_WIRE = policy.compat32.clone(linesep="\r\n")


def _header(value) -> str | Header:
    value = str(value)
    if "\r" in value or "\n" in value:
        raise ValueError(f"line break in a header value: {value!r}")
    return value if value.isascii() else Header(value, "utf-8")


# Header lines and quoted-printable lines worked out by `email`, remembered
# (up to _REMEMBERED of each; then forgotten all at once).
_REMEMBERED = 4096
_FOLDED: dict[tuple[str, str], bytes] = {}
_QP_LINES: dict[str, bytes] = {}
# A value compat32 writes as it is: printable ASCII words, single spaces.
_AS_IS = re.compile(r"[!-~]+(?: [!-~]+)*")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _part_head(subtype: str) -> bytes:
    out = BytesIO()
    part = MIMEText("", subtype, _UTF8, policy=_WIRE)
    BytesGenerator(out, mangle_from_=False, policy=_WIRE).flatten(part)
    return out.getvalue()


_TEXT_HEAD, _HTML_HEAD = _part_head("plain"), _part_head("html")
# A part's headers without the blank line that ends them.
_TEXT_HEADERS = _TEXT_HEAD[: -len(b"\r\n")]


def _remember(memo: dict, key, value):
    if len(memo) >= _REMEMBERED:
        memo.clear()
    memo[key] = value
    return value


def _fold(name: str, value) -> bytes:
    """One header line as compat32 writes it, folded at 78 columns."""
    value = _header(value)
    if (
        isinstance(value, str)
        and len(name) + 2 + len(value) <= 78
        and _AS_IS.fullmatch(value)
    ):
        return f"{name}: {value}\r\n".encode("ascii")
    key = (name, str(value))
    folded = _FOLDED.get(key)
    if folded is None:
        folded = _remember(_FOLDED, key, _WIRE.fold_binary(name, value))
    return folded


def _quoted_printable(text: str) -> bytes:
    """A body as MIMEText with _UTF8 encodes it and the generator writes it:
    quoted-printable, a line at a time (each line is encoded on its own)."""
    lines = []
    for line in _LINE_BREAK.split(text.encode("utf-8").decode("latin1")):
        encoded = _QP_LINES.get(line)
        if encoded is None:
            wire = quoprimime.body_encode(line).replace("\n", "\r\n")
            encoded = _remember(_QP_LINES, line, wire.encode("ascii"))
        lines.append(encoded)
    return b"\r\n".join(lines)


def _boundary(parts: bytes) -> str:
    boundary = BytesGenerator._make_boundary()
    if f"--{boundary}".encode() in parts:
        boundary = BytesGenerator._make_boundary(parts)
    return boundary


def render(
    message: OutboxMessage, to: str | None = None, sender: str | None = None
) -> bytes:
    """The message as handed to the server, with its stable Message-ID.

    ``to`` and ``sender`` are the sanitized recipient and sender, when the
    caller has them already."""
    if sender is None:
        sender = sanitize_address(current_app.config["MAIL_DEFAULT_SENDER"])
    if to is None:
        to = sanitize_address(message.to_address)
    text = _quoted_printable(message.body_text or "")
    if message.body_html:
        text = _TEXT_HEAD + text
        html = _HTML_HEAD + _quoted_printable(message.body_html)
        boundary = _boundary(text + b"\r\n" + html)
        delimiter = f"--{boundary}".encode()
        head = [
            _fold("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
            b"MIME-Version: 1.0\r\n",
        ]
        body = b"\r\n".join((delimiter, text, delimiter, html, delimiter + b"--"))
        body += b"\r\n"
    else:
        head, body = [_TEXT_HEADERS], text
    if message.subject:
        head.append(_fold("Subject", message.subject))
    head.append(_fold("From", sender))
    head.append(_fold("To", to))
    head.append(_fold("Date", formatdate(localtime=True)))
    head.append(_fold("Message-ID", message.message_id))
    extra = {"X-Karn-Message": str(message.id), **(message.headers or {})}
    for name, value in extra.items():
        head.append(_fold(name, value))
    return b"".join(head) + b"\r\n" + body
