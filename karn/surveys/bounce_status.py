"""Classify a delivery failure: status codes, hard or soft, and the reason why."""

# Pure text in, plain data out. `bounces` reads a returned mail and asks this
# module what kind of failure its status code, reply code and prose describe.

import re
from typing import Literal

Kind = Literal["hard", "soft", "autoreply", "unknown"]
HARD: Kind = "hard"
SOFT: Kind = "soft"
AUTOREPLY: Kind = "autoreply"
UNKNOWN: Kind = "unknown"


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
