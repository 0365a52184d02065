"""The survey's finish in Debian's Chromium, in Dutch on a phone and in English
on a desktop: progress, "other, namely", the main reason not offered twice,
titles inside their cards, the thanks, and saving after sending elsewhere."""

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from karn.surveys.models import Answer, Response
from tests.test_surveys_browser import invite, serious_violations

pytestmark = pytest.mark.browser

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "locale": "nl-NL",
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP = {"viewport": {"width": 1366, "height": 900}, "locale": "en-GB"}

# Where each question's title is, relative to its card, and whether the
# "(required)" marker sits on the same line as the title's last word.
LAYOUT = """() => [...document.querySelectorAll("fieldset.question")]
  .filter(f => !f.hidden)
  .map(f => {
    const card = f.getBoundingClientRect();
    const legend = f.querySelector("legend").getBoundingClientRect();
    const required = f.querySelector(".required");
    let sameLine = true;
    if (required) {
      const text = required.previousSibling;
      const range = document.createRange();
      range.setStart(text, text.length - 1);
      range.setEnd(text, text.length);
      const last = range.getBoundingClientRect();
      sameLine = Math.abs(last.bottom - required.getBoundingClientRect().bottom) < 6;
    }
    return {inside: legend.top >= card.top + 1, sameLine};
  })"""


def check_layout(page):
    for question in page.evaluate(LAYOUT):
        assert question == {"inside": True, "sameLine": True}


def test_dutch_on_a_phone_other_text_progress_and_a_warm_thanks(
    browser, live_server, db
):
    path = invite(db, "nl", "PB1")
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(live_server + path)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    check_layout(page)
    progress = page.locator("#progress-text")
    # Seven questions apply until a brand or a call makes more.
    assert progress.inner_text() == "0 van de 7 vragen beantwoord"
    assert page.locator("#q-come_back .q-number").inner_text() == "Vraag 5 van 7"
    assert serious_violations(page) == []

    main = page.locator("#q-main_reason")
    others = page.locator("#q-other_reasons")
    box = page.locator("#main_reason-other")
    assert box.is_hidden()
    main.get_by_label("Prijs").check()
    # The main reason is not offered again among the other reasons.
    assert others.get_by_label("Prijs").is_hidden()
    assert others.get_by_label("Service").is_visible()
    others.get_by_label("Service").check()
    main.get_by_label("Service").check()  # changing the main reason ...
    assert others.get_by_label("Service").is_hidden()  # ... takes it away there
    assert not others.get_by_label("Service").is_checked()
    assert others.get_by_label("Prijs").is_visible()
    main.get_by_label("Anders", exact=True).check()
    assert box.is_visible()
    box.fill("Ik ben verhuisd naar Canada")
    assert progress.inner_text() == "1 van de 7 vragen beantwoord"

    for item in ("service", "quality", "value"):
        page.locator(f'input[name="q_ratings__{item}"][value="4"]').check()
    page.locator('input[name="q_come_back"][value="6"]').check()
    page.locator("#q-callback").get_by_label("Ja", exact=True).check()
    assert progress.inner_text() == "4 van de 8 vragen beantwoord"
    page.locator("#callback_phone-phone").fill("06 1234 5678")
    page.locator("#q-contact_consent").get_by_label("Ja, dat mag").check()
    check_layout(page)
    page.get_by_role("button", name="Mijn antwoorden versturen").click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text("Bedankt voor uw antwoorden")
    assert page.get_by_text("U vroeg ons u te bellen").is_visible()
    assert serious_violations(page) == []
    # A later visit says it is done, without thanking all over again.
    page.goto(live_server + path)
    assert page.get_by_text("al bij ons binnen").is_visible()
    context.close()

    db.session.expire_all()
    answers = {a.question_key: a for a in db.session.scalars(sa.select(Answer))}
    assert answers["main_reason"].value == "other"
    assert answers["main_reason"].text == "Ik ben verhuisd naar Canada"
    assert answers["contact_consent"].value == "yes"
    assert "other_reasons" not in answers  # service was taken away with it


def test_english_on_desktop_saving_after_sending_elsewhere_is_explained(
    browser, live_server, db
):
    path = invite(db, "en", "PB2")
    context = browser.new_context(**DESKTOP)
    first, second = context.new_page(), context.new_page()
    first.goto(live_server + path)
    second.goto(live_server + path)
    check_layout(first)
    assert first.locator("#progress-bar").get_attribute("max") == "7"
    assert serious_violations(first) == []
    # Each scale is explained once, in the question's own words.
    assert first.locator("#q-ratings .hint").all_inner_texts() == [
        "1 = very poor, 5 = very good"
    ]

    second.get_by_label("Price").first.check()
    for item in ("service", "quality", "value"):
        second.locator(f'input[name="q_ratings__{item}"][value="3"]').check()
    second.locator('input[name="q_come_back"][value="2"]').check()
    second.locator("#q-callback").get_by_label("No", exact=True).check()
    second.get_by_role("button", name="Send my answers").click()
    expect(second.get_by_role("heading", level=1)).to_have_text(
        "Thank you for your answers"
    )

    # The first tab still shows the form; what is typed there is not lost
    # silently: the page says the answers were sent already.
    first.locator("#keep_you-input").fill("Something more")
    expect(first.locator("#save-state")).to_have_text(
        "Your answers were already sent, so nothing more is saved."
    )
    context.close()
    db.session.expire_all()
    response = db.session.scalars(sa.select(Response)).one()
    assert (
        response.submitted_at is not None and response.primary_reason.value == "price"
    )
