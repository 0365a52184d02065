"""End to end: import, answer through the real pages, and the numbers agree
everywhere — dashboard, CSV and XLSX exports, the rankings API and the CLI."""

import csv
import io
import json
import re
import zipfile
from datetime import timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from karn import clock
from karn.accounts.operations import create_api_key
from karn.analysis.stats import wilson_interval
from karn.customers.operations import import_csv
from karn.surveys import delivery, links
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Invitation
from tests.conftest import csrf_token

# customer number, segment, monthly revenue, main reason, comment
PEOPLE = [
    ("1", "MKB", "40,00", "service", "De helpdesk reageerde nooit op mijn vragen."),
    ("2", "MKB", "60,00", "service", "Heel slechte service, niemand belde terug."),
    ("3", "MKB", "20,00", "service", ""),
    ("4", "Particulier", "10,00", "service", "Wachttijd aan de telefoon was te lang."),
    ("5", "Particulier", "15,00", "service", ""),
    ("6", "Particulier", "12,50", "price", "Veel te duur geworden."),
    ("7", "Particulier", "12,50", "price", ""),
    ("8", "MKB", "100,00", "price", "De prijsverhoging was de druppel."),
    ("9", "Particulier", "30,00", "brand", "Overgestapt naar een andere aanbieder."),
    ("10", "MKB", "70,00", "brand", ""),
]
HAND = {"service": 5, "price": 3, "brand": 2}
REVENUE = {"service": 145.0, "price": 125.0, "brand": 100.0}


@pytest.fixture
def answered(client, db):
    """Ten customers imported from CSV who answered through the survey pages."""
    ensure_default_survey()
    db.session.commit()
    left = (clock.now() - timedelta(days=5)).strftime("%d-%m-%Y")
    lines = ["Klantnummer;E-mailadres;Segment;Maandbedrag;Opzegdatum;Taal"]
    lines += [
        f"{n};klant{n}@example.nl;{seg};{rev};{left};nl"
        for n, seg, rev, _r, _t in PEOPLE
    ]
    import_csv(io.BytesIO("\n".join(lines).encode("cp1252")))
    delivery.run_due()
    for n, _seg, _rev, reason, comment in PEOPLE:
        invitation = db.session.scalars(
            sa.select(Invitation)
            .join(Invitation.customer)
            .where(sa.text("customers.external_id = :n"))
            .params(n=n)
        ).one()
        link = f"/s/{links.invitation_token(invitation.id)}"
        token = csrf_token(client, link)
        response = client.post(
            link,
            data={
                "csrf_token": token,
                "q_main_reason": reason,
                "q_keep_you": comment,
                "q_ratings__service": "2",
                "q_ratings__quality": "3",
                "q_ratings__value": "3",
                "q_come_back": "3",
                "q_callback": "no",
                "q_switched_to": "Concurrent" if reason == "brand" else "",
            },
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:500]


@pytest.fixture
def manager(create_user, login):
    user = create_user("manager", language="en")
    login(user)
    return user


def test_dashboard_export_api_and_cli_agree_with_a_hand_count(
    answered, client, manager, db, runner
):
    page = client.get("/analysis/").get_data(as_text=True)
    assert "10 respondents" in page
    rows = dict(
        re.findall(
            r'<th scope="row">([^<]+?)(?: <span[^>]*>≈</span>)?</th>\s*'
            r'<td class="num"[^>]*>(\d+)</td>',
            page,
        )
    )
    assert rows["Service"] == "5" and rows["Price"] == "3"
    assert rows["Preferred another brand"] == "2"

    exported = list(
        csv.DictReader(
            io.StringIO(
                client.get("/analysis/export/ranking.csv")
                .get_data(as_text=True)
                .lstrip("\ufeff")
            )
        )
    )
    by_reason = {r["reason"]: r for r in exported}
    for reason, count in HAND.items():
        assert int(by_reason[reason]["count"]) == count
        assert float(by_reason[reason]["share"]) == pytest.approx(count / 10)

    book = openpyxl.load_workbook(
        io.BytesIO(client.get("/analysis/export/ranking.xlsx").data)
    )
    sheet = list(book.active.iter_rows(values_only=True))
    assert {row[0]: row[2] for row in sheet[1:]}["service"] == 5

    answers = list(
        csv.DictReader(
            io.StringIO(
                client.get("/analysis/export/responses.csv")
                .get_data(as_text=True)
                .lstrip("\ufeff")
            )
        )
    )
    assert len(answers) == 10
    assert sorted(a["primary_reason"] for a in answers) == sorted(
        r for *_x, r, _t in [(p[0], p[1], p[2], p[3], p[4]) for p in PEOPLE]
    )
    tagged = [a for a in answers if a["keep_you"]]
    assert tagged and all(a["keep_you_sentiment"] for a in tagged)

    _key, secret = create_api_key("bi")
    db.session.commit()
    api = client.get(
        "/api/v1/rankings", headers={"Authorization": f"Bearer {secret}"}
    ).json
    assert api["n"] == 10
    api_rows = {r["reason"]: r for r in api["reasons"]}
    low, high = wilson_interval(5, 10)
    assert (
        api_rows["service"]["ci_low"],
        api_rows["service"]["ci_high"],
    ) == pytest.approx((low, high))
    # Known value: 5 of 10 gives the Wilson interval [0.2366, 0.7634].
    assert api_rows["service"]["ci_low"] == pytest.approx(0.2366, abs=1e-4)
    assert api_rows["service"]["overlaps_next"] is True  # 5 vs 3 of 10: not established
    for reason, money in REVENUE.items():
        assert api_rows[reason]["revenue"] == pytest.approx(money)

    cli = runner.invoke(args=["analysis", "ranking", "--json"])
    assert json.loads(cli.output)["reasons"] == api["reasons"]


def test_revenue_weighting_orders_by_lost_revenue(answered, client, manager, db):
    _key, secret = create_api_key("bi")
    db.session.commit()
    api = client.get(
        "/api/v1/rankings?weight=revenue", headers={"Authorization": f"Bearer {secret}"}
    ).json
    order = [r["reason"] for r in api["reasons"] if r["revenue"]]
    assert order == ["service", "price", "brand"]
    total = sum(REVENUE.values())
    assert api["reasons"][0]["revenue_share"] == pytest.approx(145 / total)


def test_filters_narrow_every_view(answered, client, manager, db, runner):
    _key, secret = create_api_key("bi")
    db.session.commit()
    auth = {"Authorization": f"Bearer {secret}"}
    mkb = client.get("/api/v1/rankings?segment=MKB", headers=auth).json
    assert mkb["n"] == 5
    assert {r["reason"]: r["count"] for r in mkb["reasons"]}["service"] == 3
    future = (clock.now() + timedelta(days=3)).date().isoformat()
    assert client.get(f"/api/v1/rankings?since={future}", headers=auth).json["n"] == 0
    page = client.get("/analysis/?segment=MKB").get_data(as_text=True)
    assert "5 respondents" in page
    answers = client.get("/analysis/export/responses.csv?segment=Particulier")
    assert len(answers.get_data(as_text=True).strip().splitlines()) == 1 + 5
    cli = runner.invoke(
        args=["analysis", "ranking", "--json", "--filter", "segment=MKB"]
    )
    assert json.loads(cli.output)["n"] == 5


def test_segment_comparison_trends_and_comments(answered, client, manager):
    compare = client.get("/analysis/segments?attribute=segment&a=MKB&b=Particulier")
    html = compare.get_data(as_text=True)
    assert "chi-square test, p =" in html and "not reliable" in html
    # Months as the reader writes them ("Dec 2026"), not "2026-12".
    trends = client.get("/analysis/trends?reason=service").get_data(as_text=True)
    assert clock.now().strftime("%b %Y") in trends
    assert clock.now().strftime("%Y-%m") not in re.sub(r"<[^>]+>", "", trends)
    text = client.get("/analysis/text").get_data(as_text=True)
    assert "Heel slechte service, niemand belde terug." in text
    for name in ("ranking", "trend", "pchart", "funnel", "sentiment", "segments"):
        svg = client.get(f"/analysis/chart/{name}.svg?size=narrow")
        assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
        assert b"<svg" in svg.data
    png = client.get("/analysis/chart/ranking.png")
    assert png.data.startswith(b"\x89PNG")


def test_the_segments_chart_names_sources_in_words(answered, client, manager, db):
    from karn.customers.models import Customer

    # Four of the ten came in through Stripe.
    for customer in db.session.scalars(
        sa.select(Customer).where(Customer.external_id.in_(["1", "2", "3", "4"]))
    ):
        customer.source = "stripe"
    db.session.commit()
    query = "attribute=source&a=csv&b=stripe"
    dutch = client.get(f"/analysis/chart/segments.svg?{query}&lang=nl")
    english = client.get(f"/analysis/chart/segments.svg?{query}&lang=en")
    assert "CSV-bestand (n = 6)" in dutch.get_data(as_text=True)
    assert "CSV file (n = 6)" in english.get_data(as_text=True)
    assert "csv (n =" not in dutch.get_data(as_text=True)


def test_charts_speak_the_readers_language(answered, client, manager):
    dutch = client.get("/analysis/chart/ranking.svg?lang=nl").get_data(as_text=True)
    english = client.get("/analysis/chart/ranking.svg?lang=en").get_data(as_text=True)
    assert (
        "Voorkeur voor een ander merk" in dutch and "Preferred another brand" in english
    )


# Text a spreadsheet program would run: each starts a formula, some behind a
# sign that looks like a number, a blank, a tab or a full-width character.
FORMULAS = [
    '=HYPERLINK("http://evil")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    " =1+1",
    "\n=1+1",
    "\uff1d1+1",
    "-1",
]


def test_exports_defuse_formulas(answered, client, manager, db):
    from karn.customers.models import Customer
    from karn.surveys.models import Answer, Response

    responses = db.session.scalars(sa.select(Response).order_by(Response.id)).all()
    planted = {}  # response id -> (comment, plan)
    for n, response in enumerate(responses):
        comment = FORMULAS[n % len(FORMULAS)]
        plan = FORMULAS[-1 - n % len(FORMULAS)]
        answer = db.session.scalars(
            sa.select(Answer).where(
                Answer.response_id == response.id, Answer.question_key == "keep_you"
            )
        ).first() or Answer(response_id=response.id, question_key="keep_you")
        answer.value = comment
        db.session.add(answer)
        db.session.get(Customer, response.customer_id).plan = plan
        planted[response.id] = (comment, plan)
    # A number stays a number, a negative one too.
    for answer in db.session.scalars(
        sa.select(Answer).where(Answer.question_key == "come_back")
    ):
        answer.value = -3
    db.session.commit()
    assert {c for c, _p in planted.values()} == set(FORMULAS)

    body = client.get("/analysis/export/responses.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert len(rows) == len(planted)
    for row in rows:
        comment, plan = planted[int(row["response_id"])]
        assert (row["keep_you"], row["plan"]) == ("'" + comment, "'" + plan)
        assert row["come_back"] == "-3"

    xlsx = client.get("/analysis/export/responses.xlsx").data
    sheet = list(
        openpyxl.load_workbook(io.BytesIO(xlsx)).active.iter_rows(values_only=True)
    )
    for row in sheet[1:]:
        cells = dict(zip(sheet[0], row, strict=True))
        comment, plan = planted[cells["response_id"]]
        assert (cells["keep_you"], cells["plan"]) == ("'" + comment, "'" + plan)
        assert cells["come_back"] == -3
    # Not one cell of the workbook is a formula.
    assert b"<f>" not in zipfile.ZipFile(io.BytesIO(xlsx)).read(
        "xl/worksheets/sheet1.xml"
    )


def test_empty_database_shows_a_calm_dashboard(client, manager):
    page = client.get("/analysis/")
    assert page.status_code == 200
    assert "No answers match these filters yet." in page.get_data(as_text=True)


# Every page and download the dashboard's filters narrow.
FILTERED = [
    "/analysis/",
    "/analysis/trends",
    "/analysis/segments?attribute=segment&a=MKB&b=Particulier",
    "/analysis/text",
    "/analysis/chart/ranking.svg",
    "/analysis/chart/pchart.svg",
    "/analysis/chart/funnel.png",
    "/analysis/export/responses.csv",
    "/analysis/export/responses.xlsx",
    "/analysis/export/ranking.csv",
    "/analysis/export/ranking.xlsx",
    "/api/v1/rankings",
]
WORDS = ["junk", "'\"<b>x</b>", "-1"]
# parameter -> (values it refuses, values it takes); NUL fits no database.
FILTER_VALUES = {
    "since": (["junk", "2025-13-01", "9999-12-31", "99999999999999999999"], []),
    "until": (["junk", "31-12-2025", "9999-12-31"], ["2000-01-01"]),
    "by": (WORDS, ["departure"]),
    "channel": (WORDS, ["phone"]),
    "version": (["junk", "-1", "1.5", "99999999999999999999999", "٣"], ["7"]),
    "language": (WORDS, ["en"]),
    "source": ([*WORDS, "CSV"], ["stripe"]),
    "tenure": (WORDS, ["60+"]),
    "revenue": (WORDS, ["250+"]),
    "plan": (["a\x00b"], WORDS),
    "segment": (["\x00"], WORDS),
    "region": (["\x00"], WORDS),
    "segment.city": (["\x00"], WORDS),
    "segment.\x00": (["x"], []),
}


def _get(client, page, name, value, auth):
    from urllib.parse import urlencode

    url = page + ("&" if "?" in page else "?") + urlencode({name: value})
    return url, client.get(url, headers=auth)


def test_a_filter_value_it_does_not_take_is_a_400_that_says_which(
    answered, client, manager, db
):
    _key, secret = create_api_key("bi")
    db.session.commit()
    auth = {"Authorization": f"Bearer {secret}"}
    for name, (refused, taken) in FILTER_VALUES.items():
        for value in refused:
            for page in FILTERED:
                url, response = _get(client, page, name, value, auth)
                assert response.status_code == 400, url
                # The message names the parameter, a NUL in it escaped.
                said = "The filter " + name.replace("\x00", "\\x00") + " cannot be"
                if page.startswith("/api/"):
                    assert response.json["error"] == "invalid_filter", url
                    assert response.json["parameter"] == name
                    assert response.json["message"].startswith(said)
                else:
                    assert said in response.get_data(as_text=True), url
        for value in taken:
            for page in FILTERED:
                url, response = _get(client, page, name, value, auth)
                assert response.status_code == 200, url
    source = client.get("/analysis/?source=junk").get_data(as_text=True)
    assert (
        "The filter source cannot be “junk”: choose one of csv, api, stripe, manual."
        in source
    )
    dutch = client.get("/analysis/export/responses.xlsx?source=junk&lang=nl")
    assert "Het filter source kan niet" in dutch.get_data(as_text=True)


def test_page_parameters_with_values_they_do_not_take_are_a_400(
    answered, client, manager
):
    for url in (
        "/analysis/?weight=junk",
        "/analysis/chart/ranking.svg?weight=junk",
        "/analysis/export/ranking.csv?weight=junk",
        "/analysis/trends?reason=junk",
        "/analysis/chart/pchart.svg?reason=%00",
        "/analysis/segments?attribute=source&a=csv&b=junk",
        "/analysis/segments?attribute=%00",
    ):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "The filter " in response.get_data(as_text=True)
    assert client.get("/analysis/segments?attribute=Plaats&a=x&b=y").status_code == 200
    assert client.get("/analysis/trends?reason=price").status_code == 200


def test_the_cli_says_which_filter_value_it_does_not_take(runner, db):
    result = runner.invoke(args=["analysis", "ranking", "--filter", "source=junk"])
    assert result.exit_code == 2
    # In the default language, Dutch.
    assert "Het filter source kan niet “junk” zijn: kies uit csv," in result.output


def test_revenue_in_another_currency_is_shown_apart_not_summed(
    answered, client, manager, db
):
    from karn.customers.models import Customer

    # Customer 8 (price, 100.00) pays in yen: 100 yen is not 100 euros.
    yen = db.session.scalars(sa.select(Customer).where(Customer.external_id == "8"))
    yen = yen.one()
    yen.currency = "JPY"
    db.session.commit()
    _key, secret = create_api_key("bi")
    db.session.commit()
    api = client.get(
        "/api/v1/rankings?weight=revenue", headers={"Authorization": f"Bearer {secret}"}
    ).json
    revenue = {r["reason"]: r["revenue"] for r in api["reasons"]}
    assert revenue["price"] == REVENUE["price"] - 100
    assert revenue["service"] == REVENUE["service"]
    page = client.get("/analysis/?weight=revenue").get_data(as_text=True)
    assert "1 customers in other currencies not counted" in page
    assert "€\xa025" in page  # the price row: 12.50 + 12.50
    # Filtered to customers without yen, nothing is left out.
    page = client.get("/analysis/?segment=Particulier").get_data(as_text=True)
    assert "other currencies" not in page

    # Marked in the reporting currency, it counts again.
    yen.currency = "EUR"
    db.session.commit()
    page = client.get("/analysis/").get_data(as_text=True)
    assert "other currencies" not in page
    api = client.get(
        "/api/v1/rankings?weight=revenue", headers={"Authorization": f"Bearer {secret}"}
    ).json
    revenue = {r["reason"]: r["revenue"] for r in api["reasons"] if r["revenue"]}
    assert revenue == REVENUE
