"""In a real browser at 390 px, in Dutch and English: the admin lists (users,
API keys, outbox, suppressions) and the keep-call pages read as one card per
row with every field labelled, nothing scrolling sideways, and their buttons
and tick boxes still work; at 1366 px they are ordinary tables. The analysis
filters fold under a line naming what is active, so the first chart shows on
the first screen of a phone."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from karn import clock
from karn.accounts.models import ApiKey
from karn.accounts.operations import create_api_key
from karn.customers.models import Customer
from karn.enums import CustomerStatus, OutboxStatus
from karn.experiments import keepcalls
from karn.experiments.models import Assignment
from karn.risk.models import RiskScore
from karn.surveys.delivery import suppress
from karn.surveys.models import OutboxMessage
from tests.conftest import resize
from tests.test_analysis_browser import departures, signed_in  # noqa: F401
from tests.test_app_phone_lists_browser import OVERFLOW, PHONE, sign_in

pytestmark = pytest.mark.browser

LONG_MAIL = "anna-maria.vandenheuvel-vermeulen@zorgverzekeraar-voorbeeld.example"

WORDS = {
    "nl": {
        "users": "Gebruikers",
        "role": "Rol",
        "starts": "Begint met",
        "revoke": "Intrekken",
        "subject": "Onderwerp",
        "why": "Waarom",
        "held": "Achtergehouden",
        "kept": "Behouden maandomzet",
        "probability": "Kans",
        "ticked": "Plan behoudgesprekken voor de aangevinkte klanten",
        "none": "Filters: geen, alles telt mee",
        "one": "1 filter: Segment: MKB",
    },
    "en": {
        "users": "Users",
        "role": "Role",
        "starts": "Starts with",
        "revoke": "Revoke",
        "subject": "Subject",
        "why": "Why",
        "held": "Held back",
        "kept": "Monthly revenue kept",
        "probability": "Probability",
        "ticked": "Plan keep calls for the ticked customers",
        "none": "Filters: none, everything is counted",
        "one": "1 filter: Segment: MKB",
    },
}


@pytest.fixture
def admin_lists(db, create_user):
    """Long names and addresses in every admin list, and a keep-call
    experiment over eight at-risk customers."""
    admin = create_user(
        "admin", name="Anna-Maria van den Heuvel-Vermeulen", email=LONG_MAIL
    )
    create_user("staff", name="Piet", email="piet@example.com", active=False)
    key, _secret = create_api_key("Boekhouding-koppeling-productieomgeving-2026", admin)
    old, _secret = create_api_key("Oude koppeling", admin)
    old.revoked_at = clock.now()
    for i, status in enumerate(
        [OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.PENDING]
    ):
        db.session.add(
            OutboxMessage(
                kind="invitation",
                to_address=f"klant{i}.{LONG_MAIL}",
                language="nl",
                subject="Waarom heeft u opgezegd? Wij horen graag wat beter kan",
                message_id=f"<polish-{i}@karn.example>",
                status=status,
                attempts=i,
                last_error="550 5.1.1 The email account that you tried to reach does"
                " not exist"
                if status == OutboxStatus.FAILED
                else None,
                sent_at=clock.now() if status == OutboxStatus.SENT else None,
            )
        )
    suppress(LONG_MAIL.replace("anna", "bert"), "bounced")
    suppress("jan@example.nl", "unsubscribed")
    people = []
    for i in range(8):
        customer = Customer(
            external_id=f"R{i:04d}",
            email=f"risico{i}@example.nl",
            name=f"Klant met een lange naam nummer {i}",
            status=CustomerStatus.ACTIVE,
            departed_at=None,
            source="manual",
            language="nl",
            phone=f"06{i:08d}",
            monthly_revenue=Decimal("1234.50"),
        )
        db.session.add(customer)
        db.session.flush()
        db.session.add(
            RiskScore(
                customer_id=customer.id,
                model_version=1,
                probability=0.5,
                revenue_at_risk=Decimal("617.25") - i,
                reasons=[],
                likely_reason="price",
            )
        )
        people.append(customer)
    db.session.commit()
    plan = keepcalls.plan([c.id for c in people[:6]], admin)
    db.session.commit()
    return admin, key, plan.experiment


def cards_fit(page, table, label):
    """The table fits the phone, and its rows are cards: the heading row is
    hidden and each field carries its label."""
    assert page.evaluate(OVERFLOW) == []
    assert page.locator(f"{table} thead").bounding_box()["width"] <= 1
    cell = page.locator(f"{table} tbody td[data-label='{label}']").first
    assert cell.is_visible()
    shown = cell.evaluate("td => getComputedStyle(td, '::before').content")
    assert label in shown


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_admin_lists_and_keep_calls_fit_a_phone(
    browser, live_server, db, admin_lists, lang
):
    admin, key, experiment = admin_lists
    words = WORDS[lang]
    context, page = sign_in(browser, live_server, admin, PHONE, lang)

    page.goto(f"{live_server}/admin/users?lang={lang}")
    assert page.get_by_role("heading", level=1).inner_text() == words["users"]
    cards_fit(page, "table.users", words["role"])
    assert page.locator("table.users").get_by_role("link", name=admin.name).is_visible()

    page.goto(f"{live_server}/admin/outbox?lang={lang}")
    cards_fit(page, "table.outbox", words["subject"])
    assert "550 5.1.1" in page.locator("table.outbox").inner_text()

    page.goto(f"{live_server}/admin/suppressions?lang={lang}")
    cards_fit(page, "table.suppressions", words["why"])
    assert "bert-maria" in page.locator("table.suppressions").inner_text()

    page.goto(f"{live_server}/keep-calls/{experiment.id}?lang={lang}")
    cards_fit(page, "#groups", words["kept"])
    assert "€\xa0" in page.locator("#groups").inner_text()

    page.goto(f"{live_server}/keep-calls/?lang={lang}")
    cards_fit(page, "#keep-call-experiments", words["held"])

    # The at-risk list: the tick boxes still plan keep calls from a phone.
    page.goto(f"{live_server}/at-risk/?lang={lang}")
    cards_fit(page, "#at-risk", words["probability"])
    boxes = page.locator("#at-risk input[type=checkbox]")
    assert boxes.count() == 2  # the six drawn already have none
    boxes.first.check()
    boxes.last.check()
    page.get_by_role("button", name=words["ticked"], exact=True).click()
    page.wait_for_url(re.compile(r"/keep-calls/\d+$"))
    assert db.session.scalar(sa.select(sa.func.count(Assignment.id))) == 8

    # The revoke button in its card still revokes.
    page.goto(f"{live_server}/admin/api-keys?lang={lang}")
    cards_fit(page, "table.api-keys", words["starts"])
    row = page.locator("table.api-keys tbody tr", has_text=key.name)
    row.get_by_role("button", name=words["revoke"]).click()
    page.wait_for_load_state()
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).active is False

    # At a desktop width they are tables again: headings shown, one line a row.
    resize(page, 1366, 900)
    for path, table in [
        ("/admin/users", "table.users"),
        ("/admin/outbox", "table.outbox"),
        ("/keep-calls/", "#keep-call-experiments"),
        ("/at-risk/", "#at-risk"),
    ]:
        page.goto(f"{live_server}{path}?lang={lang}")
        assert page.locator(f"{table} thead").is_visible()
        assert page.evaluate(OVERFLOW) == []
        cells = page.locator(f"{table} tbody tr").first.locator("td")
        tops = {round(b["y"]) for b in (c.bounding_box() for c in cells.all())}
        assert len(tops) == 1, path
    context.close()


def first_chart_top(page) -> float:
    chart = page.locator(".ranking img.chart")
    assert chart.evaluate("img => img.decode().then(() => img.naturalWidth > 0)")
    return chart.bounding_box()["y"]


@pytest.mark.usefixtures("departures")
@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_analysis_filters_fold_on_a_phone(
    browser,
    live_server,
    create_user,
    lang,
):
    words = WORDS[lang]
    page = signed_in(browser, live_server, create_user, lang, PHONE)
    height = 844  # a phone's first screen
    resize(page, PHONE, height)
    page.goto(f"{live_server}/analysis/?lang={lang}")
    box = page.locator("details.filter-box")
    summary = box.locator("summary")
    form = page.locator("form.filters[method=get]")
    assert summary.inner_text() == words["none"]
    assert not box.evaluate("d => d.open") and not form.is_visible()
    # The first chart starts on the first screen, with room to be seen.
    assert first_chart_top(page) < height - 100
    assert page.evaluate(OVERFLOW) == []
    # Opening the summary shows the form, which filters as before.
    summary.click()
    assert form.is_visible()
    page.select_option("#f-segment", "MKB")
    form.get_by_role("button").click()
    page.wait_for_url(re.compile(r"segment=MKB"))
    assert page.locator("details.filter-box summary").inner_text() == words["one"]
    assert not page.locator("form.filters[method=get]").is_visible()
    # The other analysis pages fold the same form.
    for path in ("/analysis/trends", "/analysis/text"):
        page.goto(f"{live_server}{path}?lang={lang}")
        assert not page.locator("details.filter-box").evaluate("d => d.open")
    # Wider, the form is open and the summary line is not shown.
    page.goto(f"{live_server}/analysis/?lang={lang}")
    resize(page, 1366, 900)
    assert page.locator("form.filters[method=get]").is_visible()
    assert not page.locator("details.filter-box summary").is_visible()
    page.context.close()


@pytest.mark.usefixtures("departures")
def test_without_javascript_the_filters_stay_open_and_filter(
    browser,
    live_server,
    create_user,
):
    page = signed_in(browser, live_server, create_user, "nl", PHONE, javascript=False)
    page.goto(f"{live_server}/analysis/?lang=nl")
    form = page.locator("form.filters[method=get]")
    assert form.is_visible()
    page.select_option("#f-segment", "Particulier")
    form.get_by_role("button").click()
    page.wait_for_url(re.compile(r"segment=Particulier"))
    assert (
        "Segment: Particulier"
        in page.locator("details.filter-box summary").inner_text()
    )
    page.context.close()


@pytest.mark.usefixtures("departures")
def test_the_folded_filters_name_dates_and_channel_in_the_readers_words(
    browser,
    live_server,
    create_user,
):
    page = signed_in(browser, live_server, create_user, "nl", PHONE)
    since = (clock.now() - timedelta(days=30)).date()
    page.goto(
        f"{live_server}/analysis/?lang=nl&channel=phone&since={since.isoformat()}"
    )
    text = page.locator("details.filter-box summary").inner_text()
    assert text.startswith("2 filters: Redenen uit: telefoongesprekken · Van: ")
    assert str(since.year) in text and since.isoformat() not in text
    page.context.close()


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_menu_folds_on_a_phone_and_not_on_a_desktop(
    browser, live_server, create_user, lang
):
    """An administrator's menu (two rows of links, their name, sign out) took
    most of a phone's first screen; it now folds under one button."""
    admin = create_user("admin", language=lang)
    words = {
        "nl": ("Menu", "Gebruikers", "Uitloggen"),
        "en": ("Menu", "Users", "Sign out"),
    }
    button, users, sign_out = words[lang]
    context, page = sign_in(browser, live_server, admin, PHONE, lang)
    page.goto(f"{live_server}/customers/?lang={lang}")
    menu = page.locator("header details.menu")
    assert not menu.evaluate("d => d.open")
    assert page.locator("header").bounding_box()["height"] < 80
    assert not page.get_by_role("link", name=users, exact=True).is_visible()
    page.locator("header summary").filter(has_text=button).click()
    page.get_by_role("link", name=users, exact=True).click()
    page.wait_for_url(re.compile(r"/admin/users"))
    # Folded again on the next page, and the sign-out button is in it.
    assert not page.locator("header details.menu").evaluate("d => d.open")
    page.locator("header summary").click()
    assert page.get_by_role("button", name=sign_out).is_visible()
    context.close()

    context, page = sign_in(browser, live_server, admin, 1366, lang)
    page.goto(f"{live_server}/customers/?lang={lang}")
    assert not page.locator("header summary").is_visible()
    assert page.get_by_role("link", name=users, exact=True).is_visible()
    assert page.locator("header").bounding_box()["height"] < 140
    context.close()

    # Without JavaScript the menu simply stays open.
    context, page = sign_in(browser, live_server, admin, PHONE, lang, javascript=False)
    assert page.get_by_role("link", name=users, exact=True).is_visible()
    context.close()
