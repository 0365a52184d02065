"""What a CRM export says beyond who a customer is, and the user's say over it.

**Status.** A column such as Churn, Exited, Attrition_Flag, Customer Status,
Klantstatus, Opgezegd or Actief says per row whether the customer departed or
is still active. Words with a meaning of their own (Churned, Stayed, Joined,
Attrited Customer, Existing Customer, Left, Closed, Opgezegd, Actief …) mean
the same in any column; yes/no words (Yes/No, 1/0, True/False, Y/N, Ja/Nee)
answer the column's question: "Churn: Yes" departed, "Actief: Ja" active. A
generic column (Status) asks nothing, so yes/no there cannot be read. A value
that cannot be read rejects its row, unless the user says what it means
(``Choices.status``: the import page, ``--status-map``). A suggested status
column whose first rows cannot be read as a status is not one (an invoice
"Status: Paid") and is kept as an extra attribute.

An active row has no departure date; a departed row without one has an
unknown date (None, never invited) unless the user gives one
(``Choices.departed_on``).

**Stated reason.** A reason column's values become Karn's reason codes: a
code or its Dutch name as it is, Stripe's feedback codes as Stripe's intake
maps them, and free wording ("Competitor offered higher download speeds")
as the reason tagger proposes, once per distinct value. The user may change
the code of any value (``Choices.reasons``; a blank code: no reason).

**Tenure** is read in months, in years only when the column's name says so
(Tenure (years), jaren, yrs …) or the user does (``Choices.tenure_unit``).

**Negative amounts** (a credit) leave out only that value: the row is kept,
with a warning.
"""

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from karn.customers.csv_errors import FieldError, _show
from karn.customers.csv_headers import _header_keys, normalise_header
from karn.customers.csv_values import (
    MAX_TENURE_MONTHS,
    _Fail,
    _money_str,
    _parse_decimal,
    _text_rule,
)
from karn.enums import CustomerStatus, Reason

DEPARTED, ACTIVE = CustomerStatus.DEPARTED, CustomerStatus.ACTIVE
MAX_COMMENT = 10_000
TENURE_UNITS = ("months", "years")


@dataclass
class Choices:
    """What the user said about a file's values, beyond the column mapping.

    status and reasons are keyed by value_key(value); the key "" is an empty
    status cell (rejected unless chosen here).
    """

    status: dict[str, CustomerStatus] = field(default_factory=dict)
    reasons: dict[str, Reason | None] = field(default_factory=dict)
    tenure_unit: str | None = None  # None: as the column's name says
    departed_on: date | None = None  # for departed rows without a date

    def __post_init__(self) -> None:
        # Keys as value_key() makes them, values as enums (ValueError if not one).
        self.status = {value_key(k): CustomerStatus(v) for k, v in self.status.items()}
        self.reasons = {
            value_key(k): Reason(v) if v else None for k, v in self.reasons.items()
        }
        if self.tenure_unit not in (None, *TENURE_UNITS):
            raise ValueError(f"tenure_unit must be months or years: {self.tenure_unit}")


def value_key(text: str) -> str:
    """A value as a lookup key: lower case, no accents, words split by spaces."""
    text = unicodedata.normalize("NFKD", text).casefold()
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.findall(r"[0-9a-z]+", text))


def _keys(words: str) -> frozenset[str]:
    return frozenset(value_key(w) for w in words.split("|"))


_YES = _keys("yes|y|true|t|1|1.0|ja|j|waar|x")
_NO = _keys("no|n|false|f|0|0.0|nee|onwaar")
_DEPARTED_WORDS = _keys(
    "churned|churn|churned customer|left|exited|attrited|attrited customer|"
    "cancelled|canceled|cancelled customer|closed|terminated|inactive|lost|"
    "former|former customer|ex customer|departed|gone|ended|lapsed|discontinued|"
    "deactivated|expired|verlopen|opgezegd|vertrokken|beeindigd|gestopt|inactief|"
    "gesloten|"
    "ex klant|oud klant|voormalig|voormalige klant|weg|afgemeld|verloren|"
    "gedeactiveerd|niet actief|not active|no longer a customer|geen klant meer"
)
_ACTIVE_WORDS = _keys(
    "stayed|stay|joined|active|existing|existing customer|current|"
    "current customer|retained|open|new|new customer|live|ongoing|subscribed|"
    "trialing|trial|in trial|past due|paused|future|customer|"
    "active customer|loyal|actief|nieuw|nieuwe klant|klant|lopend|gepauzeerd|"
    "bestaand|bestaande klant|huidig|huidige klant|gebleven|blijft|proef"
)
# Status column names by what their yes means: "departed" (Churn: Yes),
# "active" (Actief: Ja); a generic status column (Status) asks nothing.
_ASKS: dict[str, str] = {
    normalise_header(name): asks
    for asks, names in (
        (
            "departed",
            "churn|churned|churn label|churn value|churn flag|exited|attrition|"
            "attrition flag|has left|left|is churned|departed|opgezegd|"
            "vertrokken|is opgezegd|opzegging",
        ),
        (
            "active",
            "actief|active|is active|is actief|active customer|actieve klant|"
            "klant actief|nog klant|still customer",
        ),
    )
    for name in names.split("|")
}


def asks(header: str | None) -> str | None:
    """What a yes in this status column means: "departed", "active" or None."""
    if header is None:
        return None
    return next((_ASKS[k] for k in _header_keys(header) if k in _ASKS), None)


def read_status(
    key: str, asked: str | None, chosen: Mapping[str, CustomerStatus]
) -> CustomerStatus | None:
    """The status a value (as value_key) means in a column; None: unreadable."""
    if key in chosen:
        return chosen[key]
    if key in _DEPARTED_WORDS:
        return DEPARTED
    if key in _ACTIVE_WORDS:
        return ACTIVE
    if asked is not None and (key in _YES or key in _NO):
        return DEPARTED if (key in _YES) == (asked == "departed") else ACTIVE
    return None


def _status_rule(header: str, choices: Choices) -> Callable[[str], Any]:
    asked = asks(header)
    known: dict[str, CustomerStatus | _Fail] = {}

    def rule(text: str) -> CustomerStatus | _Fail:
        found = known.get(text)
        if found is None:
            status = read_status(value_key(text), asked, choices.status)
            found = (
                _Fail("unknown_status", value=_show(text)) if status is None else status
            )
            if len(known) < 10_000:
                known[text] = found
        return found

    return rule


# --- Reasons -------------------------------------------------------------------

_REASON_WORDS: dict[str, Reason] = {
    value_key(word): reason
    for reason, words in (
        (Reason.SERVICE, "service|klantenservice|customer service|support|attitude"),
        (Reason.QUALITY, "quality|kwaliteit|low quality|product"),
        (Reason.BRAND, "brand|merk|competitor|concurrent|concurrentie|switched"),
        (Reason.PRICE, "price|prijs|te duur|too expensive|cost|kosten"),
        (Reason.NEED, "need|behoefte|no need|geen behoefte|unused"),
        (Reason.OTHER, "other|overig|overige|anders|unknown|onbekend"),
    )
    for word in words.split("|")
}
# Stripe's cancellation feedback codes, as karn.api.stripe maps them.
_REASON_WORDS.update(
    {
        "customer service": Reason.SERVICE,
        "low quality": Reason.QUALITY,
        "switched service": Reason.BRAND,
        "too expensive": Reason.PRICE,
        "unused": Reason.NEED,
        "missing features": Reason.OTHER,
        "too complex": Reason.OTHER,
    }
)


def propose_reason(value: str) -> Reason:
    """The reason code a CRM's wording most likely means (the reason tagger).

    A reason list's values are short and often in either language: the
    tagger reads the value as Dutch and as English, and the surer reading
    that finds a reason wins; "other" when neither does.
    """
    known = _REASON_WORDS.get(value_key(value))
    if known is not None:
        return known
    from karn.text.reasons import tag_reasons

    best: tuple[float, str] = (0.0, Reason.OTHER.value)
    for lang in ("en", "nl"):
        for reason, confidence in tag_reasons(value, lang)[:1]:
            if reason != Reason.OTHER.value and confidence > best[0]:
                best = (confidence, reason)
    return Reason(best[1])


def _reason_rule(choices: Choices) -> Callable[[str], Any]:
    known: dict[str, Reason | None] = {}

    def rule(text: str) -> Reason | None:
        if text in known:
            return known[text]
        key = value_key(text)
        found = choices.reasons[key] if key in choices.reasons else propose_reason(text)
        if len(known) < 10_000:
            known[text] = found
        return found

    return rule


# --- Tenure and amounts --------------------------------------------------------

_YEAR_WORDS = frozenset("year years yr yrs jaar jaren jr jrs".split())
_MONTH_WORDS = frozenset("month months mo mos mth mths maand maanden mnd".split())


def tenure_unit(header: str | None) -> str:
    """ "years" when a tenure column's name says so (a month word wins), else
    "months"."""
    if not header:
        return "months"
    words = {w.casefold() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", header)}
    if words & _YEAR_WORDS and not words & _MONTH_WORDS:
        return "years"
    return "months"


def _years(text: str) -> int | _Fail:
    value = _parse_decimal(text)
    if type(value) is _Fail:
        return value
    if not value.is_finite():
        return _Fail("bad_number", value=_show(text))
    if value < 0:
        return _Fail("negative_tenure", value=_show(text))
    months = (value * 12).to_integral_value(rounding=ROUND_HALF_UP)
    if months > MAX_TENURE_MONTHS:
        return _Fail("number_too_large", value=_show(text), max=MAX_TENURE_MONTHS // 12)
    return int(months)


def _amount(text: str) -> Decimal | _Fail:
    result = _money_str(text)
    if type(result) is _Fail and result.code == "negative_revenue":
        return _Fail("negative_amount", drop=True, value=_show(text))
    return result


# --- The rules of one file -----------------------------------------------------


def column_rules(
    rules: Mapping[str, Any], mapping: Mapping[str, str | None], choices: Choices
) -> dict[str, Any]:
    """The value rules of a file's columns: rules with those of the status,
    reason, comment, tenure and amount columns made for this file."""
    column = {target: header for header, target in mapping.items() if target}
    made = dict(rules)
    made["status"] = _status_rule(column.get("status", ""), choices)
    made["stated_reason"] = _reason_rule(choices)
    made["stated_comment"] = _text_rule(MAX_COMMENT)
    unit = choices.tenure_unit or tenure_unit(column.get("tenure_months"))
    if unit == "years":
        made["tenure_months"] = _years
    made["monthly_revenue"] = made["lifetime_value"] = _amount
    return made


def settle(
    mapping: Mapping[str, str | None], choices: Choices
) -> Callable[[dict[str, Any]], FieldError | None] | None:
    """What a file's status and the user's date do to a row's departure date.

    None when there is nothing to do: no status column and no date given.
    """
    column = next((h for h, t in mapping.items() if t == "status"), None)
    on = choices.departed_on
    departed_on = (
        None if on is None else datetime(on.year, on.month, on.day, tzinfo=UTC)
    )
    if column is None and departed_on is None:
        return None
    empty = choices.status.get("")

    def apply(clean: dict[str, Any]) -> FieldError | None:
        if column is not None:
            status = clean.get("status")
            if status is None:
                if empty is None:
                    return FieldError.make(column, "missing_status")
                clean["status"] = status = empty
            if status == ACTIVE:
                clean["departed_at"] = None
                return None
        if clean.get("departed_at") is None:
            clean["departed_at"] = departed_on
        return None

    return apply


def confirm_status_column(
    mapping: dict[str, str | None],
    rows: Iterable[Mapping[str, str]],
    chosen: Mapping[str, str | None] | None = None,
) -> dict[str, str | None]:
    """The mapping without a suggested status column whose sample values are
    mostly not a status (kept as an extra attribute instead). A column the
    user chose (chosen) stays."""
    column = next((h for h, t in mapping.items() if t == "status"), None)
    if column is None or (chosen and column in chosen):
        return mapping
    asked = asks(column)
    readable = unreadable = 0
    for row in rows:
        key = value_key(row.get(column, ""))
        if key:
            if read_status(key, asked, {}) is None:
                unreadable += 1
            else:
                readable += 1
    if unreadable > readable:
        mapping = {**mapping, column: None}
    return mapping
