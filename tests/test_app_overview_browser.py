"""In a real browser: the first-run checklist, the menu at laptop and phone
widths, and dates in British English."""

import re
from datetime import UTC, datetime

import pytest

from tests.conftest import PASSWORD, resize

pytestmark = pytest.mark.browser


def sign_in(browser, live_server, user, width=1366, lang="en"):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server}/login?lang={lang}")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{live_server}/overview?lang={lang}")
    return context, page


def steps(page) -> dict[str, str]:
    return {
        item.get_attribute("id"): item.get_attribute("class")
        for item in page.locator("#first-run li").all()
    }


def test_a_fresh_install_shows_what_to_do_first_and_ticks_it_off(
    browser, live_server, create_user, create_customer, db
):
    from karn.surveys.editing import ensure_default_survey

    survey, _ = ensure_default_survey()
    db.session.commit()
    admin = create_user("admin")
    context, page = sign_in(browser, live_server, admin)
    checklist = page.locator("#first-run")
    assert checklist.get_by_role("heading").inner_text() == "Getting started"
    assert "0 of 3 steps done" in checklist.inner_text()
    assert steps(page) == {
        "step-customers": "todo",
        "step-survey": "todo",
        "step-mail": "todo",
    }
    # Each step leads to where it is done.
    checklist.get_by_role("link", name="Import the customers who left").click()
    page.wait_for_url(re.compile(r"/customers/import"))

    create_customer()
    page.goto(live_server + "/overview")
    assert steps(page)["step-customers"] == "done"
    assert "1 of 3 steps done" in checklist.inner_text()

    # Looking at the survey as a customer would ticks the second step.
    checklist.get_by_role("link", name="Check the survey").click()
    page.goto(f"{live_server}/surveys/{survey.id}/preview")
    page.goto(live_server + "/overview?lang=nl")
    assert checklist.get_by_role("heading").inner_text() == "Aan de slag"
    assert "2 van 3 stappen gedaan" in checklist.inner_text()
    assert steps(page) == {
        "step-customers": "done",
        "step-survey": "done",
        "step-mail": "todo",
    }
    assert "KARN_MAIL_SERVER" in page.locator("#step-mail").inner_text()
    context.close()

    # Staff cannot do any of it: they see the figures only.
    staff = create_user("staff")
    context, page = sign_in(browser, live_server, staff)
    assert page.locator("#first-run").count() == 0
    assert page.locator(".figures li").count() == 5
    context.close()


@pytest.mark.parametrize("app_settings", [{"MAIL_SERVER": "127.0.0.1"}])
def test_the_checklist_goes_once_everything_is_done(
    browser, live_server, create_user, create_customer, db
):
    from karn.surveys.editing import ensure_default_survey

    survey, _ = ensure_default_survey()
    db.session.commit()
    create_customer()
    manager = create_user("manager")
    context, page = sign_in(browser, live_server, manager)
    assert steps(page) == {
        "step-customers": "done",
        "step-survey": "todo",
        "step-mail": "done",
    }
    page.goto(f"{live_server}/surveys/{survey.id}/preview")
    page.goto(live_server + "/overview")
    assert page.locator("#first-run").count() == 0
    assert page.locator(".figures li").first.inner_text().startswith("1")
    context.close()


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_menu_fits_on_a_laptop_and_a_phone(browser, live_server, create_user, lang):
    for role in ("admin", "manager", "staff"):
        user = create_user(role)
        context, page = sign_in(browser, live_server, user, lang=lang)
        page.goto(f"{live_server}/overview?lang={lang}")
        # At 1366 px each menu is one row: no link wraps onto a line of its own.
        rows = page.evaluate(
            """() => [...document.querySelectorAll("header.top nav ul")].map(
                ul => new Set([...ul.children].map(
                    li => Math.round(li.getBoundingClientRect().top))).size)"""
        )
        assert rows == ([1, 1] if role == "admin" else [1]), (role, lang, rows)
        header = page.locator("header.top").bounding_box()
        assert header["height"] < 100, (role, lang, header)
        # On a phone everything stays reachable without scrolling sideways.
        resize(page, 390, 800)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        for link in page.locator("header.top nav a").all():
            assert link.is_visible()
        context.close()


def test_dates_are_british_in_english_and_dutch_in_dutch(
    browser, live_server, create_user, create_customer
):
    customer = create_customer(departed_at=datetime(2026, 3, 2, 0, 0, tzinfo=UTC))
    manager = create_user("manager")
    context, page = sign_in(browser, live_server, manager)
    page.goto(f"{live_server}/customers/{customer.id}?lang=en")
    shown = page.locator("main").inner_text()
    assert "2 Mar 2026" in shown
    assert not re.search(r"\b[A-Z][a-z]{2} \d{1,2}, \d{4}\b", shown), shown
    page.goto(f"{live_server}/customers/{customer.id}?lang=nl")
    assert "2 mrt 2026" in page.locator("main").inner_text()
    context.close()
