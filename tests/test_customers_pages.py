"""The customer list, one customer's page, and adding or editing by hand."""

import html as htmllib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.customers.models import Customer
from karn.surveys.models import Invitation, Survey, SurveyVersion


@pytest.fixture
def manager(create_user, login):
    user = create_user("manager", language="en")
    login(user)
    return user


def names_on(client, url):
    import re

    html = client.get(url).get_data(as_text=True)
    return (
        re.findall(r'<th scope="row"><a href="/customers/\d+">([^<]+)</a></th>', html),
        html,
    )


def test_search_by_name_start_email_start_or_exact_number(
    client, manager, create_customer
):
    create_customer(name="Anna de Boer", email="anna@boer.nl", external_id="K-100")
    create_customer(name="Bert Jansen", email="bert@jansen.nl", external_id="K-200")
    create_customer(name="Annemarie Vos", email="vos@example.nl", external_id="K-300")
    assert sorted(names_on(client, "/customers/?q=ann")[0]) == [
        "Anna de Boer",
        "Annemarie Vos",
    ]
    assert names_on(client, "/customers/?q=BERT@")[0] == ["Bert Jansen"]
    assert names_on(client, "/customers/?q=K-300")[0] == ["Annemarie Vos"]
    # Part of a customer number finds it too.
    assert names_on(client, "/customers/?q=K-3")[0] == ["Annemarie Vos"]
    assert names_on(client, "/customers/?q=300")[0] == ["Annemarie Vos"]
    assert names_on(client, "/customers/?q=%25")[0] == []  # no wildcard injection


def test_filters_by_period_segment_and_survey_status(
    client, manager, create_customer, db
):
    now = clock.now()
    old = create_customer(
        name="Old", departed_at=now - timedelta(days=100), segment="SMB"
    )
    new = create_customer(
        name="New", departed_at=now - timedelta(days=2), segment="Enterprise"
    )
    create_customer(name="Gone", unsubscribed_at=now)
    survey = Survey(name="Exit")
    db.session.add(SurveyVersion(survey=survey, number=1, questions=[]))
    db.session.add(
        Invitation(customer=new, survey=survey, scheduled_for=now, status="responded")
    )
    db.session.commit()
    day = (now - timedelta(days=10)).date().isoformat()
    assert sorted(names_on(client, f"/customers/?from={day}")[0]) == ["Gone", "New"]
    assert names_on(client, f"/customers/?to={day}")[0] == ["Old"]
    assert names_on(client, "/customers/?segment=SMB")[0] == ["Old"]
    assert names_on(client, "/customers/?status=responded")[0] == ["New"]
    assert names_on(client, "/customers/?status=unsubscribed")[0] == ["Gone"]
    assert sorted(names_on(client, "/customers/?status=not_invited")[0]) == [
        "Gone",
        "Old",
    ]
    assert old.id  # listed above


def test_paging_visits_every_customer_once_newest_first(
    client, manager, create_customer
):
    now = clock.now()
    for i in range(120):
        create_customer(name=f"P{i:03d}", departed_at=now - timedelta(hours=i % 7))
    seen, url = [], "/customers/"
    import html as htmllib
    import re

    while url:
        names, page = names_on(client, url)
        seen += names
        found = re.search(r'<a href="([^"]+)">Next page', page)
        url = htmllib.unescape(found.group(1)) if found else None
    assert len(seen) == 120 and len(set(seen)) == 120


def test_customer_page_shows_data_and_tel_link(client, manager, create_customer):
    c = create_customer(
        name="Carla",
        phone="+31 6 1234 5678",
        extra={"Plaats": "Delft"},
        stated_reason="price",
        stated_comment="Te duur",
    )
    html = client.get(f"/customers/{c.id}").get_data(as_text=True)
    assert 'href="tel:+31 6 1234 5678"' in html
    assert "Delft" in html and "Te duur" in html and "Price" in html


def test_staff_may_look_but_not_change(client, create_user, login, create_customer):
    c = create_customer()
    login(create_user("staff"))
    assert client.get(f"/customers/{c.id}").status_code == 200
    html = client.get(f"/customers/{c.id}").get_data(as_text=True)
    assert f"/customers/{c.id}/edit" not in html
    assert client.get(f"/customers/{c.id}/edit").status_code == 403
    assert client.get("/customers/new").status_code == 403


def test_manager_adds_a_customer_with_errors_shown_next_to_fields(
    client, manager, post_form, db
):
    response = post_form(
        "/customers/new",
        {"external_id": "N-1", "email": "wrong@", "departed_at": "31-13-2026"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Not a valid e-mail address" in html and "Not a date" in html
    assert db.session.scalar(sa.select(sa.func.count(Customer.id))) == 0
    response = post_form(
        "/customers/new",
        {
            "external_id": "N-1",
            "email": "nieuw@example.nl",
            "name": "Nieuw",
            "departed_at": "20-11-2026",
            "monthly_revenue": "19,95",
            "language": "nl",
        },
    )
    assert response.status_code == 302
    customer = db.session.scalars(sa.select(Customer)).one()
    assert (
        str(customer.monthly_revenue) == "19.95" and customer.source.value == "manual"
    )


def test_editing_keeps_numbers_unique(client, manager, post_form, create_customer, db):
    a = create_customer(external_id="A")
    create_customer(external_id="B")
    response = post_form(
        f"/customers/{a.id}/edit",
        {"external_id": "B", "email": a.email, "departed_at": "01-11-2026"},
    )
    assert "Another customer has this number." in response.get_data(as_text=True)
    response = post_form(
        f"/customers/{a.id}/edit",
        {
            "external_id": "A",
            "email": a.email,
            "name": "Renamed",
            "departed_at": "01-11-2026",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Customer, a.id).name == "Renamed"


@pytest.mark.parametrize(
    ("language", "active", "departed", "unknown"),
    [
        ("en", "Active", "Departed", "unknown"),
        ("nl", "Actief", "Vertrokken", "onbekend"),
    ],
)
def test_filter_by_customer_status_and_an_unknown_departure_date(
    client, create_user, login, create_customer, language, active, departed, unknown
):
    login(create_user("manager", language=language))
    create_customer(name="Stayed", status="active", departed_at=None)
    create_customer(name="Left", departed_at=clock.now() - timedelta(days=3))
    snapshot = create_customer(name="Left sometime", departed_at=None)
    assert names_on(client, "/customers/?state=active")[0] == ["Stayed"]
    assert names_on(client, "/customers/?state=departed")[0] == [
        "Left",
        "Left sometime",
    ]
    names, html = names_on(client, "/customers/")
    assert names == ["Left", "Left sometime", "Stayed"]
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)[1:]
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in rows]
    assert [c[1:3] for c in cells][1:] == [[departed, unknown], [active, "—"]]
    page = client.get(f"/customers/{snapshot.id}").get_data(as_text=True)
    assert f'id="customer-status">{departed}<' in page
    assert f"<dd>{unknown}</dd>" in page


def test_paging_visits_dated_then_undated_customers_once(
    client, manager, create_customer
):
    now = clock.now()
    for i in range(60):
        create_customer(name=f"D{i:03d}", departed_at=now - timedelta(hours=i % 5))
    for i in range(70):
        create_customer(
            name=f"U{i:03d}", departed_at=None, status="active" if i % 2 else "departed"
        )
    seen, url = [], "/customers/"
    while url:
        names, page = names_on(client, url)
        seen += names
        found = re.search(r'<a href="([^"]+)">Next page', page)
        url = htmllib.unescape(found.group(1)) if found else None
    assert len(seen) == 130 and len(set(seen)) == 130
    assert all(n.startswith("D") for n in seen[:60])
    assert seen[60:] == [f"U{i:03d}" for i in reversed(range(70))]  # newest first
    active = names_on(client, "/customers/?state=active")[0]
    assert sorted(active) == [f"U{i:03d}" for i in range(1, 70, 2)]


@pytest.mark.parametrize(
    ("language", "monthly", "lifetime"),
    [("nl", "1.234,50", "28.363,55"), ("en", "1,234.50", "28,363.55")],
)
def test_the_edit_form_shows_amounts_in_the_readers_way_and_keeps_them(
    client,
    create_user,
    login,
    create_customer,
    post_form,
    db,
    language,
    monthly,
    lifetime,
):
    from decimal import Decimal

    login(create_user("manager", language=language))
    customer = create_customer(
        monthly_revenue=Decimal("1234.50"), lifetime_value=Decimal("28363.55")
    )
    url = f"/customers/{customer.id}/edit"
    html = client.get(url).get_data(as_text=True)
    assert f'value="{monthly}"' in html and f'value="{lifetime}"' in html
    # Saved as shown, the amounts stay what they were.
    fields = dict(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', html))
    fields.pop("csrf_token", None)
    assert post_form(url, fields).status_code == 302
    db.session.expire_all()
    saved = db.session.get(Customer, customer.id)
    assert saved.monthly_revenue == Decimal("1234.50")
    assert saved.lifetime_value == Decimal("28363.55")
