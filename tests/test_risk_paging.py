"""Deep pages of the at-risk list: every page, filtered or not, on the page
and in the API, holds the customers its rank says, each exactly once."""

import re

import pytest

from karn.customers.models import Customer
from karn.risk import views
from karn.risk.models import RiskScore
from tests.test_risk_api import _key, _model


@pytest.fixture
def ranked(db):
    """400 scored customers with many equal amounts at risk; their expected
    order: most revenue at risk first, then the newest customer."""
    _model(db)
    people = [
        Customer(
            external_id=f"P{i:04d}",
            email=f"p{i}@example.com",
            name=f"P {i}",
            status="active",
            departed_at=None,
            source="manual",
            language="nl",
            plan="monthly" if i % 3 else "yearly",
            monthly_revenue=100,
        )
        for i in range(400)
    ]
    db.session.add_all(people)
    db.session.flush()
    # Ten distinct probabilities: 40 customers share each amount at risk.
    prob = {c.id: round(0.05 + 0.09 * (i % 10), 2) for i, c in enumerate(people)}
    for customer in people:
        db.session.add(
            RiskScore(
                customer_id=customer.id,
                model_version=1,
                probability=prob[customer.id],
                revenue_at_risk=round(prob[customer.id] * 100, 2),
            )
        )
    db.session.commit()
    order = sorted(prob, key=lambda cid: (-prob[cid], -cid))
    return order, {c.id: c for c in people}, prob


def _rows(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-customer="(\d+)"', html)]


def test_every_page_holds_its_ranks(
    ranked, db, client, create_user, login, monkeypatch
):
    order, people, prob = ranked
    login(create_user("manager"))
    seen = []
    for page in (1, 2, 3, 4):
        html = client.get(f"/at-risk/?page={page}").get_data(as_text=True)
        seen.extend(_rows(html))
    assert seen == order
    assert "Page 4 of 4" in client.get("/at-risk/?page=4").get_data(as_text=True)

    monthly = [i for i in order if people[i].plan == "monthly"]
    assert len(monthly) == 266
    second = _rows(client.get("/at-risk/?plan=monthly&page=2").get_data(as_text=True))
    assert second == monthly[100:200]
    # The short last page, counted from the end of the list.
    third = _rows(client.get("/at-risk/?plan=monthly&page=3").get_data(as_text=True))
    assert third == monthly[200:]
    high = [i for i in monthly if prob[i] >= 0.5]
    assert len(high) > 100
    both = client.get("/at-risk/?plan=monthly&band=high&page=2").get_data(as_text=True)
    assert _rows(both) == high[100:]
    # Deep pages of a filtered list are found another way: the same rows.
    monkeypatch.setattr(views, "DEEP_OFFSET", 100)
    assert (
        _rows(client.get("/at-risk/?plan=monthly&page=2").get_data(as_text=True))
        == (monthly[100:200])
    )
    both = client.get("/at-risk/?plan=monthly&band=high&page=2").get_data(as_text=True)
    assert _rows(both) == high[100:]
    # From the end, found by filter and then sorted: still the same rows.
    monkeypatch.setattr(views, "DEEP_OFFSET", 50)
    assert (
        _rows(client.get("/at-risk/?plan=monthly&page=2").get_data(as_text=True))
        == (monthly[100:200])
    )
    # Past the last page: an empty page, not an error.
    assert _rows(client.get("/at-risk/?page=9").get_data(as_text=True)) == []


def test_the_api_pages_like_the_page(ranked, db, client, create_user):
    order, people, _prob = ranked
    auth = _key(db, create_user)
    body = client.get("/api/v1/at-risk?per_page=100&page=3", headers=auth).json
    assert [c["external_id"] for c in body["customers"]] == [
        people[i].external_id for i in order[200:300]
    ]
    assert [c["rank"] for c in body["customers"]] == list(range(201, 301))
    last = client.get("/api/v1/at-risk?per_page=150&page=3", headers=auth).json
    assert [c["external_id"] for c in last["customers"]] == [
        people[i].external_id for i in order[300:]
    ]
    assert [c["rank"] for c in last["customers"]] == list(range(301, 401))
    monthly = [i for i in order if people[i].plan == "monthly"]
    body = client.get(
        "/api/v1/at-risk?per_page=50&page=2&plan=monthly", headers=auth
    ).json
    assert [c["external_id"] for c in body["customers"]] == [
        people[i].external_id for i in monthly[50:100]
    ]
