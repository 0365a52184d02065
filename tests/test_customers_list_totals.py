"""The customer list's totals and partial number search; a customer's page with
date-only departures, translated states and a usable revenue field."""

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from karn.enums import OutboxStatus
from karn.surveys.models import OutboxMessage


@pytest.fixture
def manager(create_user, login):
    user = create_user("manager", language="nl")
    login(user)
    return user


def _names(html: str) -> list[str]:
    return re.findall(r'href="/customers/\d+">([^<]+)</a>', html)


def test_the_list_shows_how_many_customers_match_and_their_monthly_revenue(
    client, manager, create_customer
):
    create_customer(name="Anna", segment="MKB", monthly_revenue=Decimal("1250.60"))
    create_customer(name="Bert", segment="MKB", monthly_revenue=Decimal("100"))
    create_customer(name="Cor", segment="MKB", monthly_revenue=None)
    create_customer(
        name="Daan", segment="MKB", monthly_revenue=Decimal("9000"), currency="JPY"
    )
    create_customer(name="Eva", segment="Particulier", monthly_revenue=Decimal("40"))

    page = client.get("/customers/?segment=MKB").get_data(as_text=True)
    totals = re.search(r'<p id="customer-totals">(.*?)</p>', page, re.S).group(1)
    assert "4 klanten" in totals
    assert "€\xa01.351" in totals  # 1250.60 + 100; yen are not added to euros
    assert "1 klant in een andere valuta niet meegeteld" in totals
    everyone = client.get("/customers/").get_data(as_text=True)
    assert "5 klanten" in everyone and "€\xa01.391" in everyone


def test_part_of_a_customer_number_finds_the_customer(client, manager, create_customer):
    create_customer(name="Gezocht", external_id="CUST-003016")
    create_customer(name="Ander", external_id="CUST-004017")
    create_customer(name="Mail", email="3016@example.com", external_id="X-1")
    # Newest departure first.
    assert _names(client.get("/customers/?q=3016").get_data(as_text=True)) == [
        "Mail",
        "Gezocht",
    ]
    assert _names(client.get("/customers/?q=CUST-00").get_data(as_text=True)) == [
        "Ander",
        "Gezocht",
    ]
    # LIKE's wildcards are taken literally.
    assert _names(client.get("/customers/?q=%25").get_data(as_text=True)) == []
    assert "1 klant" in client.get("/customers/?q=4017").get_data(as_text=True)


def test_a_date_only_departure_shows_as_a_date_and_mail_states_are_translated(
    client, db, manager, create_customer
):
    customer = create_customer(
        name="Datum", departed_at=datetime(2026, 12, 1, tzinfo=UTC), source="csv"
    )
    db.session.add(
        OutboxMessage(
            kind="invitation",
            customer_id=customer.id,
            language="nl",
            message_id="<held-1@example.com>",
            to_address=customer.email,
            subject="Waarom bent u vertrokken?",
            body_text="...",
            status=OutboxStatus.HELD,
        )
    )
    db.session.commit()
    page = client.get(f"/customers/{customer.id}").get_data(as_text=True)
    left = re.search(r"<dt>Vertrokken op</dt><dd>(.*?)</dd>", page).group(1)
    assert "1 dec 2026" in left
    assert ":" not in re.sub(r"<[^>]+>", "", left)  # no time of day
    assert "<td>held</td>" not in page
    assert ">vastgehouden</td>" in page
    assert "<dd>csv</dd>" not in page  # how they came, in words
    # The win-back's revenue field is a text field like the others.
    assert re.search(r'<input type="text" inputmode="decimal" id="revenue"', page)

    other = create_customer(
        name="Tijd", departed_at=datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
    )
    page = client.get(f"/customers/{other.id}").get_data(as_text=True)
    left = re.search(r"<dt>Vertrokken op</dt><dd>(.*?)</dd>", page).group(1)
    assert "15:30" in left


def test_a_long_list_counts_its_totals_only_when_asked(
    client, manager, create_customer, monkeypatch
):
    from karn.pages import customers as pages

    monkeypatch.setattr(pages, "TOTALS_CAP", 3)
    for i in range(5):
        create_customer(name=f"Klant {i}", monthly_revenue=Decimal("10"))

    page = client.get("/customers/").get_data(as_text=True)
    totals = re.search(r'<p id="customer-totals">(.*?)</p>', page, re.S).group(1)
    assert "Meer dan 3 klanten" in totals
    assert "€" not in totals  # no partial sum that looks like the whole
    link = re.search(r'href="([^"]+)"', totals).group(1).replace("&amp;", "&")
    assert "totals=all" in link

    counted = client.get(link).get_data(as_text=True)
    totals = re.search(r'<p id="customer-totals">(.*?)</p>', counted, re.S).group(1)
    assert "5 klanten" in totals
    assert "€\xa050" in totals
