"""In Debian's Chromium: a manager opens the at-risk page, in English and in
Dutch, sees customers ranked by revenue at risk and filters them."""

import re

import pytest

from karn.risk.models import RiskScore
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("language", ["en", "nl"])
def test_a_manager_sees_who_is_at_risk(
    page, live_server, db, create_user, create_customer, language
):
    people = []
    for i, (plan, revenue) in enumerate(
        [("monthly", 40.0), ("yearly", 400.0), ("monthly", 120.0)]
    ):
        c = create_customer(
            status="active", departed_at=None, plan=plan, name=f"Person {i}"
        )
        db.session.add(
            RiskScore(
                customer_id=c.id,
                model_version=1,
                probability=0.6,
                revenue_at_risk=revenue,
                reasons=[
                    {
                        "feature": "tenure_months",
                        "value": "2",
                        "typical": "30",
                        "drop": 0.3,
                    }
                ],
                likely_reason="price",
            )
        )
        people.append(c)
    db.session.commit()
    manager = create_user("manager", language=language)
    page.goto(live_server + "/login?lang=" + language)
    page.locator("input[name=email]").fill(manager.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/overview$"))
    page.goto(live_server + "/at-risk/")
    assert page.locator("html").get_attribute("lang") == language
    rows = page.locator("#at-risk tbody tr")
    assert [rows.nth(i).get_attribute("data-customer") for i in range(3)] == [
        str(people[i].id) for i in (1, 2, 0)
    ]
    assert "30" in rows.first.inner_text()
    page.locator("#f-plan").select_option("monthly")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"plan=monthly"))
    rows = page.locator("#at-risk tbody tr")
    assert rows.count() == 2
    assert rows.first.get_attribute("data-customer") == str(people[2].id)
    all_label = page.locator("#f-segment option").first.inner_text()
    assert all_label == ("Alle" if language == "nl" else "All")
