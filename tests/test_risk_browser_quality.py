"""In Debian's Chromium, in English and in Dutch: a manager sees how good the
churn-risk model is in two pictures with their numbers in words, downloads
the list as XLSX, and records a customer's objection to profiling, which
takes the customer off the at-risk page at once."""

import io
import re

import pytest
from openpyxl import load_workbook

from tests.conftest import PASSWORD
from tests.test_risk_api import _model, _scored

pytestmark = pytest.mark.browser

WORDS = {
    "en": {
        "calibration": "100 customers given 30.0% on average: 33.0% of them left.",
        "gains": "Calling the 10% with the highest risk reaches 30% of the leavers",
        "objection": "Objects to profiling",
        "objected": "no churn-risk score",
        "header": "Customer number",
    },
    "nl": {
        "calibration": "100 klanten met gemiddeld 30,0% kans: 33,0% van hen vertrok.",
        "gains": "Wie de 10% met het hoogste risico belt, bereikt 30% van de",
        "objection": "Maakt bezwaar tegen profilering",
        "objected": "geen vertrekrisico",
        "header": "Klantnummer",
    },
}


@pytest.mark.parametrize("language", ["en", "nl"])
def test_a_manager_reads_the_model_and_records_an_objection(
    page, live_server, db, create_user, create_customer, language
):
    words = WORDS[language]
    _model(db)
    people = _scored(db, create_customer)
    manager = create_user("manager", language=language)
    page.goto(live_server + "/login?lang=" + language)
    page.locator("input[name=email]").fill(manager.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/overview$"))

    page.goto(live_server + "/at-risk/")
    pictures = page.locator("#model-pictures img")
    assert pictures.count() == 2
    for i in range(2):
        # Drawn by the server and shown: the browser decoded an image.
        assert pictures.nth(i).evaluate("img => img.complete && img.naturalWidth") > 0
    assert words["calibration"] in page.locator("#calibration-words").inner_text()
    assert words["gains"] in page.locator("#gains-words").inner_text()

    with page.expect_download() as download:
        page.locator("a[href*='export.xlsx']").click()
    sheet = load_workbook(io.BytesIO(download.value.path().read_bytes())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == words["header"]
    assert rows[1][0] == people[1].external_id

    objector = people[1]
    assert page.locator(f'tr[data-customer="{objector.id}"]').count() == 1
    page.goto(f"{live_server}/customers/{objector.id}/edit")
    page.get_by_label(words["objection"]).check()
    page.locator("form button[type=submit].primary").click()
    page.wait_for_url(re.compile(rf"/customers/{objector.id}$"))
    assert words["objected"] in page.locator("#profiling").inner_text()
    page.goto(live_server + "/at-risk/")
    assert page.locator(f'tr[data-customer="{objector.id}"]').count() == 0
    assert page.locator(f'tr[data-customer="{people[0].id}"]').count() == 1


def test_the_pictures_are_drawn_for_a_phone(
    browser, live_server, db, create_user, create_customer
):
    """At 390 px the narrow drawings are shown at about their own size, so
    their text is as large as on the dashboard's phone charts, and nothing
    runs past the screen's edge."""
    _model(db)
    _scored(db, create_customer)
    manager = create_user("manager", language="nl")
    context = browser.new_context(
        locale="nl-NL", viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    try:
        page.goto(live_server + "/login?lang=nl")
        page.locator("input[name=email]").fill(manager.email)
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("form button[type=submit]").first.click()
        page.wait_for_url(re.compile(r"/overview$"))
        page.goto(live_server + "/at-risk/")
        pictures = page.locator("#model-pictures img")
        assert pictures.count() == 2
        for i in range(2):
            shown = pictures.nth(i).evaluate(
                "img => ({src: img.currentSrc, natural: img.naturalWidth,"
                " width: img.getBoundingClientRect().width,"
                " right: img.getBoundingClientRect().right})"
            )
            assert "size=narrow" in shown["src"]
            assert shown["natural"] > 0
            assert shown["width"] >= 0.9 * shown["natural"]
            assert shown["right"] <= 390
        # A wide screen gets the wide drawing.
        page.set_viewport_size({"width": 1280, "height": 900})
        page.reload()
        src = page.locator("#model-pictures img").first.evaluate("i => i.currentSrc")
        assert "size=narrow" not in src
    finally:
        context.close()
