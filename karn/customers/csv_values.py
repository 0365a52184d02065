"""The value rules of the customer CSV parser: one rule per field.

Dates, decimals, money, tenure, language, e-mail, phone and text lengths, for
string cells (parse()) and typed JSON values (validate_record()). The module
notes on how dates and amounts are read are in karn.customers.csvparse's
docstring; in short, a single separator followed by exactly three digits
(``1.234``, ``1,234``) is read as a thousands separator, because amounts in
cents never have three decimals.
"""

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from karn import clock
from karn.customers.csv_errors import FieldError, _show
from karn.enums import CustomerStatus

# The column widths of the customers table.
MAX_LENGTHS: dict[str, int] = {
    "external_id": 100,
    "email": 254,
    "name": 200,
    "phone": 50,
    "plan": 100,
    "segment": 100,
    "region": 100,
}
MAX_AMOUNT = Decimal("1e12")
MAX_TENURE_MONTHS = 1200
# A departure can be announced ahead (a contract that ends in a few months),
# but one more than a year ahead is a typing error (2099 for 2019).
MAX_DEPARTURE_AHEAD = timedelta(days=366)
_CENT = Decimal("0.01")

# --- Values ----------------------------------------------------------------


class _Fail:
    """A value rule's verdict: code and message parameters (no exception cost).

    With drop, only the value is left out and the row is kept, with a warning
    (a negative amount in a file: a credit, which Karn does not store).
    """

    __slots__ = ("code", "params", "drop")

    def __init__(self, code: str, drop: bool = False, **params: Any) -> None:
        self.code = code
        self.params = params
        self.drop = drop


_UTC_NAMES = {"Z", "z", "UTC", "GMT"}
_TIME = (
    r"(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6})\d*)?)?)?"
    r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
)
_ISO_DATE = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _TIME)
_NUMERIC_DATE = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})" + _TIME)


@lru_cache(maxsize=4096)
def _parse_date(text: str, month_first: bool) -> datetime | _Fail:
    """A date string as an aware UTC datetime (cached: exports repeat dates)."""
    m = _ISO_DATE.fullmatch(text)
    if m:
        year, month, day = int(m[1]), int(m[3]), int(m[4])
    else:
        m = _NUMERIC_DATE.fullmatch(text)
        if not m:
            return _Fail("unparseable_date", value=_show(text))
        first, second, year = int(m[1]), int(m[3]), int(m[4])
        if month_first:
            month, day = (second, first) if first > 12 >= second else (first, second)
        else:
            month, day = (first, second) if second > 12 >= first else (second, first)
    hour, minute, second_ = int(m[5] or 0), int(m[6] or 0), int(m[7] or 0)
    micro = int((m[8] or "0").ljust(6, "0"))
    offset = m[9]
    if offset is None or offset in _UTC_NAMES:
        tz = UTC
    else:
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        tz = timezone(sign * delta)
    if not 1900 <= year <= 2200:
        return _Fail("unparseable_date", value=_show(text))
    try:
        moment = datetime(year, month, day, hour, minute, second_, micro, tzinfo=tz)
    except ValueError:
        return _Fail("unparseable_date", value=_show(text))
    return moment if tz is UTC else moment.astimezone(UTC)


_MONEY_NOISE = re.compile(r"(?i)eur(?:os?)?|usd|gbp|[€$£\s\u00a0\u2009\u202f']")
_NUMBER_CHARS = re.compile(r"[0-9.,]+")
_MINUS = ("-", "\u2212", "\u2013")


@lru_cache(maxsize=4096)
def _parse_decimal(text: str) -> Decimal | _Fail:
    """A number written the Dutch or the English way, signs and currency allowed."""
    bad = _Fail("bad_number", value=_show(text))
    s = _MONEY_NOISE.sub("", text)
    negative = False
    if s[:1] == "(" and s[-1:] == ")":
        negative, s = True, s[1:-1]
    if s[:1] in _MINUS:
        negative, s = True, s[1:]
    elif s[-1:] in _MINUS:
        negative, s = True, s[:-1]
    elif s[:1] == "+":
        s = s[1:]
    if not _NUMBER_CHARS.fullmatch(s) or not any(c.isdigit() for c in s):
        return bad
    dots, commas = s.count("."), s.count(",")
    if dots and commas:
        point = "." if s.rfind(".") > s.rfind(",") else ","
        grouping = "," if point == "." else "."
        if s.count(point) > 1:
            return bad
        whole, _, fraction = s.partition(point)
        groups = whole.split(grouping)
    elif dots + commas > 1:
        whole, fraction = s, ""
        groups = whole.split("." if dots else ",")
    elif dots + commas == 1:
        whole, _, fraction = s.partition("." if dots else ",")
        if len(fraction) == 3 and 1 <= len(whole) <= 3 and whole[0] != "0":
            # "1.234" / "1,234": a thousands separator, see the module notes.
            whole, fraction = whole + fraction, ""
        groups = [whole]
    else:
        whole, fraction, groups = s, "", [s]
    if len(groups) > 1 and (
        not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])
    ):
        return bad
    digits = "".join(groups) or "0"
    if not digits.isdigit() or (fraction and not fraction.isdigit()):
        return bad
    try:
        value = Decimal(f"{digits}.{fraction}" if fraction else digits)
    except InvalidOperation:
        return bad
    return -value if negative else value


def _money(value: Decimal, shown: Any) -> Decimal | _Fail:
    if not value.is_finite():
        return _Fail("bad_number", value=_show(shown))
    if value < 0:
        return _Fail("negative_revenue", value=_show(shown))
    if value >= MAX_AMOUNT:
        return _Fail("number_too_large", value=_show(shown), max=MAX_AMOUNT)
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _tenure(value: Decimal, shown: Any) -> int | _Fail:
    if not value.is_finite():
        return _Fail("bad_number", value=_show(shown))
    if value < 0:
        return _Fail("negative_tenure", value=_show(shown))
    if value != value.to_integral_value():
        return _Fail("bad_integer", value=_show(shown))
    if value > MAX_TENURE_MONTHS:
        return _Fail("number_too_large", value=_show(shown), max=MAX_TENURE_MONTHS)
    return int(value)


# The common shapes ("12", "12,5", "€ 12.50"), read without the general parser.
_PLAIN_AMOUNT = re.compile(r"(?:€ ?)?(\d{1,9})(?:[.,](\d{1,2}))?")
_GROUPED_AMOUNT = re.compile(
    r"(?:€ ?)?(?:([1-9]\d{0,2}(?:\.\d{3}){1,3})(?:,(\d{1,2}))?"
    r"|([1-9]\d{0,2}(?:,\d{3}){1,3})(?:\.(\d{1,2}))?)"
)
_PLAIN_INTEGER = re.compile(r"\d{1,4}")


def _money_str(text: str) -> Decimal | _Fail:
    m = _PLAIN_AMOUNT.fullmatch(text)
    if m:
        return Decimal(f"{m[1]}.{(m[2] or '').ljust(2, '0')}")
    m = _GROUPED_AMOUNT.fullmatch(text)
    if m:
        whole = (m[1] or m[3]).replace(".", "").replace(",", "")
        return Decimal(f"{whole}.{(m[2] or m[4] or '').ljust(2, '0')}")
    value = _parse_decimal(text)
    return value if type(value) is _Fail else _money(value, text)


def parse_money(text: str) -> Decimal | None:
    """An amount typed in a form (Dutch or English way), or None if it is not one."""
    value = _money_str(text.strip())
    return None if type(value) is _Fail else value


def _tenure_str(text: str) -> int | _Fail:
    if _PLAIN_INTEGER.fullmatch(text):
        months = int(text)
        if months <= MAX_TENURE_MONTHS:
            return months
    value = _parse_decimal(text)
    return value if type(value) is _Fail else _tenure(value, text)


_LANGUAGE_WORDS = {
    "nl": "nl",
    "nld": "nl",
    "dut": "nl",
    "ned": "nl",
    "dutch": "nl",
    "nederlands": "nl",
    "hollands": "nl",
    "vlaams": "nl",
    "flemish": "nl",
    "en": "en",
    "eng": "en",
    "english": "en",
    "engels": "en",
    "anglais": "en",
}


_LANGUAGE_CODES = {"nl": "nl", "nld": "nl", "dut": "nl", "en": "en", "eng": "en"}


@lru_cache(maxsize=256)
def _language(text: str) -> str | _Fail:
    """nl or en from a code (nl-NL, en_GB) or a name in English or Dutch."""
    key = text.casefold().replace("_", "-")
    found = _LANGUAGE_WORDS.get(key)
    if found is None and "-" in key:
        # A tag with a region or script (nl-BE, en-GB): only codes, not names.
        found = _LANGUAGE_CODES.get(key.split("-", 1)[0])
    if found is not None:
        return found
    return _Fail("unknown_language", value=_show(text))


# An address this matches is one email_validator accepts, with the same result
# after lower-casing; anything else goes to email_validator itself. Domains with
# "--" (punycode and its look-alikes) and reserved names are left to it.
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_FAST_EMAIL = re.compile(
    rf"({_ATOM}(?:\.{_ATOM})*)@((?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+"
    r"[a-z]{2,63})",
    re.IGNORECASE,
)


@lru_cache(maxsize=1)
def _reserved() -> tuple[frozenset[str], tuple[str, ...]]:
    """email_validator's reserved names (local, test, ...) as top-level domains
    and as suffixes; a domain ending in one of them is left to email_validator
    to reject. email_validator is imported on the first address checked: its
    patterns take a fiftieth of a second to compile, on every start."""
    from email_validator import SPECIAL_USE_DOMAIN_NAMES

    tlds = frozenset(d.lower() for d in SPECIAL_USE_DOMAIN_NAMES if "." not in d)
    suffixes = tuple("." + d.lower() for d in SPECIAL_USE_DOMAIN_NAMES if "." in d)
    return tlds, suffixes


def _email(text: str) -> str | _Fail:
    """A valid address, lower-cased; the full check only runs for unusual ones."""
    m = _FAST_EMAIL.fullmatch(text)
    if m and len(text) <= 254 and len(m[1]) <= 64:
        domain = m[2].lower()
        tlds, suffixes = _reserved()
        if (
            "--" not in domain
            and domain.rpartition(".")[2] not in tlds
            and not (suffixes and ("." + domain).endswith(suffixes))
        ):
            return text.lower()
    return _email_slow(text)


@lru_cache(maxsize=1024)
def _email_slow(text: str) -> str | _Fail:
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return _Fail("invalid_email", value=_show(text))
    return result.normalized.lower()


_DIGIT = re.compile(r"\d")


def _phone(text: str) -> str | _Fail:
    if not _DIGIT.search(text):
        return _Fail("phone_without_digits", value=_show(text))
    if len(text) > MAX_LENGTHS["phone"]:
        return _Fail("too_long", max=MAX_LENGTHS["phone"])
    return text


def _text_rule(limit: int):
    def rule(text: str) -> str | _Fail:
        return text if len(text) <= limit else _Fail("too_long", max=limit)

    return rule


_STATUSES = {s.value: s for s in CustomerStatus}


def _status(text: str) -> CustomerStatus | _Fail:
    """active or departed, as the API and the form name them (a file's words:
    karn.customers.csv_status)."""
    found = _STATUSES.get(text.casefold())
    return _Fail("invalid_status", value=_show(text)) if found is None else found


def _latest_departure() -> datetime:
    return clock.now() + MAX_DEPARTURE_AHEAD


def _date_rule(month_first: bool, latest: datetime):
    """The departed_at rule: a readable date, at most a year from now.

    latest is fixed when the rule is made (once per file), so the check costs
    one comparison a row; _parse_date's cache cannot hold it, as "now" moves.
    """

    def rule(text: str) -> datetime | _Fail:
        result = _parse_date(text, month_first)
        if type(result) is datetime and result > latest:
            return _Fail("future_date", value=_show(text))
        return result

    return rule


# Rules for string values (already stripped and non-empty), by date order.
_BASE_RULES: dict[str, Any] = {
    "external_id": _text_rule(MAX_LENGTHS["external_id"]),
    "email": _email,
    "name": _text_rule(MAX_LENGTHS["name"]),
    "phone": _phone,
    "language": _language,
    "plan": _text_rule(MAX_LENGTHS["plan"]),
    "segment": _text_rule(MAX_LENGTHS["segment"]),
    "region": _text_rule(MAX_LENGTHS["region"]),
    "tenure_months": _tenure_str,
    "monthly_revenue": _money_str,
    "lifetime_value": _money_str,
    "status": _status,
}


def _string_rules(month_first: bool) -> dict[str, Any]:
    """The rules for string values, with the departure limit as of now."""
    return {**_BASE_RULES, "departed_at": _date_rule(month_first, _latest_departure())}


_NUMBER_FIELDS = {"tenure_months", "monthly_revenue", "lifetime_value"}


def _typed(name: str, value: Any) -> Any:
    """Rules for values that arrive typed from JSON (int, float, datetime...)."""
    if name in _NUMBER_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return _Fail("invalid_value", value=_show(value))
        try:
            number = value if isinstance(value, Decimal) else Decimal(str(value))
        except InvalidOperation:
            return _Fail("bad_number", value=_show(value))
        if name == "tenure_months":
            return _tenure(number, value)
        return _money(number, value)
    if name == "departed_at":
        if isinstance(value, datetime):
            if value.tzinfo is None:
                moment = value.replace(tzinfo=UTC)
            else:
                moment = value.astimezone(UTC)
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
        else:
            return _Fail("invalid_value", value=_show(value))
        if moment > _latest_departure():
            return _Fail("future_date", value=_show(value))
        return moment
    if name in ("external_id", "phone") and type(value) is int:
        return _BASE_RULES[name](str(value))
    return _Fail("invalid_value", value=_show(value))


def _validate(
    values: Mapping[str, Any],
    month_first: bool,
) -> tuple[dict[str, Any], list[FieldError]]:
    """validate_record()'s loop over _string_rules, which parse() also applies."""
    # The date rule reads the clock: only made when there is a date to check.
    rules = _string_rules(month_first) if "departed_at" in values else _BASE_RULES
    clean: dict[str, Any] = {}
    errors: list[FieldError] | None = None
    for name, value in values.items():
        if type(value) is str or isinstance(value, str):
            value = value.strip()
            if not value:
                clean[name] = None
                continue
            rule = rules.get(name)
            if rule is None:
                result = _Fail("unknown_field", value=_show(name))
            else:
                result = rule(value)
        elif value is None:
            clean[name] = None
            continue
        elif name not in rules:
            result = _Fail("unknown_field", value=_show(name))
        else:
            result = _typed(name, value)
        if type(result) is _Fail:
            if errors is None:
                errors = []
            errors.append(FieldError.make(name, result.code, **result.params))
        else:
            clean[name] = result
    # Only when both are absent: an e-mail that is present but invalid already
    # has its own error, and "missing" would mislead.
    if _blank(values.get("external_id")) and _blank(values.get("email")):
        if errors is None:
            errors = []
        errors.append(FieldError.make(None, "missing_id_and_email"))
    return clean, errors or []


class _Seen:
    """Where each customer of a file was first accepted: by number, else address.

    Two rows with one customer number would be stored as one customer, the
    later overwriting the earlier in silence: the later is rejected, naming the
    line of the first. Rows without a number are told apart by e-mail address,
    as intake matches them. Memory grows with the file (some 120 bytes a row),
    so only what a check needs is kept: a row without a number whose address an
    earlier row with a number had is left to intake, which matches it to that
    customer as it would in a later import.
    """

    __slots__ = ("ids", "emails", "id_column", "email_column")

    def __init__(self, id_column: str | None, email_column: str | None) -> None:
        self.ids: dict[str, int] = {}
        self.emails: dict[str, int] = {}  # of rows without a customer number
        self.id_column = id_column
        self.email_column = email_column

    def check(self, clean: Mapping[str, Any], has_id: Any) -> FieldError | None:
        """The error of a row whose customer an earlier row already had."""
        if has_id:
            value, column, code = clean.get("external_id"), self.id_column, "id"
            first = self.ids.get(value) if value is not None else None
        else:
            value, column, code = clean.get("email"), self.email_column, "email"
            first = self.emails.get(value) if value is not None else None
        if first is None:
            return None
        return FieldError.make(
            column, f"duplicate_{code}", value=_show(value), line=first
        )

    def add(self, clean: Mapping[str, Any], line: int) -> None:
        """Remember an accepted row's customer number, or else its address."""
        if (ext := clean.get("external_id")) is not None:
            self.ids[ext] = line
        elif (email := clean.get("email")) is not None:
            self.emails[email] = line


def _blank(value: Any) -> bool:
    return value is None or (type(value) is str and not value.strip())


def validate_record(
    fields: Mapping[str, Any], *, date_order: str = "dmy"
) -> tuple[dict[str, Any], list[FieldError]]:
    """Check and clean one customer's fields (strings or typed JSON values).

    Returns the cleaned fields (only the keys given; empty strings become None)
    and the errors, whose column is the field name. The same rules as parse().
    """
    return _validate(fields, _month_first(date_order))


def _month_first(date_order: str) -> bool:
    if date_order not in ("dmy", "mdy"):
        raise ValueError(f"date_order must be 'dmy' or 'mdy', not {date_order!r}")
    return date_order == "mdy"
