"""What a mail failure says about whom: one classification for every failure.

Four kinds, each with its own effect:

- ``ADDRESS_DEAD``: this address cannot receive mail (no such user, no such
  domain, malformed, moved). The customer becomes undeliverable at once.
- ``MAILBOX_STATE``: the recipient's mailbox is full, disabled or refuses for
  now. Counts toward the customer's limit of failures; temporary ones retry.
- ``SENDER_REFUSED``: the receiving side refused *us* (policy, spam filter,
  blocklist, authentication, our login or envelope sender). Never touches the
  customer; the mail waits and is tried again without using up its attempts.
- ``CONNECTION``: the server could not be reached or dropped the connection.
  Never touches the customer; tried again without using up attempts.

A reply that says nothing recognisable about the address is never taken to
mean the address is dead: a permanent one counts as ``MAILBOX_STATE`` (toward
the limit), a temporary one as ``CONNECTION``. Pure text in, plain data out:
the outbox classifies SMTP replies with it, and bounce mails can map onto the
same kinds.
"""

import re
from dataclasses import dataclass

ADDRESS_DEAD = "address_dead"
MAILBOX_STATE = "mailbox_state"
SENDER_REFUSED = "sender_refused"
CONNECTION = "connection"

# Where in the SMTP conversation the reply came.
GREETING = "greeting"  # connecting, EHLO, STARTTLS
LOGIN = "login"  # AUTH
MAIL_FROM = "mail_from"
RCPT = "rcpt"
DATA = "data"

# RFC 3463 enhanced status codes, subjects 0-7.
_STATUS = re.compile(r"(?<![\d.])([245])\.([0-7])\.(\d{1,3})(?!\.?\d)")

_DEAD_TEXT = re.compile(
    r"user unknown|unknown user|no such (user|recipient|mailbox|address|domain)"
    r"|mailbox not found|recipient not found|unknown recipient|does not exist"
    r"|doesn't exist|invalid (recipient|mailbox|address)|address rejected"
    r"|unrouteable address|no mailbox here|not a valid mailbox|user not found"
    r"|account (does not|doesn't) exist|recipient address rejected"
    r"|host (or domain name )?not found|domain (not found|does not exist)",
    re.I,
)
_MAILBOX_TEXT = re.compile(
    r"over ?quota|quota exceeded|mailbox (is )?full|inbox (is )?full"
    r"|insufficient (system )?storage|mailbox size limit|out of storage"
    r"|(account|mailbox) (is |has been )?(disabled|suspended|inactive|locked)",
    re.I,
)
_SENDER_TEXT = re.compile(
    r"\bspam\b|blocked|block ?list|black ?list|\blisted\b|\brbl\b|spamhaus"
    r"|spamcop|barracuda|policy|reputation|\bspf\b|\bdkim\b|\bdmarc\b"
    r"|reverse dns|\bptr\b|not authori[sz]ed|authentication|relay(ing)? "
    r"(denied|not permitted|access denied)|sender (address )?(rejected|denied)"
    r"|access denied|too many (connections|messages)|rate limit|throttl",
    re.I,
)


@dataclass(frozen=True)
class Failure:
    """A classified failure: its kind, whether it is permanent, and the reply."""

    kind: str
    permanent: bool
    status: str | None
    text: str

    @property
    def touches_customer(self) -> bool:
        return self.kind in (ADDRESS_DEAD, MAILBOX_STATE)


def enhanced_status(text: str) -> str | None:
    """The first enhanced status code (like 5.1.1) in a reply, if any."""
    match = _STATUS.search(text or "")
    return ".".join(match.groups()) if match else None


def _by_status(status: str) -> str | None:
    subject, detail = status.split(".")[1:]
    if subject == "1":
        # 5.1.7 and 5.1.8: the sender's address is bad, not the recipient's.
        if detail in ("7", "8"):
            return SENDER_REFUSED
        return ADDRESS_DEAD
    if subject == "2":
        return MAILBOX_STATE
    if subject == "3":
        # 5.3.4 message too big, 5.3.2 system not accepting: the receiving
        # mail system, not the address.
        return MAILBOX_STATE
    if subject == "4":
        return CONNECTION
    if subject == "7":
        return SENDER_REFUSED
    return None


def classify(code: int | None, text: str = "", stage: str = RCPT) -> Failure:
    """Classify an SMTP reply (or a connection error, ``code`` None) at a stage."""
    text = text or ""
    status = enhanced_status(text)
    permanent = code is not None and 500 <= code < 600
    if code is None or code == 421 or stage == GREETING:
        # No answer, a dropped connection, "service not available", or a
        # refusal before any address was named: the server, not the customer.
        kind = CONNECTION if not permanent else SENDER_REFUSED
        return Failure(kind, False, status, text)
    if stage in (LOGIN, MAIL_FROM):
        # Our login or our envelope sender was refused: every message would be.
        return Failure(SENDER_REFUSED, False, status, text)
    kind = None
    dead_text = _DEAD_TEXT.search(text)
    if _SENDER_TEXT.search(text) and not dead_text:
        kind = SENDER_REFUSED
    elif status and status[0] in "45" and not status.endswith(".0.0"):
        kind = _by_status(status)
        if kind == CONNECTION and permanent and dead_text:
            # Exchange Online's "5.4.1 Recipient address rejected: Access
            # denied": its directory does not know the address.
            kind = ADDRESS_DEAD
    if kind is None:
        if _MAILBOX_TEXT.search(text):
            kind = MAILBOX_STATE
        elif dead_text and permanent:
            kind = ADDRESS_DEAD
        elif code in (551, 553) and stage == RCPT:
            # 551 user not local, 553 mailbox name not allowed (RFC 5321).
            kind = ADDRESS_DEAD
        elif code == 552:
            kind = MAILBOX_STATE
        elif permanent:
            # A refusal that names no cause: counted toward the limit, never
            # taken as proof that the address is dead.
            kind = MAILBOX_STATE
        else:
            kind = CONNECTION
    if kind == ADDRESS_DEAD and not permanent:
        # "4.1.1": the address may come back; it waits like a full mailbox.
        kind = MAILBOX_STATE
    if kind in (SENDER_REFUSED, CONNECTION):
        permanent = False
    return Failure(kind, permanent, status, text)
