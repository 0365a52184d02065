"""How an experiment's figures read: numbers, shares, points, money and
p-values in the reader's locale, the same for keep calls, follow-ups and
campaigns."""

from decimal import Decimal

from babel.numbers import format_currency, format_decimal, format_percent
from flask_babel import gettext as _

from karn.customers import currency as currencies
from karn.experiments import comparison


def points(value: float, lang: str, signed: bool = False) -> str:
    """A difference of shares in percentage points, one decimal."""
    text = format_decimal(abs(value) * 100, format="#,##0.0", locale=lang)
    if signed and round(value * 1000) != 0:
        return ("−" if value < 0 else "+") + text
    return text


def percent(value: float, lang: str) -> str:
    return format_percent(value, format="#,##0.0%", locale=lang)


def integer(value: int, lang: str) -> str:
    return format_decimal(value, locale=lang)


def money(value: Decimal, lang: str) -> str:
    """An amount in the reporting currency."""
    return format_currency(value, currencies.reporting(), locale=lang)


def p_text(p_value: float, lang: str) -> str:
    """'p = 0.003' or 'p < 0.001', never rounded across the 5% line."""
    from karn.analysis import stats

    return stats._p_text(p_value, comparison.ALPHA, lang)


def test_name(result: comparison.Comparison) -> str:
    """The test whose p-value is given, as a manager reads it."""
    if result.method == "fisher":
        return _("Fisher's exact test (small groups)")
    return _("two-proportion test")
