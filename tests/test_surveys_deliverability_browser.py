"""In Debian's Chromium: an administrator is warned that a receiving domain
refused Karn, reads what its server said, and lets the mail go again."""

import re
from datetime import timedelta
from email.utils import make_msgid

import pytest

from karn import clock
from karn.enums import InvitationStatus, OutboxStatus
from karn.surveys.bounce_processing import process_bounce
from karn.surveys.models import Invitation, OutboxMessage, Survey
from tests.conftest import PASSWORD
from tests.test_surveys_browser import serious_violations
from tests.test_surveys_deliverability import ENVELOPE_FROM, SPAMHAUS, dsn

pytestmark = pytest.mark.browser


@pytest.fixture
def app_settings():
    return {"MAIL_ENVELOPE_FROM": ENVELOPE_FROM}


@pytest.fixture
def paused(db, create_customer):
    """blocked.example refused Karn (a Spamhaus listing) in a returned mail:
    paused for 15 minutes on the real clock, as the server runs on it."""
    survey = Survey(name="Exit survey")
    db.session.add(survey)
    customer = create_customer(email="anna.jansen@blocked.example")
    now = clock.now()
    invitation = Invitation(
        customer_id=customer.id,
        survey_id=survey.id,
        status=InvitationStatus.SENT,
        scheduled_for=now - timedelta(days=1),
        sent_at=now - timedelta(hours=1),
    )
    db.session.add(invitation)
    db.session.flush()
    message = OutboxMessage(
        kind="invitation",
        customer_id=customer.id,
        invitation_id=invitation.id,
        to_address=customer.email,
        language="nl",
        subject="Waarom ging u weg?",
        body_text="Beste klant, waarom ging u weg?",
        message_id=make_msgid(domain="karn.example"),
        status=OutboxStatus.SENT,
        sent_at=now - timedelta(hours=1),
    )
    db.session.add(message)
    db.session.commit()
    said = (
        "554 5.7.1 <anna.jansen@blocked.example>: Recipient address rejected: "
        + SPAMHAUS.removeprefix("554 5.7.1 ")
    )
    outcome = process_bounce(dsn(customer.email, "5.7.1", said, message.message_id))
    db.session.commit()
    assert outcome.paused == ["blocked.example"]
    return "blocked.example"


def sign_in(page, live_server, user) -> None:
    page.goto(live_server + "/login")
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/overview$"))


def test_an_admin_follows_the_warning_and_sends_again(
    page, live_server, create_user, paused
):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    admin = create_user("admin", language="en")
    sign_in(page, live_server, admin)

    banner = page.locator("#paused-domains")
    assert banner.is_visible()
    assert "blocked.example" in banner.inner_text()
    banner.get_by_role("link", name="See what to check").click()
    page.wait_for_url(re.compile(r"/admin/deliverability$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Deliverability"
    # The page itself carries the warning; the banner would only repeat it.
    assert page.locator("#paused-domains").count() == 0

    row = page.locator("#pauses tbody tr")
    assert row.count() == 1
    assert row.get_by_role("rowheader").inner_text() == "blocked.example"
    cells = row.get_by_role("cell")
    assert cells.nth(0).inner_text() == "Sending server blocked"
    said = cells.nth(1).inner_text()
    assert "blocked using zen.spamhaus.org" in said
    assert "anna" not in said.lower()  # the address is not kept

    by_reason = page.locator("#by-reason tbody tr")
    assert by_reason.count() == 1
    assert by_reason.get_by_role("rowheader").inner_text() == "Sending server blocked"
    assert by_reason.get_by_role("cell").nth(0).inner_text() == "1"
    assert "the domain is paused" in by_reason.get_by_role("cell").nth(1).inner_text()
    assert "blocklist" in by_reason.get_by_role("cell").nth(2).inner_text()
    assert page.locator("#by-domain").get_by_role("rowheader").inner_text() == (
        "blocked.example"
    )
    assert serious_violations(page) == []

    with page.expect_navigation():
        row.get_by_role("button", name="Send again now").click()
    assert page.url == live_server + "/admin/deliverability"
    flash = page.get_by_role("status").filter(has_text="sent again")
    assert flash.inner_text() == "Mail to blocked.example is sent again."
    assert page.locator("#pauses").count() == 0
    assert page.get_by_role("button", name="Send again now").count() == 0
    # What happened stays on the page; only the pause is gone.
    assert page.locator("#by-reason tbody tr").count() == 1
    page.get_by_role("link", name="Overview", exact=True).click()
    page.wait_for_url(re.compile(r"/overview$"))
    assert page.locator("#paused-domains").count() == 0
    assert requested and all(url.startswith(live_server) for url in requested)


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_the_page_fits_a_phone(browser, live_server, create_user, paused, lang):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, live_server, create_user("admin", language="en"))
    page.goto(f"{live_server}/admin/deliverability?lang={lang}")
    assert page.locator("html").get_attribute("lang") == lang
    assert page.locator("#pauses tbody tr").count() == 1
    assert page.locator("#by-reason").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"{width}px wide in {lang}"
    page.goto(f"{live_server}/overview")
    assert page.locator("#paused-domains").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"overview with the banner: {width}px in {lang}"
    assert requested and all(url.startswith(live_server) for url in requested)
    context.close()
