"""Template filters: dates, numbers and labels in the reader's language; and the
one rule every CSV and XLSX export applies to its text cells."""

import re
from datetime import datetime
from enum import StrEnum

from babel import dates as babel_dates
from babel.numbers import get_currency_symbol
from flask import Flask, current_app
from flask_babel import (
    LazyString,
    format_decimal,
    get_locale,
    get_timezone,
    gettext,
)
from flask_babel import lazy_gettext as _l

from karn.enums import (
    REASON_NAMES,
    CallOutcome,
    CallTaskSource,
    CallTaskStatus,
    CustomerStatus,
    InvitationStatus,
    OutboxStatus,
    Reason,
    Role,
    Sentiment,
    Source,
)


def reader_language() -> str:
    """The language of the page or mail being made: "nl" or "en"."""
    locale = get_locale()
    return locale.language if locale else "en"


def _in_reader_language(names: dict[str, str]) -> LazyString:
    return LazyString(lambda: names.get(reader_language(), names["en"]))


ROLE_LABELS = {
    Role.ADMIN: _l("Administrator"),
    Role.MANAGER: _l("Manager"),
    Role.STAFF: _l("Staff"),
}

# The canonical names (karn.enums.REASON_NAMES), as the survey shows them.
REASON_LABELS = {
    reason: _in_reader_language(names) for reason, names in REASON_NAMES.items()
}

OUTCOME_LABELS = {
    CallOutcome.REACHED: _l("Reached"),
    CallOutcome.NO_ANSWER: _l("No answer"),
    CallOutcome.VOICEMAIL: _l("Voicemail"),
    CallOutcome.WRONG_NUMBER: _l("Wrong number"),
    CallOutcome.DECLINED: _l("Declined to talk"),
    CallOutcome.WILL_RETURN: _l("Will return"),
}

SENTIMENT_LABELS = {
    Sentiment.NEGATIVE: _l("negative"),
    Sentiment.NEUTRAL: _l("neutral"),
    Sentiment.POSITIVE: _l("positive"),
}

# How a customer reached Karn.
SOURCE_LABELS = {
    Source.CSV: _l("CSV file"),
    Source.API: _l("API"),
    Source.STRIPE: _l("Stripe"),
    Source.MANUAL: _l("Added by hand"),
}

CUSTOMER_STATUS_LABELS = {
    CustomerStatus.ACTIVE: _l("Active"),
    CustomerStatus.DEPARTED: _l("Departed"),
}

INVITATION_LABELS = {
    InvitationStatus.SCHEDULED: _l("scheduled"),
    InvitationStatus.SENT: _l("sent"),
    InvitationStatus.REMINDED: _l("reminded"),
    InvitationStatus.RESPONDED: _l("responded"),
    InvitationStatus.EXPIRED: _l("expired"),
    InvitationStatus.UNSUBSCRIBED: _l("unsubscribed"),
    InvitationStatus.BOUNCED: _l("bounced"),
    InvitationStatus.FAILED: _l("failed"),
    InvitationStatus.CANCELLED: _l("cancelled"),
}

OUTBOX_LABELS = {
    OutboxStatus.HELD: _l("held"),
    OutboxStatus.PENDING: _l("waiting"),
    OutboxStatus.SENDING: _l("being sent"),
    OutboxStatus.SENT: _l("sent"),
    OutboxStatus.FAILED: _l("failed"),
    OutboxStatus.CANCELLED: _l("cancelled"),
}

CALL_SOURCE_LABELS = {
    CallTaskSource.REQUESTED: _l("Asked to be called"),
    CallTaskSource.HIGH_VALUE: _l("High value, no answer"),
    CallTaskSource.SELECTION: _l("Selection"),
    CallTaskSource.MANUAL: _l("Added by hand"),
    CallTaskSource.KEEP_CALL: _l("Keep call (at risk)"),
}

CALL_STATUS_LABELS = {
    CallTaskStatus.OPEN: _l("open"),
    CallTaskStatus.DONE: _l("done"),
    CallTaskStatus.CLOSED: _l("closed"),
}

# The customer attributes every customer has, by the names pages filter and
# compare by.
ATTRIBUTE_LABELS = {
    "segment": _l("Segment"),
    "plan": _l("Plan"),
    "region": _l("Region"),
    "source": _l("Source"),
}

# Every stored code with a label, by its enumeration. Call tasks and customers
# share the code "manual" but not its meaning, so labels go by enumeration.
_LABELS: dict[type, dict] = {
    Role: ROLE_LABELS,
    Reason: REASON_LABELS,
    CallOutcome: OUTCOME_LABELS,
    Sentiment: SENTIMENT_LABELS,
    Source: SOURCE_LABELS,
    CustomerStatus: CUSTOMER_STATUS_LABELS,
    InvitationStatus: INVITATION_LABELS,
    OutboxStatus: OUTBOX_LABELS,
    CallTaskSource: CALL_SOURCE_LABELS,
    CallTaskStatus: CALL_STATUS_LABELS,
}


_BY_NAME = {enum.__name__: enum for enum in _LABELS}


def label(value, enum: type[StrEnum] | str | None = None) -> str:
    """A stored code as the reader reads it: ``{{ customer.source|label }}``.

    Takes a member of one of Karn's enumerations, or a code string with its
    enumeration or the enumeration's name (``{{ "csv"|label("Source") }}``);
    "—" for None. A code without a label is shown as it is, so a new one is
    visible rather than an error.
    """
    if value is None or value == "":
        return "—"
    if isinstance(enum, str):
        enum = _BY_NAME[enum]
    enum = enum or type(value)
    labels = _LABELS.get(enum)
    if labels is None:
        return str(value)
    try:
        return str(labels[enum(value)])
    except (ValueError, KeyError):
        return str(value)


def attribute_label(name: str) -> str:
    """The name of a customer attribute (segment, plan, region, source); an
    imported column's own name."""
    return str(ATTRIBUTE_LABELS.get(name, name))


def date_locale() -> str:
    """The locale dates are written in: British English (7 Dec 2026, 24-hour
    clock) for English readers, as Karn's users are in Europe; else the
    reader's own."""
    language = reader_language()
    return "en_GB" if language == "en" else language


def localtime(value, fmt: str = "short") -> str:
    """A datetime in the company's time zone, formatted for the reader's language."""
    if not value:
        return ""
    return babel_dates.format_datetime(
        value, fmt, tzinfo=get_timezone(), locale=date_locale()
    )


def localdate(value, fmt: str = "medium") -> str:
    """A calendar date, or the date part of a datetime in the company's time zone."""
    if not value:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is None:  # stored as UTC
            value = value.replace(tzinfo=babel_dates.UTC)
        value = value.astimezone(get_timezone()).date()
    return babel_dates.format_date(value, fmt, locale=date_locale())


def number(value, digits: int | None = None) -> str:
    """A number with the reader's separators (1.234,5 in Dutch)."""
    if value is None:
        return "—"
    if digits is not None:
        return format_decimal(
            value, format="#,##0." + "0" * digits if digits else "#,##0"
        )
    return format_decimal(value)


def money(value, digits: int = 0, currency: str | None = None) -> str:
    """An amount with its currency's symbol (the reporting currency, CURRENCY,
    unless another is given), with the reader's separators: € 1.234. A
    no-break space joins the symbol to the number, so a line never ends in "€"."""
    if value is None:
        return "—"
    code = (currency or current_app.config.get("CURRENCY") or "EUR").upper()
    symbol = get_currency_symbol(code, locale=str(get_locale() or "en"))
    return f"{symbol}\N{NO-BREAK SPACE}{number(value, digits)}"


# Text a spreadsheet program may run as a formula: it starts with = + - @ (or
# their full-width forms, which some programs fold), also behind blanks and
# control characters, or it starts with a tab or a line break.
_FORMULA = re.compile(r"[\s\x00-\x1f\x7f]*[=+\-@\uff1d\uff0b\uff0d\uff20]|[\t\r\n]")


def spreadsheet_cell(value):
    """A value as an export writes it into a CSV or XLSX cell.

    Text a spreadsheet would run as a formula gets an apostrophe in front, so
    it shows as the text it is. Numbers, dates and None stay as they are: a
    negative amount is a number, not a formula.
    """
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return value


def spreadsheet_value(text: str) -> str:
    """Text read back from an exported cell: the apostrophe spreadsheet_cell()
    put in front is taken off again, any other text stays as it is."""
    if text.startswith("'") and _FORMULA.match(text, 1):
        return text[1:]
    return text


# Messages Karn writes into a row in English (a delivery's last error, say):
# each pattern with the template it was filled from, so a page shows the
# message in its reader's language, also for rows written before.
_STORED: list[tuple[re.Pattern[str], str]] = []


def stored_text(template: str):
    """Mark a message Karn keeps in the database: returns the function that
    fills it in (``%(name)s`` parameters) for storing; ``said`` shows what
    was stored in the reader's language, its parameters as they were."""
    parts = re.split(r"%\((\w+)\)s", template)
    names = parts[1::2]
    if "%" in "".join(parts[::2]) or len(set(names)) < len(names):
        raise ValueError(f"only distinct %(name)s parameters: {template!r}")
    # A parameter is one word (a host, an address, a number), a "detail" any
    # text: a mail server's own words never read as one of Karn's messages.
    word, anything = r"\S+?", ".*?"
    pattern = "".join(
        re.escape(part)
        if i % 2 == 0
        else f"(?P<{part}>{anything if part == 'detail' else word})"
        for i, part in enumerate(parts)
    )
    _STORED.append((re.compile(pattern, re.S), template))

    def fill(**params) -> str:
        return template % params

    return fill


def said(text: str | None) -> str | None:
    """A stored message in the reader's language; what Karn did not write
    itself (a mail server's answer) as it came."""
    if not text:
        return text
    for pattern, template in _STORED:
        found = pattern.fullmatch(text)
        if found:
            return gettext(template, **found.groupdict())
    return text


def register(app: Flask) -> None:
    app.add_template_filter(said, "said")
    app.add_template_filter(label, "label")
    app.add_template_global(attribute_label, "attribute_label")
    app.add_template_filter(localtime, "localtime")
    app.add_template_filter(number, "number")
    app.add_template_filter(money, "money")
    app.add_template_filter(localdate, "localdate")
    app.add_template_global(lambda role: ROLE_LABELS[Role(role)], "role_label")
    app.add_template_global(
        lambda reason: REASON_LABELS[Reason(reason)], "reason_label"
    )
