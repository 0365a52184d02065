"""In a real browser, in Dutch and English: a staff member lands on the call
list, sees overdue tasks first and marked, pages through it; an administrator
sets the calling hours and reads the audit log by kind of actor; a manager
finds a customer by part of the number and sees the list's totals."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from karn import clock
from karn.callbacks.models import CallTask
from karn.customers.models import Customer
from karn.enums import CallTaskSource
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

WORDS = {
    "nl": {
        "call_list": "Bellijst",
        "overdue": "3 dagen te laat",
        "next": "Volgende pagina",
        "range": "Taken 51–60 van 60",
        "hours": "Beltijden",
        "from": "Bellen vanaf",
        "saturday": "zaterdag",
        "save": "Opslaan",
        "saved": "Beltijden opgeslagen.",
        "done_by": "Gedaan door",
        "people": "Mensen",
        "filter": "Filteren",
        "signed_in": "Ingelogd",
        "user_added": "Gebruiker toegevoegd",
        "hours_changed": "Beltijden gewijzigd",
        "search": "Zoeken",
        "totals": "1 klant",
    },
    "en": {
        "call_list": "Call list",
        "overdue": "3 days overdue",
        "next": "Next page",
        "range": "Tasks 51–60 of 60",
        "hours": "Calling hours",
        "from": "Calls from",
        "saturday": "Saturday",
        "save": "Save",
        "saved": "Calling hours saved.",
        "done_by": "Done by",
        "people": "People",
        "filter": "Filter",
        "signed_in": "Signed in",
        "user_added": "User added",
        "hours_changed": "Calling hours changed",
        "search": "Search",
        "totals": "1 customer",
    },
}


def _sign_in(page, live_server, user, words):
    # The login page speaks the browser's language (English here); after
    # signing in, the user's own.
    page.goto(live_server + "/login")
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_staff_land_on_the_call_list_with_overdue_tasks_first_and_pages(
    page, live_server, db, create_user, lang
):
    words = WORDS[lang]
    staff = create_user("staff", name="Sanne", language=lang)
    now = clock.now()
    customers = [
        Customer(
            external_id=f"B{n:03d}",
            name=f"Klant {n:02d}",
            source="manual",
            departed_at=now,
            phone=f"06{n:08d}",
            monthly_revenue=Decimal(100 + n),
        )
        for n in range(60)
    ]
    db.session.add_all(customers)
    db.session.flush()
    for n, customer in enumerate(customers):
        late = n == 0  # the cheapest customer, but three days overdue
        db.session.add(
            CallTask(
                customer=customer,
                source=CallTaskSource.SELECTION,
                due_at=now - timedelta(days=3) if late else now - timedelta(minutes=5),
            )
        )
    db.session.commit()

    _sign_in(page, live_server, staff, words)
    page.wait_for_url(re.compile(r"/calls/$"))
    assert page.get_by_role("heading", level=1).inner_text() == words["call_list"]
    rows = page.locator("tbody tr")
    assert rows.count() == 50
    first = rows.nth(0)
    assert first.locator("td").first.inner_text() == "Klant 00"
    tag = first.get_by_text(words["overdue"])
    assert tag.is_visible()
    # Marked in red, unlike the other rows.
    assert tag.evaluate("e => getComputedStyle(e).color") == "rgb(179, 38, 30)"
    assert rows.nth(1).locator("td").first.inner_text() == "Klant 59"
    assert "159" in rows.nth(1).inner_text()

    page.get_by_role("link", name=words["next"]).click()
    page.wait_for_url(re.compile(r"page=2"))
    assert page.locator("tbody tr").count() == 10
    assert page.get_by_text(words["range"]).is_visible()


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_an_administrator_sets_calling_hours_and_filters_the_audit_log(
    page, live_server, db, create_user, lang
):
    words = WORDS[lang]
    admin = create_user("admin", language=lang)
    _sign_in(page, live_server, admin, words)
    page.goto(live_server + "/calls/")
    page.get_by_role("link", name=words["hours"]).click()
    page.get_by_label(words["from"]).fill("08:30")
    page.get_by_label(words["saturday"]).check()
    page.get_by_role("button", name=words["save"]).click()
    page.wait_for_url(re.compile(r"/calls/$"))
    assert words["saved"] in page.locator(".flash").inner_text()

    page.goto(live_server + "/admin/audit")
    done_by = page.get_by_label(words["done_by"])
    # The label sits right above its own field.
    label_box = page.locator("label[for=actor]").bounding_box()
    field_box = done_by.bounding_box()
    assert 0 <= field_box["y"] - (label_box["y"] + label_box["height"]) < 12
    assert abs(field_box["x"] - label_box["x"]) < 4
    done_by.select_option(label=words["people"])
    page.get_by_role("button", name=words["filter"]).click()
    page.wait_for_url(re.compile(r"actor=people"))
    actions = page.locator("tbody td:nth-child(3)").all_inner_texts()
    # The administrator's own sign-in and change, not what Karn did itself
    # (the account was made from the command line).
    assert words["signed_in"] in actions and words["hours_changed"] in actions
    assert words["user_added"] not in actions


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_a_manager_finds_a_customer_by_part_of_the_number(
    page, live_server, create_user, create_customer, lang
):
    words = WORDS[lang]
    create_customer(name="Gezocht", external_id="CUST-003016")
    create_customer(name="Ander", external_id="CUST-004017")
    manager = create_user("manager", language=lang)
    _sign_in(page, live_server, manager, words)
    page.goto(live_server + "/customers/")
    page.get_by_label(words["search"]).fill("3016")
    page.get_by_label(words["search"]).press("Enter")
    page.wait_for_url(re.compile(r"q=3016"))
    assert page.locator("tbody tr > :first-child").all_inner_texts() == ["Gezocht"]
    assert page.locator("#customer-totals").inner_text().startswith(words["totals"])
