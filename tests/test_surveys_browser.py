"""The exit survey in Debian's Chromium: phone and desktop, resume, one submission."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from karn import clock
from karn.customers.operations import upsert_departures
from karn.enums import Source
from karn.surveys import delivery, links
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Answer, Invitation, Response

pytestmark = pytest.mark.browser


def invite(db, language: str, external_id: str = "B1") -> str:
    """A departed customer with a prepared invitation; returns the link's path."""
    ensure_default_survey()
    upsert_departures(
        [
            (
                {
                    "external_id": external_id,
                    "email": f"{external_id.lower()}@example.nl",
                    "language": language,
                    "departed_at": clock.now() - timedelta(days=3),
                },
                {},
            )
        ],
        Source.API,
    )
    db.session.commit()
    delivery.run_due()
    invitation = db.session.scalars(
        sa.select(Invitation).order_by(Invitation.id.desc())
    ).first()
    return f"/s/{links.invitation_token(invitation.id)}"


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_dutch_on_a_phone_resumes_after_closing_and_submits_once(
    browser, live_server, db
):
    path = invite(db, "nl")
    phone = {
        "viewport": {"width": 360, "height": 740},
        "locale": "nl-NL",
        "is_mobile": True,
        "has_touch": True,
    }
    context = browser.new_context(**phone)
    page = context.new_page()
    page.goto(live_server + path)
    assert page.locator("html").get_attribute("lang") == "nl"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert serious_violations(page) == []
    switched = page.locator("#q-switched_to")
    assert switched.is_hidden()  # only for people who went to another brand
    page.get_by_label("Voorkeur voor een ander merk").first.check()
    assert switched.is_visible()
    page.locator("#switched_to-input").fill("Concurrent BV")
    page.locator("#keep_you-input").fill(
        "De prijs was prima, maar de service was traag."
    )
    page.wait_for_selector("#save-state:not(:empty)")
    context.close()  # the tab is closed half-way

    context = browser.new_context(**phone)
    page = context.new_page()
    page.goto(live_server + path)
    assert page.get_by_label("Voorkeur voor een ander merk").first.is_checked()
    assert page.locator("#switched_to-input").input_value() == "Concurrent BV"
    for item, score in (("service", "2"), ("quality", "4"), ("value", "3")):
        page.locator(f'input[name="q_ratings__{item}"][value="{score}"]').check()
    page.locator('input[name="q_come_back"][value="4"]').check()
    page.get_by_label("Nee", exact=True).check()
    # A double tap on the button: the second submission must not count.
    page.get_by_role("button", name="Mijn antwoorden versturen").dblclick()
    page.wait_for_selector("text=Dank u wel")
    assert serious_violations(page) == []
    context.close()

    db.session.expire_all()
    response = db.session.scalars(sa.select(Response)).one()
    assert (
        response.submitted_at is not None and response.primary_reason.value == "brand"
    )
    answers = {a.question_key: a.value for a in db.session.scalars(sa.select(Answer))}
    assert answers["switched_to"] == "Concurrent BV"
    assert answers["ratings"] == {"service": 2, "quality": 4, "value": 3}


def test_english_on_desktop_with_errors_then_success_and_keyboard_only(
    browser, live_server, db
):
    path = invite(db, "en", "B2")
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    page = context.new_page()
    page.goto(live_server + path)
    assert page.locator("html").get_attribute("lang") == "en"
    # Submitting too early explains what is missing, next to the questions.
    page.get_by_role("button", name="Send my answers").click()
    expect(page.locator("#error-summary")).to_be_visible()
    assert page.locator("#q-main_reason .error").inner_text()
    assert serious_violations(page) == []
    # Answer with the keyboard only: focus the first option, Space selects it.
    page.locator('input[name="q_main_reason"]').first.focus()
    page.keyboard.press("Space")
    for item in ("service", "quality", "value"):
        page.locator(f'input[name="q_ratings__{item}"][value="3"]').check()
    page.locator('input[name="q_come_back"][value="7"]').check()
    page.get_by_label("No", exact=True).check()
    page.keyboard.press("Tab")
    page.get_by_role("button", name="Send my answers").press("Enter")
    page.wait_for_selector("text=Thank you")
    context.close()
    db.session.expire_all()
    assert (
        db.session.scalar(
            sa.select(sa.func.count(Response.id)).where(
                Response.submitted_at.is_not(None)
            )
        )
        == 1
    )


def test_language_switch_and_unsubscribe_page_are_accessible(browser, live_server, db):
    path = invite(db, "nl", "B3")
    context = browser.new_context(locale="nl-NL")
    page = context.new_page()
    page.goto(live_server + path)
    page.get_by_role("link", name="EN", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("link", name="No more mail from us").click()
    page.wait_for_url(re.compile(r"/u/"))
    assert serious_violations(page) == []
    page.get_by_role("button", name="Yes, stop all mail").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    context.close()


def test_manager_previews_and_publishes_a_change_respondents_then_see(
    browser, live_server, db, create_user
):
    from tests.conftest import PASSWORD

    ensure_default_survey()
    db.session.commit()
    manager = create_user("manager", language="en")
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(live_server + "/login")
    page.get_by_label("Email address").fill(manager.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Surveys").click()
    page.get_by_role("link", name="Edit").click()
    page.locator("#q-0-text-en").fill("What was the main reason you left us?")
    page.get_by_role("button", name="Save and preview").click()
    expect(
        page.get_by_text("Preview: this is what respondents will see")
    ).to_be_visible()
    assert page.get_by_role(
        "group", name="What was the main reason you left us?"
    ).is_visible()
    assert serious_violations(page) == []
    page.go_back()
    page.get_by_role("button", name="Publish as new version").click()
    expect(page.get_by_text("Version 2 is published")).to_be_visible()
    context.close()

    path = invite(db, "en", "B4")
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(live_server + path)
    assert page.get_by_text("What was the main reason you left us?").is_visible()
    context.close()
