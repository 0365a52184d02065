"""In Debian's Chromium, in Dutch and in English: a manager adds a review by
hand, the page says it waits for the worker, and once tagged it shows in the
reason mix per channel and in the dashboard's "Reasons from" feedback."""

import re

import pytest

from karn.feedback import tagging
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

WORDS = {
    "en": {"reviews": "reviews", "waiting": "1 item is not yet tagged"},
    "nl": {"reviews": "reviews", "waiting": "1 item is nog niet gelabeld"},
}


@pytest.mark.parametrize("language", ["en", "nl"])
def test_a_manager_adds_feedback_and_sees_it_per_channel(
    page, live_server, db, create_user, language
):
    manager = create_user("manager", language=language)
    page.goto(live_server + "/login?lang=" + language)
    page.locator("input[name=email]").fill(manager.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/overview$"))

    page.locator("nav a[href='/feedback/']").click()
    page.locator("nav.tabs a[href='/feedback/new']").click()
    assert page.locator("html").get_attribute("lang") == language
    page.locator("#text").fill("Veel te duur voor wat je krijgt")
    page.locator("#channel").select_option("review")
    page.locator("#rating").fill("2")
    page.locator("form button[type=submit].primary").click()
    page.wait_for_url(re.compile(r"/feedback/$"))
    assert WORDS[language]["waiting"] in page.locator("#not-tagged").inner_text()
    assert "Veel te duur voor wat je krijgt" in page.locator("blockquote").inner_text()

    # What the worker does in the background.
    assert tagging.tag_waiting() == 1

    page.locator("nav.tabs a[href='/feedback/channels']").click()
    page.wait_for_url(re.compile(r"/feedback/channels"))
    assert page.locator("#not-tagged").count() == 0
    row = page.locator("#channel-mix tbody tr")
    assert row.count() == 1
    assert row.locator("th").inner_text() == WORDS[language]["reviews"]
    assert row.locator("td[data-reason=price]").inner_text() == "100%"
    assert row.locator("td[data-reason=service]").inner_text() == "0%"

    row.locator("th a").click()
    page.wait_for_url(re.compile(r"channel=feedback\.review"))
    assert page.locator("#f-channel").input_value() == "feedback.review"
    assert page.locator("#source-note").count() == 1
    first = page.locator("table tbody tr").first.locator("th").inner_text()
    assert first.startswith("Prijs" if language == "nl" else "Price")
