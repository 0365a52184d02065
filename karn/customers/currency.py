"""Currencies: the reporting currency, and how many decimals each one has.

A customer's amounts are in `customers.currency` (ISO 4217, upper case), or in
the reporting currency (`CURRENCY`, default EUR) when that is empty. Amounts
in another currency are stored and shown with their code, and left out of
every sum: adding yen to euros would make the sum mean nothing.
"""

from decimal import Decimal

import sqlalchemy as sa
from flask import current_app, has_app_context

from karn.config import Defaults
from karn.customers.models import Customer

# Stripe states amounts in the currency's smallest unit. These have none below
# the unit (Stripe's list of zero-decimal currencies) ...
ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)
# ... and these three decimals (a thousandth).
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())


def minor_units(currency: str | None) -> Decimal:
    """How many of its smallest units make one of the currency: 1, 100 or 1000."""
    code = (currency or "").upper()
    if code in ZERO_DECIMAL:
        return Decimal(1)
    if code in THREE_DECIMAL:
        return Decimal(1000)
    return Decimal(100)


def reporting() -> str:
    """The reporting currency, e.g. 'EUR' (the default outside an app)."""
    if not has_app_context():
        return Defaults.CURRENCY
    return str(current_app.config.get("CURRENCY") or Defaults.CURRENCY).strip().upper()


def counted(column=Customer.currency):
    """SQL: the customer's amounts are in the reporting currency (or unmarked)."""
    return sa.or_(column.is_(None), column == reporting())


def other(column=Customer.currency):
    """SQL: the customer's amounts are in another currency than the reporting one."""
    return sa.and_(column.is_not(None), column != reporting())
