"""In Debian's Chromium: a manager plans keep calls on the at-risk page, staff
log one on the call list, and the results page counts both groups, in English
and in Dutch."""

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from karn.callbacks.models import CallNote, CallTask
from karn.enums import CallOutcome, CallTaskSource, ExperimentGroup
from karn.experiments.models import Assignment
from karn.risk.models import RiskScore
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

WORDS = {
    "en": {
        "top": "Plan keep calls for the top",
        "ticked": "Plan keep calls for the ticked customers",
        "planned": "Keep calls planned:",
        "already": "in an open keep-call experiment already",
        "reached": "Reached",
        "price": "Price",
        "notes": "Notes",
        "save": "Save call",
        "logged": "Call logged",
        "spoken": "(1 of {n} spoken to so far)",
        "badge": "keep call:",
    },
    "nl": {
        "top": "Plan behoudgesprekken voor de bovenste",
        "ticked": "Plan behoudgesprekken voor de aangevinkte klanten",
        "planned": "Behoudgesprekken gepland:",
        "already": "al in een lopend experiment met behoudgesprekken",
        "reached": "Gesproken",
        "price": "Prijs",
        "notes": "Aantekeningen",
        "save": "Gesprek opslaan",
        "logged": "Gesprek vastgelegd",
        "spoken": "(tot nu toe 1 van {n} gesproken)",
        "badge": "behoudgesprek:",
    },
}


def _sign_in(page, live_server, user, language):
    page.goto(live_server + "/login?lang=" + language)
    page.locator("input[name=email]").fill(user.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.mark.parametrize("language", ["en", "nl"])
def test_planning_keep_calls_and_logging_one(
    page, live_server, db, create_user, create_customer, language
):
    words = WORDS[language]
    people = []
    for i in range(14):
        c = create_customer(
            status="active",
            departed_at=None,
            name=f"Person {i:02d}",
            phone=f"06{i:08d}",
            monthly_revenue=Decimal("100"),
        )
        db.session.add(
            RiskScore(
                customer_id=c.id,
                model_version=1,
                probability=0.5,
                revenue_at_risk=1000 - i,
                reasons=[],
                likely_reason="price",
            )
        )
        people.append(c)
    db.session.commit()
    manager = create_user("manager", language=language)
    _sign_in(page, live_server, manager, language)

    # The ten with the most revenue at risk.
    page.goto(live_server + "/at-risk/")
    page.locator("#kc-top").fill("10")
    page.get_by_role("button", name=words["top"], exact=True).click()
    page.wait_for_url(re.compile(r"/keep-calls/\d+$"))
    assert words["planned"] in page.locator(".flash").first.inner_text()
    first = db.session.scalars(sa.select(Assignment)).all()
    assert {a.customer_id for a in first} == {c.id for c in people[:10]}
    treated = [a.customer_id for a in first if a.group == ExperimentGroup.TREATED]
    assert treated  # 0.2 ** 10: practically never empty
    groups = page.locator("#groups tbody tr")
    assert groups.nth(0).locator("td").first.inner_text() == str(len(treated))

    # Ticking one already drawn and two new ones: the drawn one is left out.
    page.goto(live_server + "/at-risk/")
    rows = page.locator("#at-risk tbody tr")
    assert words["badge"] in rows.nth(0).inner_text()
    assert rows.nth(0).locator("input[type=checkbox]").count() == 0
    for index in (10, 11):
        rows.nth(index).locator("input[type=checkbox]").check()
    page.get_by_role("button", name=words["ticked"], exact=True).click()
    page.wait_for_url(re.compile(r"/keep-calls/\d+$"))
    assert db.session.scalar(sa.select(sa.func.count(Assignment.id))) == 12

    # Staff log a keep call from the call list with the usual form.
    staff = create_user("staff", language=language)
    page.context.clear_cookies()
    _sign_in(page, live_server, staff, language)
    page.goto(live_server + "/calls/")
    task = db.session.scalars(
        sa.select(CallTask).where(CallTask.customer_id == treated[0])
    ).one()
    assert task.source == CallTaskSource.KEEP_CALL
    page.locator(f'a[href="/calls/{task.id}"]').first.click()
    page.wait_for_url(re.compile(rf"/calls/{task.id}$"))
    page.get_by_label(words["reached"], exact=True).check()
    page.get_by_label(words["price"], exact=True).check()
    page.get_by_label(words["notes"]).fill("Wants a cheaper plan, stays for now.")
    page.get_by_role("button", name=words["save"]).click()
    page.wait_for_url(re.compile(r"/calls/$"))
    assert words["logged"] in page.locator(".flash").first.inner_text()
    db.session.expire_all()
    note = db.session.scalars(sa.select(CallNote)).one()
    assert note.outcome == CallOutcome.REACHED
    assert [r.reason.value for r in note.reasons] == ["price"]

    # The results page counts the call by the draw.
    page.context.clear_cookies()
    _sign_in(page, live_server, manager, language)
    experiment_id = first[0].experiment_id
    page.goto(live_server + f"/keep-calls/{experiment_id}")
    lines = page.locator("#result-lines").inner_text()
    assert words["spoken"].format(n=len(treated)) in lines
    page.goto(live_server + "/keep-calls/")
    assert page.locator("#keep-call-experiments tbody tr").count() == 2
