"""Why a mail was not delivered: one taxonomy of reasons for every failure.

Both an SMTP reply seen while sending (``mail_failures.classify``) and a
returned mail (``bounces.parse_bounce``) come down to a *reason*, classified
by one function, ``classify_reason``, from what the failure says: its
enhanced status code (RFC 3463), its reply code, the server's words and the
DSN action. Each reason has one *effect*, the kind of failure that decides
whom it costs:

- ``ADDRESS_DEAD`` only for reasons that say *this address cannot receive
  mail*: no such user, no such domain, moved, or a domain that accepts no mail
  at all. Only a permanent one; a temporary one waits as ``MAILBOX_STATE``.
- ``MAILBOX_STATE`` for the recipient's mailbox and the recipient's own
  limits: full, suspended, the recipient's filter, a message or recipient list
  over their limit, delivery given up after days of trying (their server never
  answered), and a permanent refusal that names no cause. These count toward
  the customer's limit of failures but never silence the customer at once.
- ``SENDER_REFUSED`` for refusals of *us*: policy, spam and virus filters,
  SPF/DKIM/DMARC, blocklists, reputation, reverse DNS, our envelope sender,
  sending rate, relaying, TLS. The customer's address may be fine.
- ``CONNECTION`` for network, system and mail-program errors on either side.

The wordings per reason follow the vocabulary mail systems use in the wild
(as collected by bounce classifiers such as Sisimai), written as our own
patterns. Pure text in, plain data out.
"""

import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from karn.surveys.bounce_status import (
    CONNECT,
    DATA,
    MAIL,
    RCPT,
    find_reply_code,
    find_status,
    stage_of,
    status_reason,
    words_reason,
)

__all__ = [
    "ADDRESS_DEAD",
    "MAILBOX_STATE",
    "SENDER_REFUSED",
    "CONNECTION",
    "CONNECT",
    "MAIL",
    "RCPT",
    "DATA",
    "Reason",
    "REASONS",
    "DEAD_REASONS",
    "classify_reason",
    "effect_of",
    "host_reason",
    "find_reply_code",
    "find_status",
    "is_permanent",
    "label_of",
    "stage_of",
]

ADDRESS_DEAD = "address_dead"
MAILBOX_STATE = "mailbox_state"
SENDER_REFUSED = "sender_refused"
CONNECTION = "connection"


@dataclass(frozen=True)
class Reason:
    """One reason for a failure, what it costs whom, and what to check."""

    code: str
    effect: str
    label: object  # a lazy string
    advice: object | None = None

    @property
    def touches_customer(self) -> bool:
        return self.effect in (ADDRESS_DEAD, MAILBOX_STATE)


def _reasons(*items: Reason) -> dict[str, Reason]:
    return {r.code: r for r in items}


_CHECK_DNS = _l(
    "Check that the sending domain's SPF record includes the mail server, "
    "that mail is DKIM-signed, and that DMARC alignment passes."
)
_CHECK_LISTS = _l(
    "Check whether the sending server's IP address or domain is on a blocklist "
    "such as Spamhaus, and ask for removal once the cause is fixed."
)

REASONS: dict[str, Reason] = _reasons(
    Reason("user_unknown", ADDRESS_DEAD, _l("No such mailbox")),
    Reason("host_unknown", ADDRESS_DEAD, _l("The recipient's domain does not exist")),
    Reason("has_moved", ADDRESS_DEAD, _l("The mailbox has moved")),
    Reason("not_accept", ADDRESS_DEAD, _l("The recipient's domain accepts no mail")),
    Reason("mailbox_full", MAILBOX_STATE, _l("Mailbox full")),
    Reason("suspended", MAILBOX_STATE, _l("Mailbox disabled or suspended")),
    Reason("filtered", MAILBOX_STATE, _l("Refused by the recipient's own filter")),
    Reason("message_too_big", MAILBOX_STATE, _l("Message larger than accepted")),
    Reason("exceed_limit", MAILBOX_STATE, _l("Over the recipient's limits")),
    Reason(
        "expired",
        MAILBOX_STATE,
        _l("Delivery given up after retrying"),
        _l(
            "The receiving server did not accept the message for days; if this "
            "happens for many domains, check the sending server's network."
        ),
    ),
    Reason("undefined", MAILBOX_STATE, _l("Refused without a stated cause")),
    Reason("on_hold", MAILBOX_STATE, _l("Not delivered, cause unclear")),
    Reason(
        "spam_detected",
        SENDER_REFUSED,
        _l("Taken for spam"),
        _l(
            "Check the message content and links, and that SPF, DKIM and DMARC "
            "pass; content that looks like bulk mail is refused."
        ),
    ),
    Reason(
        "virus_detected",
        SENDER_REFUSED,
        _l("Taken for a virus"),
        _l("Check the message for attachments or links that scanners refuse."),
    ),
    Reason(
        "content_error",
        SENDER_REFUSED,
        _l("Message format refused"),
        _l("Check that the message's headers and MIME structure are well formed."),
    ),
    Reason(
        "policy",
        SENDER_REFUSED,
        _l("Refused by the receiver's policy"),
        _l(
            "Check the receiver's published policy and that SPF, DKIM and DMARC "
            "pass for the sending domain."
        ),
    ),
    Reason(
        "auth_failure", SENDER_REFUSED, _l("Sender authentication failed"), _CHECK_DNS
    ),
    Reason("blocked", SENDER_REFUSED, _l("Sending server blocked"), _CHECK_LISTS),
    Reason(
        "bad_reputation",
        SENDER_REFUSED,
        _l("Sending reputation too low"),
        _l(
            "Check the sending IP address and domain reputation and complaint "
            "rates; send less and only to people who asked for the mail."
        ),
    ),
    Reason(
        "require_ptr",
        SENDER_REFUSED,
        _l("Reverse DNS missing"),
        _l(
            "Give the sending server's IP address a reverse DNS (PTR) record "
            "whose name resolves back to the same address."
        ),
    ),
    Reason(
        "rejected",
        SENDER_REFUSED,
        _l("Sender address refused"),
        _l(
            "Check that the envelope sender (bounce address) and From address "
            "exist, are spelled right and belong to a domain with valid DNS."
        ),
    ),
    Reason(
        "rate_limited",
        SENDER_REFUSED,
        _l("Sending too fast"),
        _l("Lower the sending rate and the number of connections per server."),
    ),
    Reason(
        "no_relaying",
        SENDER_REFUSED,
        _l("Relaying refused"),
        _l(
            "Check the SMTP server settings and login: the server refused to "
            "pass the mail on for this sender."
        ),
    ),
    Reason(
        "security_error",
        SENDER_REFUSED,
        _l("Refused for security reasons"),
        _l(
            "Check the SMTP login, TLS settings and that SPF, DKIM and DMARC "
            "pass for the sending domain."
        ),
    ),
    Reason(
        "network_error",
        CONNECTION,
        _l("Network or DNS error"),
        _l("Check DNS resolution and the network path to the receiving servers."),
    ),
    Reason(
        "system_error",
        CONNECTION,
        _l("Mail system error"),
        _l("A mail server had an internal error; it usually passes on its own."),
    ),
    Reason(
        "mailer_error",
        CONNECTION,
        _l("Mail program error"),
        _l("A delivery program on the receiving side failed; nothing to change."),
    ),
)

# Reasons that say the address itself cannot receive mail.
DEAD_REASONS = frozenset(c for c, r in REASONS.items() if r.effect == ADDRESS_DEAD)
# Reasons that say nothing about the address, and count only when permanent.
VAGUE_REASONS = frozenset({"undefined", "on_hold"})


def effect_of(reason: str, permanent: bool = True, status: str | None = None) -> str:
    """The kind of failure a reason is, adjusted for a temporary one. A domain
    that accepts no mail counts as dead only when said with a 5.x.x code (or
    none): a 4.x.x one may be a passing DNS state."""
    effect = REASONS.get(reason, REASONS["undefined"]).effect
    if reason == "not_accept" and status and status[0] == "4":
        permanent = False
    if effect == ADDRESS_DEAD and not permanent:
        # "4.1.1": the address may come back; it waits like a full mailbox.
        return MAILBOX_STATE
    if reason in VAGUE_REASONS and not permanent:
        return CONNECTION
    return effect


def label_of(reason: str) -> object:
    """The reason's label for people."""
    return REASONS.get(reason, REASONS["undefined"]).label


# --- classification ----------------------------------------------------------------


def is_permanent(
    status: str | None, reply_code: int | None, action: str | None = None
) -> bool:
    """Whether a failure is final: a 5.x.x status or 5xx reply, or a DSN that
    says the message failed (a server that gave up after retrying)."""
    if action == "delayed":
        return False
    if action == "failed":
        return True
    if status:
        return status[0] == "5"
    return reply_code is not None and 500 <= reply_code < 600


def classify_reason(
    status: str | None,
    reply_code: int | None,
    text: str | None,
    action: str | None = None,
    stage: str | None = None,
) -> str:
    """The reason (a key of REASONS) a failure's status, reply code, words and
    DSN action give. ``stage`` is where in SMTP it came, when known; otherwise
    the words are read for it."""
    text = text or ""
    status = status or find_status(text)
    reply_code = reply_code or find_reply_code(text)
    stage = stage or stage_of(text)
    if _LOCAL_PROGRAM.search(text):
        # A local delivery program (procmail, a pipe) failed: not the address.
        return "mailer_error"
    by_words = words_reason(text)
    by_status, decisive = status_reason(status)
    if decisive:
        reason = by_status
        if reason in DEAD_REASONS and by_words and _speaks_otherwise(by_words):
            # "5.1.1 ... blocked": the words say the refusal is not about the
            # address, whatever the code was chosen for.
            reason = by_words
    else:
        reason = by_words or by_status or _fallback(status, reply_code, action, text)
        if by_status == "blocked" and REASONS[reason].touches_customer:
            # "4.7.x" with words about the address: still a refusal of us.
            reason = by_status
    temporary = bool(status and status[0] == "4")
    if stage in (CONNECT, MAIL) and (reason in DEAD_REASONS or reason in VAGUE_REASONS):
        # Refused before any recipient was named, or the address refused is
        # our own envelope sender.
        return "blocked" if stage == CONNECT else "rejected"
    if reason == "user_unknown" and stage != RCPT and not decisive:
        subject = status.split(".")[1] if status else None
        if stage == DATA or subject == "7":
            # The recipient was accepted and the message then refused "for"
            # it, or the code is about security rather than the address: the
            # recipient's filter speaking as often as a missing mailbox.
            return "filtered"
        codes = {c.split(".")[1] for c in (status, find_status(text)) if c}
        if stage is None and reply_code and codes <= {"0"}:
            # A relayed reply with neither an address code nor the command it
            # answered: nothing shows it was about the recipient rather than
            # the message.
            return "filtered"
    if reason == "host_unknown" and temporary and not decisive:
        # A DNS failure the server still took for temporary.
        return "network_error"
    return reason


_LOCAL_PROGRAM = re.compile(r"(?i)\bx-unix\s*;|\bprocmail\b|pipe to \|")


def _speaks_otherwise(by_words: str) -> bool:
    effect = REASONS[by_words].effect
    return effect == SENDER_REFUSED or by_words in (
        "mailbox_full",
        "suspended",
        "filtered",
        "message_too_big",
        "exceed_limit",
    )


def _fallback(
    status: str | None, reply_code: int | None, action: str | None, text: str
) -> str:
    """A reason from what little is left: the reply code, the action."""
    if reply_code == 552:
        return "mailbox_full"  # RFC 5321: exceeded storage allocation
    if reply_code == 421 or (status and status.startswith("4.")):
        return "system_error"
    if action == "delayed":
        return "expired"
    return "on_hold" if text.strip() else "undefined"


# --- the receiving provider's own codes ------------------------------------------

# Large mailbox providers document their refusals by a code or a fixed
# wording; when the receiving host (or the recipient's domain) is theirs, that
# reading comes before the generic one. Keys are host-name suffixes.

# Orange and La Poste: "LPN007_416", "OFR_416", "OUK_513" (the last three
# digits name the cause).
_ORANGE_CODE = re.compile(r"(?i)\b(?:lpn|lpnaaa|ofr|ouk)(?:_\d{3}|\d{3}[-_]\d{3})\b")
_ORANGE = {
    "blocked": "101 102 103 510 999",
    "rate_limited": "104",
    "security_error": "305 402",
    "auth_failure": "401 517",
    "rejected": "403 405 415 421",
    "user_unknown": "416",
    "mailbox_full": "417",
    "suspended": "420 426",
    "system_error": "505",
    "spam_detected": "506",
    "message_too_big": "514",
    "policy": "630",
}
_ORANGE_REASONS = {c: r for r, codes in _ORANGE.items() for c in codes.split()}

# Cox: "AUP#CXBL" and the like.
_COX_CODE = re.compile(r"AUP#([0-9A-Z]+)")
_COX = [
    ("CXBL", "blocked"),
    ("CDRBL", "blocked"),
    ("IPBL", "blocked"),
    ("CXDNS", "require_ptr"),
    ("CXSNDR", "auth_failure"),
    ("CXSMTP", "rejected"),
    ("CXCNCT", "rate_limited"),
    ("CXMXRT", "rate_limited"),
    ("CXTHRT", "security_error"),
    ("CXMJ", "security_error"),
    ("URLBL", "spam_detected"),
]

# Spectrum (Charter): "AUP#In-1310", by number range.
_SPECTRUM_CODE = re.compile(r"AUP#[-A-Za-z]*(\d{4})")
_SPECTRUM = [
    (1000, 1000, "blocked"),
    (1010, 1080, "rejected"),
    (1090, 1090, "system_error"),
    (1100, 1150, "require_ptr"),
    (1160, 1190, "policy"),
    (1200, 1250, "blocked"),
    (1260, 1260, "network_error"),
    (1300, 1490, "rate_limited"),
    (1500, 1520, "rejected"),
    (1530, 1530, "message_too_big"),
    (1540, 1580, "rate_limited"),
]

# Fixed wordings per provider, over the lower-cased text.
_PROVIDER_WORDS: dict[tuple[str, ...], list[tuple[str, str]]] = {
    (".yahoodns.net",): [
        ("user_unknown", r"dd this user doesn't have a |mailbox not found"),
        ("suspended", r" is no longer valid\.|this mailbox is disabled"),
        ("policy", r"not accepted for policy reasons"),
        ("auth_failure", r"requires all senders to authenticate"),
        ("rejected", r"deferred due to unexpected volume|will be permanently deferred"),
        ("rate_limited", r"receiving mail too quickly|max message per connection"),
        ("blocked", r"spamhaus"),
    ],
    (".ezweb.ne.jp", "msmx.au.com"): [
        ("user_unknown", r">: user unknown"),
        ("filtered", r"550 : user unknown"),
    ],
    (".qq.com",): [
        ("auth_failure", r"(spf|dmarc) check failed"),
        ("rate_limited", r"frequency limited"),
        ("blocked", r"suspected bounce attacks|suspected spam ip|connection denied"),
        ("spam_detected", r"spam is embedded|mail content denied"),
        ("rejected", r"suspected spam|mail is rejected by recipients"),
        ("message_too_big", r"message too large"),
        ("suspended", r"is a deactivated mailbox"),
        ("user_unknown", r"mailbox not found"),
    ],
    # Google Groups refuses posts from non-members and to missing groups.
    (".googlegroups.com",): [("rejected", r".")],
    ("mfsmax.docomo.ne.jp",): [
        ("mailbox_full", r"552 too much mail data"),
        ("rate_limited", r"552 too many recipients"),
    ],
    (".mimecast.com",): [
        ("auth_failure", r"(spf|dkim|dmarc) sender invalid"),
        ("policy", r"host network,? not allowed|anti-spoofing policy"),
        ("policy", r"content examination policy"),
        ("rejected", r"envelope blocked|blocked senders|block policy for"),
    ],
}


def host_reason(
    host: str | None,
    domain: str | None,
    text: str | None,
    status: str | None = None,
    stage: str | None = None,
) -> str | None:
    """The reason a large provider's documented code or wording gives, when
    the receiving host (or the recipient's domain) is that provider's."""
    names = [n.lower().rstrip(".") for n in (host, domain) if n]
    if not names or not text:
        return None

    def ours(*suffixes: str) -> bool:
        return any(
            f".{name}".endswith(s if s[0] == "." else f".{s}")
            for name in names
            for s in suffixes
        )

    if ours(".laposte.net", ".orange.fr", ".wanadoo.fr"):
        match = _ORANGE_CODE.search(text)
        if match:
            return _ORANGE_REASONS.get(match.group(0)[-3:], "undefined")
    if ours(".cox.net"):
        match = _COX_CODE.search(text)
        if match:
            for prefix, reason in _COX:
                if match.group(1).startswith(prefix):
                    return reason
    if ours(".charter.net"):
        match = _SPECTRUM_CODE.search(text)
        if match:
            number = int(match.group(1))
            for low, high, reason in _SPECTRUM:
                if low <= number <= high:
                    return reason
    lowered = " ".join(text.lower().split())
    for suffixes, rules in _PROVIDER_WORDS.items():
        if ours(*suffixes):
            for reason, words in rules:
                if re.search(words, lowered):
                    return reason
    if ours("mfsmax.docomo.ne.jp"):
        # NTT docomo: 5.2.0 is the recipient's own filter; a bare 5.0.0 is
        # the address at RCPT and a refusal of the message at DATA.
        if status == "5.2.0":
            return "filtered"
        if status == "5.0.0" and stage in (RCPT, DATA):
            return "user_unknown" if stage == RCPT else "rejected"
    return None
