"""In Debian's Chromium, at 1366 and 390 px, in Dutch and English: a manager
reads the ranking, the trends, two segments side by side and the comments,
and every chart's text is readable at the size it is shown."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from babel.dates import format_date

from karn.analysis import totals
from karn.customers.models import Customer
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Answer, Response, SurveyVersion
from tests.conftest import PASSWORD
from tests.test_surveys_browser import serious_violations

pytestmark = pytest.mark.browser

WIDTHS = (1366, 390)
SVG = "{http://www.w3.org/2000/svg}"
# segment, plan, how many, of whom service (the rest price)
GROUPS = [("MKB", "Basis", 60, 48), ("Particulier", "Plus", 50, 10)]
COMPLAINT = "De helpdesk nam nooit op, drie weken lang."


@pytest.fixture
def departures(db):
    """110 answers over the last 200 days: MKB leaves over service,
    Particulier over price (a difference no chance explains); every customer
    paid € 1,234.50 a month, so lost revenue runs into five figures."""
    survey, _ = ensure_default_survey()
    db.session.commit()
    version = db.session.scalars(
        sa.select(SurveyVersion).where(SurveyVersion.survey_id == survey.id)
    ).one()
    today = datetime.now(UTC).date()
    n = 0
    for segment, plan, count, service in GROUPS:
        for i in range(count):
            n += 1
            when = datetime.combine(today - timedelta(days=2 + n * 180 // 110), time(9))
            when = when.replace(tzinfo=UTC)
            customer = Customer(
                external_id=f"K{n:04d}",
                email=f"klant{n}@example.nl",
                segment=segment,
                plan=plan,
                monthly_revenue=Decimal("1234.50"),
                departed_at=when - timedelta(days=1),
                source="manual",
                language="nl",
            )
            db.session.add(customer)
            db.session.flush()
            response = Response(
                survey_version_id=version.id,
                customer_id=customer.id,
                language="nl",
                primary_reason="service" if i < service else "price",
                started_at=when,
                submitted_at=when,
            )
            db.session.add(response)
            db.session.flush()
            if i < 4:
                text = COMPLAINT if n == 1 else f"Opmerking nummer {n}."
                db.session.add(
                    Answer(
                        response_id=response.id,
                        question_key="keep_you",
                        value=text,
                        text=text,
                        sentiment="negative",
                        sentiment_score=-0.9 + n / 100,
                    )
                )
    db.session.commit()
    totals.rebuild(db.session.connection())
    db.session.commit()


def signed_in(browser, live_server, create_user, lang, width, javascript=True):
    manager = create_user("manager", name="Mona Manager", language=lang)
    context = browser.new_context(
        viewport={"width": width, "height": 900},
        locale="nl-NL" if lang == "nl" else "en-GB",
        java_script_enabled=javascript,
    )
    page = context.new_page()
    page.goto(live_server + "/login")
    page.fill("input[name=email]", manager.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/overview$"))
    return page


def displayed_text_px(page, image) -> tuple[float, float]:
    """The smallest text of a chart as shown, in CSS pixels, and the width
    the chart is shown at: its SVG's font sizes scaled by shown/drawn width."""
    assert image.evaluate("img => img.decode().then(() => img.naturalWidth > 0)")
    svg = page.request.get(image.evaluate("img => img.currentSrc")).text()
    root = ET.fromstring(svg)
    drawn = float(root.get("viewBox").split()[2])
    sizes = [float(s) for s in re.findall(r"font-size: ([\d.]+)px", svg)]
    shown = image.evaluate("img => img.getBoundingClientRect().width")
    return min(sizes) * shown / drawn, shown


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_ranking_fits_and_every_chart_reads_at_12_px(
    browser, live_server, db, create_user, departures, lang, width
):
    page = signed_in(browser, live_server, create_user, lang, width)
    page.goto(f"{live_server}/analysis/?lang={lang}")
    # The ranking's table: no column cut off or behind a scrollbar.
    wrap = page.locator(".ranking .table-wrap")
    assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth")
    box = wrap.bounding_box()
    lost = "Verloren maandomzet" if lang == "nl" else "Lost monthly revenue"
    part = "Speelde ook mee" if lang == "nl" else "Also played a part"
    for cell in page.locator(".ranking td").all():
        cell_box = cell.bounding_box()
        assert cell_box["x"] + cell_box["width"] <= box["x"] + box["width"] + 0.5
    row = page.locator(".ranking tbody tr").first
    # Service: 58 times € 1,234.50, with the reader's thousands separator.
    assert ("71.601" if lang == "nl" else "71,601") in row.inner_text()
    if width == 390:
        # One card per reason, each figure named beside it.
        named = row.locator("td").evaluate_all(
            "tds => tds.map(td => getComputedStyle(td, '::before').content).join()"
        )
        assert lost in named and part in named
    else:
        for name in (lost, part):
            header = page.get_by_role("columnheader", name=name)
            header_box = header.bounding_box()
            assert header_box["x"] + header_box["width"] <= box["x"] + box["width"]
    # The ranking chart's axis ends near the largest share, not at 100%.
    ranking = page.locator(".ranking img.chart")
    svg = page.request.get(ranking.evaluate("img => img.currentSrc")).text()
    texts = ["".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{SVG}text")]
    assert "100%" not in texts  # the largest share is 53%
    assert "50%" in texts or "60%" in texts
    assert serious_violations(page) == []

    for path in ("/analysis/", "/analysis/trends", "/analysis/segments"):
        page.goto(f"{live_server}{path}?lang={lang}")
        charts = page.locator("img.chart").all()
        assert charts, path
        for image in charts:
            px, shown = displayed_text_px(page, image)
            assert px >= 11.5, (path, image.get_attribute("src"), px)
            assert shown <= width
        assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_funnel_says_which_base_its_percentages_have(
    browser, live_server, db, create_user, departures, lang
):
    page = signed_in(browser, live_server, create_user, lang, 1366)
    page.goto(f"{live_server}/analysis/?lang={lang}")
    table = page.locator("table.funnel")
    # 110 departed, none invited in this data: every share is of the departed.
    header = "Van vertrokken" if lang == "nl" else "Of departed"
    assert page.get_by_role("columnheader", name=header).is_visible()
    assert "100%" in table.locator("tr", has_text="110").inner_text()
    funnel = page.get_by_role("img", name=re.compile("Funnel|Trechter"))
    svg = page.request.get(funnel.evaluate("img => img.currentSrc")).text()
    assert "110 (100%)" in svg
    base = "vertrokken klanten" if lang == "nl" else "customers who departed"
    assert base in svg
    assert base in page.locator("section", has=table).inner_text()


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_trends_name_months_in_the_readers_language(
    browser, live_server, db, create_user, departures, lang
):
    page = signed_in(browser, live_server, create_user, lang, 1366)
    page.goto(f"{live_server}/analysis/trends?lang={lang}")
    month = format_date(datetime.now(UTC).date(), "LLL yyyy", locale=lang)
    assert month[0].islower() if lang == "nl" else month[0].isupper()
    rows = page.locator("table").first.locator("tbody th")
    assert month in rows.all_inner_texts()
    assert not any(re.fullmatch(r"\d{4}-\d\d", t) for t in rows.all_inner_texts())
    # One panel per reason: each reason's name titles its own panel.
    trend = page.locator("img.chart").first
    texts = "".join(
        ET.fromstring(
            page.request.get(trend.evaluate("img => img.currentSrc")).text()
        ).itertext()
    )
    for name in ("Service", "Prijs" if lang == "nl" else "Price"):
        assert name in texts
    assert month in texts or re.search(r"[A-Za-z]{3} \d{4}", texts)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_segments_compare_on_arrival_and_follow_compare_by(
    browser, live_server, db, create_user, departures, lang
):
    page = signed_in(browser, live_server, create_user, lang, 390)
    page.goto(f"{live_server}/analysis/segments?lang={lang}")
    # On arrival: the two largest segments, compared, with a chart.
    assert page.locator("#s-a").input_value() == "MKB"
    assert page.locator("#s-b").input_value() == "Particulier"
    verdict = page.locator("section.card p strong").inner_text()
    assert ("p < 0,001" if lang == "nl" else "p < 0.001") in verdict
    assert "0.000" not in verdict and "0,000" not in verdict
    chart = page.locator("section.card img.chart")
    assert chart.evaluate("img => img.decode().then(() => img.naturalWidth > 0)")
    assert serious_violations(page) == []

    # Another "compare by": its own groups at once.
    page.get_by_label("Vergelijken op" if lang == "nl" else "Compare by").select_option(
        "plan"
    )
    page.wait_for_url(re.compile(r"attribute=plan"))
    assert page.locator("#s-a option").all_inner_texts() == ["Basis", "Plus"]
    assert page.locator("#s-a").input_value() == "Basis"
    assert page.locator("section.card h2").inner_text() == "Basis · Plus"

    # The dashboard's period filter: nothing answered after tomorrow.
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    page.get_by_label("Van" if lang == "nl" else "From", exact=True).fill(tomorrow)
    page.get_by_role(
        "button", name="Vergelijken" if lang == "nl" else "Compare"
    ).click()
    page.wait_for_url(re.compile(r"since=" + tomorrow))
    none = "Te weinig antwoorden" if lang == "nl" else "Not enough answers to compare"
    assert none in page.locator("main").inner_text()


def test_segments_follow_compare_by_without_javascript(
    browser, live_server, db, create_user, departures
):
    page = signed_in(browser, live_server, create_user, "en", 1366, javascript=False)
    page.goto(f"{live_server}/analysis/segments?attribute=segment&a=MKB&b=Particulier")
    page.get_by_label("Compare by").select_option("plan")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r"attribute=plan"))
    assert page.locator("#s-b option").all_inner_texts() == ["Basis", "Plus"]
    assert page.locator("section.card h2").inner_text() == "Basis · Plus"


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_a_comment_opens_its_correction_form_on_demand_without_javascript(
    browser, live_server, db, create_user, departures, lang
):
    page = signed_in(browser, live_server, create_user, lang, 390, javascript=False)
    page.goto(f"{live_server}/analysis/text?lang={lang}")
    quote = page.locator("blockquote", has_text=COMPLAINT)
    box = page.locator(".tag-box").first
    tone = box.locator("select[name=sentiment]")
    assert quote.is_visible() and not tone.is_visible()
    box.locator("summary").click()
    assert tone.is_visible()
    box.locator("select[name=reason]").select_option("quality")
    box.get_by_role("button").click()
    page.wait_for_load_state()
    corrected = page.locator(".tag-box").filter(has=page.locator(".corrected"))
    assert corrected.count() == 1
    assert ("Kwaliteit" if lang == "nl" else "Quality") in corrected.inner_text()
