"""Template filters: dates, numbers and labels in the reader's language; and the
one rule every CSV and XLSX export applies to its text cells."""

import re
from datetime import datetime

from babel.numbers import get_currency_symbol
from flask import Flask, current_app
from flask_babel import format_date, format_datetime, format_decimal, get_locale
from flask_babel import lazy_gettext as _l

from karn.enums import CallOutcome, Reason, Role

ROLE_LABELS = {
    Role.ADMIN: _l("Administrator"),
    Role.MANAGER: _l("Manager"),
    Role.STAFF: _l("Staff"),
}

REASON_LABELS = {
    Reason.SERVICE: _l("Service"),
    Reason.QUALITY: _l("Quality"),
    Reason.BRAND: _l("Preferred another brand"),
    Reason.PRICE: _l("Price"),
    Reason.NEED: _l("My needs changed"),
    Reason.OTHER: _l("Other"),
}

OUTCOME_LABELS = {
    CallOutcome.REACHED: _l("Reached"),
    CallOutcome.NO_ANSWER: _l("No answer"),
    CallOutcome.VOICEMAIL: _l("Voicemail"),
    CallOutcome.WRONG_NUMBER: _l("Wrong number"),
    CallOutcome.DECLINED: _l("Declined to talk"),
    CallOutcome.WILL_RETURN: _l("Will return"),
}


def localtime(value, fmt: str = "short") -> str:
    """A datetime in the company's time zone, formatted for the reader's language."""
    return format_datetime(value, fmt) if value else ""


def localdate(value, fmt: str = "medium") -> str:
    """A calendar date, or the date part of a datetime in the company's time zone."""
    if not value:
        return ""
    if not isinstance(value, datetime):
        return format_date(value, fmt)
    from flask_babel import to_user_timezone

    return format_date(to_user_timezone(value).date(), fmt)


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
    unless another is given), with the reader's separators: € 1.234."""
    if value is None:
        return "—"
    code = (currency or current_app.config.get("CURRENCY") or "EUR").upper()
    symbol = get_currency_symbol(code, locale=str(get_locale() or "en"))
    return f"{symbol} {number(value, digits)}"


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


def register(app: Flask) -> None:
    app.add_template_filter(localtime, "localtime")
    app.add_template_filter(number, "number")
    app.add_template_filter(money, "money")
    app.add_template_filter(localdate, "localdate")
    app.add_template_global(lambda role: ROLE_LABELS[Role(role)], "role_label")
    app.add_template_global(
        lambda reason: REASON_LABELS[Reason(reason)], "reason_label"
    )
