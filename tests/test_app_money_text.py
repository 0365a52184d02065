"""An amount never breaks between its currency symbol and its number: at the
end of a line "€" would stand alone, the number on the next."""

import re
from decimal import Decimal

import pytest
from flask_babel import force_locale

from karn.formatting import money

# Any whitespace a line may break at: all of it except the no-break spaces.
BREAKABLE = re.compile(r"[^\S\u00a0\u202f\u2007]")


@pytest.mark.parametrize(
    ("lang", "currency", "expected"),
    [
        ("nl", None, "€\u00a01.234,50"),
        ("en", None, "€\u00a01,234.50"),
        ("nl", "JPY", "JP¥\u00a01.234,50"),
        ("en", "USD", "$\u00a01,234.50"),
    ],
)
def test_an_amount_keeps_its_symbol_and_number_together(app, lang, currency, expected):
    with app.test_request_context(), force_locale(lang):
        text = money(Decimal("1234.50"), 2, currency)
    assert text == expected
    assert not BREAKABLE.search(text)


def test_a_page_shows_the_amount_unbroken(client, create_user, create_customer, login):
    create_customer(name="Anna", monthly_revenue=Decimal("1250.60"), status="active")
    login(create_user("manager", language="nl"))
    page = client.get("/customers/?lang=nl&totals=1").get_data(as_text=True)
    assert "€\u00a01.251" in page
    assert "€ 1.251" not in page
