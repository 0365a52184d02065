"""What a mail failure says about whom: one classification for every failure.

Four kinds, each with its own effect (the effects of the reasons in
``karn.surveys.mail_reasons``, which classifies both SMTP replies and bounce
mails):

- ``ADDRESS_DEAD``: this address cannot receive mail (no such user, no such
  domain, moved, a domain that accepts no mail). The customer becomes
  undeliverable at once.
- ``MAILBOX_STATE``: the recipient's mailbox is full, disabled, filtered or
  over its limits, or a refusal named no cause. Counts toward the customer's
  limit of failures; temporary ones retry.
- ``SENDER_REFUSED``: the receiving side refused *us* (policy, spam filter,
  blocklist, SPF/DKIM/DMARC, reverse DNS, sending rate, our login or envelope
  sender). Never touches the customer; the mail waits and is tried again
  without using up its attempts.
- ``CONNECTION``: the server could not be reached, dropped the connection or
  had an error of its own. Never touches the customer; tried again without
  using up attempts.

A reply that says nothing recognisable about the address is never taken to
mean the address is dead: a permanent one counts as ``MAILBOX_STATE`` (toward
the limit), a temporary one as ``CONNECTION``. Pure text in, plain data out.
"""

from dataclasses import dataclass

from karn.surveys import mail_reasons
from karn.surveys.mail_reasons import (
    ADDRESS_DEAD,
    CONNECTION,
    MAILBOX_STATE,
    SENDER_REFUSED,
    classify_reason,
    effect_of,
    find_status,
)

__all__ = [
    "ADDRESS_DEAD",
    "MAILBOX_STATE",
    "SENDER_REFUSED",
    "CONNECTION",
    "GREETING",
    "LOGIN",
    "MAIL_FROM",
    "RCPT",
    "DATA",
    "Failure",
    "classify",
    "enhanced_status",
]

# Where in the SMTP conversation the reply came.
GREETING = "greeting"  # connecting, EHLO, STARTTLS
LOGIN = "login"  # AUTH
MAIL_FROM = "mail_from"
RCPT = "rcpt"
DATA = "data"


@dataclass(frozen=True)
class Failure:
    """A classified failure: its kind, whether it is permanent, the reply, and
    the reason (a key of ``mail_reasons.REASONS``)."""

    kind: str
    permanent: bool
    status: str | None
    text: str
    reason: str = "undefined"

    @property
    def touches_customer(self) -> bool:
        return self.kind in (ADDRESS_DEAD, MAILBOX_STATE)


def enhanced_status(text: str) -> str | None:
    """The enhanced status code (like 5.1.1) in a reply, if any."""
    return find_status(text)


def classify(code: int | None, text: str = "", stage: str = RCPT) -> Failure:
    """Classify an SMTP reply (or a connection error, ``code`` None) at a stage."""
    text = text or ""
    status = enhanced_status(text)
    permanent = code is not None and 500 <= code < 600
    if code is None:
        # No answer at all: refused, timed out or dropped.
        return Failure(CONNECTION, False, status, text, "network_error")
    if code == 421 or stage == GREETING:
        # "Service not available, closing channel", or a refusal before any
        # address was named: the server, not the customer. The connection is
        # gone or useless, so a temporary one stops the session.
        reason = classify_reason(status, code, text, stage=mail_reasons.CONNECT)
        kind = CONNECTION if not permanent else SENDER_REFUSED
        return Failure(kind, False, status, text, reason)
    if stage in (LOGIN, MAIL_FROM):
        # Our login or our envelope sender was refused: every message would be.
        reason = classify_reason(status, code, text, stage=mail_reasons.MAIL)
        if stage == LOGIN and mail_reasons.REASONS[reason].effect != SENDER_REFUSED:
            reason = "security_error"
        return Failure(SENDER_REFUSED, False, status, text, reason)
    smtp_stage = mail_reasons.DATA if stage == DATA else mail_reasons.RCPT
    reason = classify_reason(status, code, text, stage=smtp_stage)
    kind = effect_of(reason, permanent)
    if kind in (SENDER_REFUSED, CONNECTION):
        permanent = False
    return Failure(kind, permanent, status, text, reason)
