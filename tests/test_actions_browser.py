"""In Debian's Chromium: a manager records an improvement action, sees it on
the trend charts, and reads its verdict on the action's page."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from karn.actions.models import ImprovementAction
from karn.analysis import totals
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Response, SurveyVersion
from tests.conftest import PASSWORD
from tests.test_surveys_browser import serious_violations

pytestmark = pytest.mark.browser

TITLE = "Callback within a day"


def loaded(image) -> bool:
    """Whether an image loaded and decoded (waiting for it if need be)."""
    return image.evaluate(
        "img => img.decode().then(() => img.naturalWidth > 0, () => false)"
    )


@pytest.fixture
def answered(db):
    """20 answers in the 30 days before the start (10 service), 20 from it on
    (2 service). The server runs on the real clock, so dates are relative."""
    survey, _ = ensure_default_survey()
    db.session.commit()
    version = db.session.scalars(
        sa.select(SurveyVersion).where(SurveyVersion.survey_id == survey.id)
    ).one()
    today = datetime.now(UTC).date()
    start = today - timedelta(days=25)
    for first, service in ((start - timedelta(days=25), 10), (start, 2)):
        for i in range(20):
            day = first + timedelta(days=i)
            when = datetime.combine(day, time(9), tzinfo=UTC)
            db.session.add(
                Response(
                    survey_version_id=version.id,
                    language="en",
                    primary_reason="service" if i < service else "price",
                    started_at=when,
                    submitted_at=when,
                )
            )
    db.session.commit()
    totals.rebuild(db.session.connection())
    db.session.commit()
    return start


def test_a_manager_creates_an_action_and_sees_its_effect(
    page, live_server, db, create_user, answered
):
    start = answered
    manager = create_user("manager", name="Mona Manager", language="en")
    page.goto(live_server + "/login")
    page.get_by_label("Email address").fill(manager.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/overview$"))

    page.get_by_role("link", name="Actions", exact=True).click()
    page.get_by_role("link", name="New improvement action").click()
    page.wait_for_url(re.compile(r"/actions/new"))
    assert serious_violations(page) == []
    # Server-side checks, beside the field.
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Reason it targets").select_option("service")
    page.get_by_label("Start date").fill(start.isoformat())
    page.get_by_label("End date").fill((start - timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Save").click()
    error = page.locator("#ended_on-error")
    assert error.inner_text() == "The end date lies before the start date."
    assert page.get_by_label("End date").get_attribute("aria-invalid") == "true"

    page.get_by_label("End date").fill("")
    page.get_by_label("Description").fill("Every complaint is called back.")
    assert page.get_by_label("Owner").input_value() == str(manager.id)
    # A double click saves one action.
    page.get_by_role("button", name="Save").dblclick()
    page.wait_for_url(re.compile(r"/actions/\d+$"))
    assert page.get_by_role("heading", level=1).inner_text() == TITLE
    assert db.session.scalar(sa.select(sa.func.count(ImprovementAction.id))) == 1

    # The verdict, by hand: 10 of 20 (50%) before, 2 of 20 (10%) after;
    # the pooled z-test gives p = 0.0058.
    verdict = page.locator("p.verdict")
    assert verdict.first.inner_text() == (
        "The share naming “Service” fell from 50% to 10%: a drop this large is "
        "unlikely to be chance (p = 0.006)."
    )
    chart = page.get_by_role("img", name=re.compile("p-chart of the monthly share"))
    assert loaded(chart)
    svg = page.request.get(chart.evaluate("img => img.src")).text()
    assert TITLE in svg
    assert serious_violations(page) == []

    # On the trends page: the action in the list, and on both charts.
    page.get_by_role("link", name="Analysis", exact=True).click()
    page.get_by_role("link", name="Trends").click()
    page.wait_for_url(re.compile(r"/analysis/trends"))
    assert page.get_by_role("link", name=TITLE).is_visible()
    for name in ("Line chart", "p-chart"):
        image = page.get_by_role("img", name=re.compile(name))
        assert loaded(image)
        assert TITLE in page.request.get(image.evaluate("img => img.src")).text()

    # Back to the list, with the action and its verdict.
    page.get_by_role("link", name="Improvement actions and their effect").click()
    page.wait_for_url(re.compile(r"/actions/$"))
    card = page.locator("article.action")
    assert card.count() == 1
    assert "Mona Manager" in card.inner_text()
    assert "fell from 50% to 10%" in card.locator("p.verdict").inner_text()
    assert serious_violations(page) == []


def test_the_action_chart_is_drawn_for_a_phone_on_a_phone(
    browser, live_server, db, create_user, answered
):
    from tests.test_analysis_browser import displayed_text_px
    from tests.test_app_phone_lists_browser import PHONE, sign_in

    manager = create_user("manager", language="nl")
    action = ImprovementAction(
        title=TITLE, reason="service", owner_id=manager.id, started_on=answered
    )
    db.session.add(action)
    db.session.commit()
    for width, size in ((PHONE, "narrow"), (1366, None)):
        context, page = sign_in(browser, live_server, manager, width, "nl")
        page.goto(f"{live_server}/actions/{action.id}")
        chart = page.locator("img.chart").first
        assert loaded(chart)
        source = chart.evaluate("img => img.currentSrc")
        assert ("size=narrow" in source) == (size == "narrow")
        smallest, _shown = displayed_text_px(page, chart)
        assert smallest >= 11.5, (width, smallest)
        context.close()
