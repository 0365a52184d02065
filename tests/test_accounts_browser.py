"""In a real browser: sign in, switch language, manage a user, sign out."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_admin_signs_in_switches_language_and_adds_a_user(
    page, live_server, create_user
):
    admin = create_user("admin", email="beheer@example.com", language="en")
    page.goto(live_server + "/")
    assert page.title().startswith("Sign in")
    page.get_by_label("Email address").fill(admin.email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong email address or password."

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/overview$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Overview"

    page.get_by_role("link", name="NL").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overzicht")
    assert page.locator("html").get_attribute("lang") == "nl"

    page.get_by_role("link", name="Gebruikers").click()
    page.get_by_role("link", name="Nieuwe gebruiker").click()
    page.get_by_label("E-mailadres").fill("collega@example.com")
    page.get_by_label("Naam").fill("Collega")
    page.get_by_label("Rol").select_option("staff")
    page.get_by_role("button", name="Gebruiker aanmaken").click()
    expect(page.locator(".flash-secret")).to_be_visible()
    notice = page.locator(".flash-secret").inner_text()
    assert "collega@example.com" in notice
    assert re.search(r"\w{5}-\w{5}-\w{5}-\w{5}", notice)
    assert page.get_by_role("cell", name="Collega", exact=True).is_visible()

    page.get_by_role("button", name="Uitloggen").click()
    page.wait_for_url(re.compile(r"/login"))
    page.goto(live_server + "/admin/users")
    assert "/login" in page.url


def test_login_page_fits_a_phone_and_loads_nothing_from_elsewhere(browser, live_server):
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, locale="nl-NL"
    )
    page = context.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(live_server + "/login")
    assert page.locator("html").get_attribute("lang") == "nl"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    assert requested and all(url.startswith(live_server) for url in requested)
    context.close()
