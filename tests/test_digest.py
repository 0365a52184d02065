"""The team digest: its content in Dutch and English on the real page and in the
PDF, the print stylesheet, and the mail through the outbox to a real SMTP
server, once per period."""

import math
import re
import threading
import zlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from karn import clock
from karn.actions.models import ImprovementAction
from karn.analysis import totals
from karn.callbacks.models import CallNote, CallNoteReason, DigestRun, WinBack
from karn.digest import content, mailing
from karn.enums import CallOutcome, OutboxStatus
from karn.periods import Period
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Answer, OutboxMessage, Response, SurveyVersion
from karn.worker import Worker

# Tuesday 3 November 2026, 10:00 in Amsterdam: October is the latest month.
NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
OCTOBER = Period.parse("2026-10")

# Main reasons given in September and October (20 respondents each).
SEPTEMBER_ANSWERS = {"service": 3, "price": 10, "brand": 7}
OCTOBER_ANSWERS = {"service": 9, "price": 6, "brand": 5}


@pytest.fixture
def app_settings(mail_settings):
    # The period's departures are past the invitation cut-off, so the worker's
    # passes here send the digest alone.
    return {
        **mail_settings,
        "TIMEZONE": "Europe/Amsterdam",
        "INVITATION_CUTOFF_DAYS": 1,
    }


@pytest.fixture(autouse=True)
def _clock():
    clock.freeze(NOW)
    yield
    clock.freeze(None)


def _noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


@pytest.fixture
def version(db):
    survey, _ = ensure_default_survey()
    db.session.commit()
    return db.session.scalars(
        sa.select(SurveyVersion).where(SurveyVersion.survey_id == survey.id)
    ).one()


def _answer(db, version, reason, when, text=None, score=None):
    response = Response(
        survey_version_id=version.id,
        language="nl",
        primary_reason=reason,
        started_at=when,
        submitted_at=when,
    )
    if text is not None:
        response.answers.append(
            Answer(
                question_key="keep_you",
                text=text,
                sentiment_score=score,
                sentiment="negative" if score < 0 else "positive",
            )
        )
    db.session.add(response)
    db.session.flush()
    # Counted as a submission is, in the dashboard's totals and facts.
    totals.add_response(db.session.connection(), response.id)
    return response


def _answers(db, version, month_start: date, counts: dict[str, int]) -> None:
    day = 0
    for reason, n in counts.items():
        for _ in range(n):
            _answer(db, version, reason, _noon(month_start + timedelta(days=day)))
            day = (day + 1) % 27


def _note(db, customer, author, outcome, when, reasons=(), text=None, score=None):
    note = CallNote(
        customer_id=customer.id,
        author_id=author.id if author else None,
        outcome=outcome,
        text=text,
        sentiment_score=score,
        sentiment=None if score is None else ("negative" if score < 0 else "positive"),
        created_at=when,
    )
    note.reasons = [CallNoteReason(reason=r) for r in reasons]
    db.session.add(note)
    return note


@pytest.fixture
def people(create_user):
    return {
        "anna": create_user("staff", name="Anna", email="anna@example.com"),
        "bram": create_user(
            "manager", name="Bram", email="bram@example.com", language="nl"
        ),
        "chris": create_user(
            "staff", name="Chris", email="chris@example.com", language="nl"
        ),
        # No digest for administrators or people who left.
        "admin": create_user("admin", email="admin@example.com"),
        "gone": create_user("staff", email="gone@example.com", active=False),
    }


@pytest.fixture
def period_data(db, version, people, create_customer):
    """September and October answers, calls, win-backs and actions."""
    _answers(db, version, date(2026, 9, 1), SEPTEMBER_ANSWERS)
    # October: the counts of OCTOBER_ANSWERS, four of them with comments.
    counts = dict(OCTOBER_ANSWERS)
    oct_5, oct_6 = _noon(date(2026, 10, 5)), _noon(date(2026, 10, 6))
    _answer(db, version, "service", oct_5, "Niemand belde ooit terug, één ramp.", -0.9)
    _answer(db, version, "service", oct_6, "De monteur was wél vriendelijk.", 0.7)
    _answer(db, version, "price", oct_5, "Veel te duur: €40 per maand.", -0.6)
    _answer(db, version, "brand", oct_6, "Prima merk, maar de ander is hipper.", 0.2)
    counts["service"] -= 2
    counts["price"] -= 1
    counts["brand"] -= 1
    _answers(db, version, date(2026, 10, 1), counts)

    anna, bram = people["anna"], people["bram"]
    c = [create_customer() for _ in range(8)]
    oct_10, oct_20 = _noon(date(2026, 10, 10)), _noon(date(2026, 10, 20))
    _note(db, c[0], anna, CallOutcome.REACHED, oct_10, ["service"],
          "Wachtte drie weken op een reactie van de helpdesk.", -0.8)  # fmt: skip
    _note(db, c[1], anna, CallOutcome.REACHED, oct_10, ["service", "price"])
    _note(db, c[2], anna, CallOutcome.NO_ANSWER, oct_20)
    _note(db, c[3], anna, CallOutcome.WILL_RETURN, oct_20, ["price"],
          "Komt graag terug als de korting blijft.", 0.6)  # fmt: skip
    _note(db, c[4], bram, CallOutcome.VOICEMAIL, oct_20)
    _note(db, c[5], bram, CallOutcome.REACHED, oct_20, ["quality"])
    # Not in October.
    _note(db, c[6], anna, CallOutcome.REACHED, _noon(date(2026, 9, 20)), ["brand"])

    db.session.add_all(
        [
            WinBack(
                customer_id=c[3].id,
                returned_on=date(2026, 10, 25),
                via="call",
                revenue=Decimal("49.50"),
            ),  # fmt: skip
            WinBack(
                customer_id=c[6].id,
                returned_on=date(2026, 10, 2),
                via="manual",
                revenue=Decimal("30.00"),
            ),  # fmt: skip
            WinBack(
                customer_id=c[7].id,
                returned_on=date(2026, 11, 1),
                via="csv",
                revenue=Decimal("99.00"),
            ),  # fmt: skip
        ]
    )
    db.session.add_all(
        [
            ImprovementAction(
                title="Callback within a day",
                reason="service",
                owner_id=bram.id,
                started_on=date(2026, 10, 1),
            ),
            # Stopped before October, and started after it: not in the digest.
            ImprovementAction(
                title="Old price test",
                reason="price",
                started_on=date(2026, 6, 1),
                ended_on=date(2026, 8, 31),
            ),
            ImprovementAction(
                title="Next month's plan", reason="brand", started_on=date(2026, 11, 2)
            ),
        ]
    )
    db.session.commit()
    # Written directly, the answers still have to reach the dashboard's daily
    # totals, which an action's effect is counted from.
    totals.rebuild(db.session.connection())
    db.session.commit()


def p_value(x1, n1, x2, n2):
    """The pooled two-proportion z-test, by hand."""
    p1, p2, pooled = x1 / n1, x2 / n2, (x1 + x2) / (n1 + n2)
    z = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return math.erfc(abs(z) / math.sqrt(2))


def test_the_hand_calculation():
    # Service: 3 of 20 in September, 9 of 20 in October.
    assert p_value(3, 20, 9, 20) == pytest.approx(0.0384, abs=1e-4)
    # Price: 10 of 20, then 6 of 20; brand: 7 then 5.
    assert p_value(10, 20, 6, 20) == pytest.approx(0.1967, abs=1e-4)
    assert p_value(7, 20, 5, 20) == pytest.approx(0.4902, abs=1e-4)


def test_content_against_a_hand_count(app, period_data):
    digest = content.build(date(2026, 10, 1), date(2026, 10, 31), "en")
    assert digest.period == OCTOBER and digest.previous == Period.parse("2026-09")
    assert digest.title == "Team digest: October 2026"
    assert (digest.respondents, digest.previous_respondents) == (20, 20)
    rows = {r.reason: r for r in digest.reasons}
    assert [r.reason for r in digest.reasons][:3] == ["service", "price", "brand"]
    service = rows["service"]
    assert (service.count, service.shown) == (9, 20)
    assert (service.previous_count, service.previous_shown) == (3, 20)
    assert service.change == pytest.approx(0.30)
    assert service.p_value == pytest.approx(p_value(3, 20, 9, 20))
    assert service.significant is True
    assert service.change_text == "+30 pp"
    assert service.significance == "Significant: unlikely to be chance (p = 0.038)."
    price = rows["price"]
    assert price.p_value == pytest.approx(p_value(10, 20, 6, 20))
    assert price.significant is False
    assert price.change_text == "−20 pp"
    assert price.significance == "Not significant: could well be chance (p = 0.20)."
    # Shown to everyone but chosen by nobody in either month: left out.
    assert set(rows) == {"service", "price", "brand"}

    quotes = {group.reason: group for group in digest.survey_quotes}
    assert [q.text for q in quotes["service"].negative] == [
        "Niemand belde ooit terug, één ramp."
    ]
    assert [q.text for q in quotes["service"].positive] == [
        "De monteur was wél vriendelijk."
    ]
    assert quotes["price"].negative[0].date_text == "5 Oct 2026"
    assert [q.text for q in digest.call_negative] == [
        "Wachtte drie weken op een reactie van de helpdesk."
    ]
    (kind,) = digest.call_positive
    assert (kind.author, kind.reasons_text) == ("Anna", "Price")

    anna, bram = digest.calls
    assert anna.name == "Anna" and anna.total == 4
    assert anna.outcomes == {
        "reached": 2,
        "no_answer": 1,
        "voicemail": 0,
        "wrong_number": 0,
        "declined": 0,
        "will_return": 1,
    }
    assert anna.reasons_text == "Service 2, Price 2"
    assert bram.outcomes["voicemail"] == 1 and bram.reasons_text == "Quality 1"
    assert digest.calls_total == 6 and digest.call_totals["reached"] == 3

    assert (digest.win_backs, digest.win_backs_by_call) == (2, 1)
    assert digest.win_back_revenue == Decimal("79.50")
    assert digest.win_backs_text == (
        "Customers won back: 2, of whom 1 after a call; "
        "revenue regained: €79.50 a month."
    )

    (action,) = digest.actions
    assert action.title == "Callback within a day" and action.owner == "Bram"
    # 90 days before 1 October hold September; October is the after window.
    assert (action.before, action.after) == ((3, 20), (9, 20))
    assert action.verdict == (
        "The share naming “Service” rose from 15% to 45%: a rise this large is "
        "unlikely to be chance (p = 0.038)."
    )


def test_revenue_regained_in_another_currency_is_not_summed(app, db, period_data):
    from karn.customers.models import Customer

    # The 30.00 won back on 2 October was 30 US dollars.
    win = db.session.scalars(
        sa.select(WinBack).where(WinBack.returned_on == date(2026, 10, 2))
    ).one()
    db.session.get(Customer, win.customer_id).currency = "USD"
    db.session.commit()
    digest = content.build_for(OCTOBER, "en")
    assert (digest.win_backs, digest.win_back_revenue) == (2, Decimal("49.50"))
    assert digest.win_backs_text == (
        "Customers won back: 2, of whom 1 after a call; "
        "revenue regained: €49.50 a month. "
        "1 customers in other currencies not counted: revenue is summed in EUR only."
    )
    dutch = content.build_for(OCTOBER, "nl").win_backs_text
    assert "1 klanten in andere valuta niet meegeteld" in dutch


def test_content_in_dutch(app, period_data):
    digest = content.build_for(OCTOBER, "nl")
    assert digest.title == "Teamoverzicht: oktober 2026"
    service = digest.reasons[0]
    assert service.change_text == "+30 procentpunt"
    assert (
        service.significance == "Significant: waarschijnlijk geen toeval (p = 0,038)."
    )
    assert digest.reasons[1].significance == (
        "Niet significant: kan goed toeval zijn (p = 0,20)."
    )
    assert digest.calls[0].reasons_text == "Service 2, Prijs 2"
    assert "€\xa079,50 per maand" in digest.win_backs_text
    assert digest.actions[0].verdict == (
        "Het aandeel dat “Service” noemt, steeg van 15% naar 45%: zo'n grote "
        "stijging is waarschijnlijk geen toeval (p = 0,038)."
    )


def test_days_are_counted_in_the_company_time_zone(app, db, version):
    # 00:30 on 1 October in Amsterdam, and 00:30 on 1 November.
    _answer(db, version, "service", datetime(2026, 9, 30, 22, 30, tzinfo=UTC))
    _answer(db, version, "price", datetime(2026, 10, 31, 23, 30, tzinfo=UTC))
    db.session.commit()
    digest = content.build_for(OCTOBER, "en")
    assert [(r.reason, r.count) for r in digest.reasons if r.count] == [("service", 1)]
    november = content.build_for(Period.parse("2026-11"), "en")
    assert [(r.reason, r.count) for r in november.reasons if r.count] == [("price", 1)]
    assert not november.complete


def test_an_empty_period_says_so(app, db):
    digest = content.build_for(OCTOBER, "en")
    assert digest.respondents == 0 and digest.reasons == [] and digest.calls == []
    assert digest.survey_quotes == digest.call_negative == digest.actions == []
    assert digest.calls_text == "No calls were logged in this period."


def _text(html: str) -> str:
    """A page's visible text with tags and surplus white space removed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'")


def test_the_page_in_english(app, client, login, people, period_data):
    login(people["anna"])
    response = client.get("/digest")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = _text(html)
    assert "Team digest: October 2026" in page
    assert "Respondents: 20 (in September 2026: 20)." in page
    assert re.search(
        r"Service 9 45% 15% \+30 pp Significant: unlikely to be chance \(p = 0.038\)",
        page,
    )
    assert "Price 6 30% 50% −20 pp Not significant: could well be chance" in page
    assert "Niemand belde ooit terug, één ramp." in page
    assert "De monteur was wél vriendelijk." in page
    assert "Wachtte drie weken op een reactie van de helpdesk." in page
    assert "Anna 2 1 0 0 0 1 4 Service 2, Price 2" in page
    assert "Bram 1 0 1 0 0 0 2 Quality 1" in page
    assert "Everyone 3 1 1 0 0 1 6" in page
    assert "Customers won back: 2, of whom 1 after a call" in page
    assert "Callback within a day" in page and "Old price test" not in page
    assert "The share naming “Service” rose from 15% to 45%: a rise this large" in page
    assert 'src="data:image/svg+xml;base64,' in html
    assert 'href="/digest.pdf?period=2026-10"' in html
    assert '<a href="/digest"' in html  # the nav link


def test_the_page_in_dutch(app, client, login, people, period_data):
    login(people["bram"])
    page = _text(client.get("/digest").get_data(as_text=True))
    assert "Teamoverzicht: oktober 2026" in page
    assert "Respondenten: 20 (in september 2026: 20)." in page
    assert "+30 procentpunt Significant: waarschijnlijk geen toeval (p = 0,038)" in page
    assert "Gesprekken per medewerker" in page
    assert "Anna 2 1 0 0 0 1 4 Service 2, Prijs 2" in page
    assert "dat “Service” noemt, steeg van 15% naar 45%: zo'n grote stijging" in page
    assert "Teruggewonnen klanten: 2, van wie 1 na een gesprek" in page


def test_the_period_picker(app, client, login, people, period_data):
    login(people["anna"])
    html = client.get("/digest?period=2026-W41").get_data(as_text=True)
    page = _text(html)
    # 5 to 11 October: the comments of the 5th and 6th, against the week before.
    assert "Team digest: Week 41, 2026 (Oct 5 – 11)" in page
    assert "Niemand belde ooit terug" in page
    assert '<option value="2026-W41" selected>' in html
    assert '<option value="2026-10">October 2026</option>' in html
    assert "Wachtte drie weken" in _text(
        client.get("/digest?period=2026-10-10..2026-10-12").get_data(as_text=True)
    )
    wrong = _text(client.get("/digest?period=soon").get_data(as_text=True))
    assert "“soon” is not a period" in wrong
    assert "Team digest: October 2026" in wrong
    assert "has not begun yet" in _text(
        client.get("/digest?period=2027-01").get_data(as_text=True)
    )
    assert client.get("/digest.pdf?period=soon").status_code == 400


def test_weekly_frequency_shows_the_last_week(app, client, login, people):
    app.config["DIGEST_FREQUENCY"] = "weekly"
    login(people["anna"])
    page = _text(client.get("/digest").get_data(as_text=True))
    assert "Team digest: Week 44, 2026 (Oct 26 – Nov 1)" in page
    assert "Nobody answered the survey in this period." in page


# A small reader for the PDFs fpdf2 writes: objects, Flate streams, the fonts'
# ToUnicode maps, and the text shown by Tj in the page contents.
def _objects(data: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    found = {}
    for match in re.finditer(rb"(\d+) 0 obj(.*?)endobj", data, re.S):
        body, stream = match[2], None
        if b"stream" in body:
            head, _, rest = body.partition(b"stream")
            stream = rest.lstrip(b"\r\n").rsplit(b"endstream", 1)[0].rstrip(b"\r\n")
            if b"/FlateDecode" in head:
                stream = zlib.decompress(stream)
            body = head
        found[int(match[1])] = (body, stream)
    return found


def _cmap(text: bytes) -> dict[int, str]:
    mapping = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", text, re.S):
        for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            mapping[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", text, re.S):
        for lo, hi, dst in re.findall(
            rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block
        ):
            for i, code in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                mapping[code] = chr(int(dst, 16) + i)
    return mapping


_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _strings(content: bytes):
    """(font, bytes) for each literal string in a content stream."""
    font, i = None, 0
    while i < len(content):
        if content[i : i + 1] == b"(":
            out, depth, i = bytearray(), 1, i + 1
            while True:
                c = content[i : i + 1]
                if c == b"\\":
                    nxt = content[i + 1 : i + 2]
                    octal = re.match(rb"[0-7]{1,3}", content[i + 1 : i + 4])
                    if octal:
                        out.append(int(octal[0], 8))
                        i += 1 + len(octal[0])
                        continue
                    out += _ESCAPES.get(nxt, nxt)
                    i += 2
                    continue
                depth += c == b"("
                depth -= c == b")"
                if depth == 0:
                    i += 1
                    break
                out += c
                i += 1
            yield font, bytes(out)
        elif match := re.match(rb"/(\w+)\s+[\d.]+\s+Tf", content[i:]):
            font = match[1].decode()
            i += match.end()
        elif content[i : i + 2] == b"ET":
            yield None, b"\n"
            i += 2
        else:
            i += 1


def pdf_text(data: bytes) -> str:
    objects = _objects(data)
    fonts = {}
    for body, _stream in objects.values():
        for name, number in re.findall(rb"/(F\d+) (\d+) 0 R", body):
            unicode_ref = re.search(rb"/ToUnicode (\d+) 0 R", objects[int(number)][0])
            fonts[name.decode()] = _cmap(objects[int(unicode_ref[1])][1])
    text = []
    for body, _stream in objects.values():
        if b"/Type /Page\n" in body or b"/Type /Page>" in body:
            contents = int(re.search(rb"/Contents (\d+) 0 R", body)[1])
            for font, raw in _strings(objects[contents][1]):
                if font is None:
                    text.append("\n")
                    continue
                codes = [
                    int.from_bytes(raw[j : j + 2], "big") for j in range(0, len(raw), 2)
                ]
                text.append("".join(fonts[font].get(code, "?") for code in codes))
    return " ".join("".join(text).split())


def test_the_pdf(app, client, login, people, period_data):
    login(people["anna"])
    response = client.get("/digest.pdf?period=2026-10")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert "digest-2026-10.pdf" in response.headers["Content-Disposition"]
    text = pdf_text(response.data)
    assert "Team digest: October 2026" in text
    assert "Significant: unlikely to be chance (p = 0.038)." in text
    assert "Niemand belde ooit terug, één ramp." in text
    assert "revenue regained: €79.50 a month." in text
    assert "The share naming “Service” rose from 15% to 45%" in text
    assert "Page 1 of" in text
    assert b"/Subtype /Image" in response.data  # the ranking chart

    client.get("/account?lang=nl")
    dutch = pdf_text(client.get("/digest.pdf?period=2026-10").data)
    assert "Teamoverzicht: oktober 2026" in dutch
    assert "teruggewonnen omzet: € 79,50 per maand." in dutch
    assert "Pagina 1 van" in dutch


def test_the_print_stylesheet():
    css = (Path(__file__).parents[1] / "karn" / "static" / "karn.css").read_text()
    blocks = re.findall(r"@media print \{(.*?)\n\}", css, re.S)
    assert len(blocks) == 1
    (block,) = blocks
    assert re.search(r"\.top,[^{]*\bnav\b[^{]*\bform\b[^{]*\{ display: none", block)
    assert "color: #000" in block and "background: #fff" in block
    assert re.search(r"table[^{]*\{[^}]*break-inside: avoid", block)


def _received(smtp_server):
    """The mail the team received (the period's departed customers get their
    survey invitations from the same worker pass)."""
    return {
        m[1][0]: m[2]
        for m in smtp_server.handler.messages
        if not m[1][0].startswith("customer")
    }


def test_the_mail_goes_out_once_in_each_language(
    app, db, people, period_data, smtp_server
):
    Worker(app, "w1").run_once()
    received = _received(smtp_server)
    assert sorted(received) == [
        "anna@example.com",
        "bram@example.com",
        "chris@example.com",
    ]
    anna, bram = received["anna@example.com"], received["bram@example.com"]
    assert anna["Subject"] == "Karn team digest: October 2026"
    assert bram["Subject"] == "Teamoverzicht Karn: oktober 2026"

    text = anna.get_body(("plain",)).get_content()
    assert "Team digest: October 2026" in text
    assert "- Service: 9 (45%); September 2026: 15%; change +30 pp." in text
    assert "Significant: unlikely to be chance (p = 0.038)." in text
    assert '"Niemand belde ooit terug, één ramp." (5 Oct 2026)' in text
    assert (
        "- Anna: Reached 2, No answer 1, Will return 1. "
        "Reasons heard: Service 2, Price 2." in text
    )
    assert "The share naming “Service” rose from 15% to 45%: a rise this large" in text
    assert "http://localhost/digest?period=2026-10" in text
    assert "http://localhost/digest.pdf?period=2026-10" in text
    html = anna.get_body(("html",)).get_content()
    assert "Niemand belde ooit terug, één ramp." in html
    assert 'href="http://localhost/digest.pdf?period=2026-10"' in html
    assert "one-off mail because you were a customer" not in html

    dutch = bram.get_body(("plain",)).get_content()
    assert (
        "- Service: 9 (45%); september 2026: 15%; verandering +30 procentpunt." in dutch
    )
    assert "Significant: waarschijnlijk geen toeval (p = 0,038)." in dutch
    assert "dat “Service” noemt, steeg van 15% naar 45%" in dutch
    assert "lid van het team van Karn" in bram.get_body(("html",)).get_content()

    run = db.session.get(DigestRun, date(2026, 10, 1))
    assert (run.period_end, run.recipients) == (date(2026, 10, 31), 3)

    # The next passes, and the days after, send nothing more.
    Worker(app, "w1").run_once()
    clock.freeze(NOW + timedelta(days=5))
    Worker(app, "w2").run_once()
    assert len(smtp_server.handler.messages) == 3
    assert mailing.send(OCTOBER) is None


def test_two_workers_at_once_send_it_once(app, db, people, period_data, smtp_server):
    errors = []

    def run(name):
        try:
            Worker(app, name).run_once()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    recipients = [m[1][0] for m in smtp_server.handler.messages]
    assert sorted(recipients) == [
        "anna@example.com",
        "bram@example.com",
        "chris@example.com",
    ]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DigestRun)) == 1


def test_a_second_commit_for_the_same_period_is_dropped_quietly(
    app, db, people, monkeypatch
):
    # Another worker records the period between our check and our commit.
    real_get = db.session.get
    monkeypatch.setattr(
        db.session,
        "get",
        lambda model, key: None if model is DigestRun else real_get(model, key),
    )
    db.session.add(DigestRun(period_start=OCTOBER.start, period_end=OCTOBER.end))
    db.session.commit()
    assert mailing.send(OCTOBER) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def test_not_before_the_period_has_ended_in_the_company_time_zone(
    app, db, people, smtp_server
):
    db.session.add(
        DigestRun(period_start=date(2026, 9, 1), period_end=date(2026, 9, 30))
    )
    db.session.commit()
    # 23:30 on 31 October in Amsterdam: October is not over.
    clock.freeze(datetime(2026, 10, 31, 22, 30, tzinfo=UTC))
    Worker(app, "w1").run_once()
    assert smtp_server.handler.messages == []
    # 00:30 on 1 November.
    clock.freeze(datetime(2026, 10, 31, 23, 30, tzinfo=UTC))
    Worker(app, "w1").run_once()
    assert len(smtp_server.handler.messages) == 3


def test_off_sends_nothing(app, db, people, period_data, smtp_server):
    app.config["DIGEST_FREQUENCY"] = "off"
    Worker(app, "w1").run_once()
    assert smtp_server.handler.messages == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DigestRun)) == 0


def test_weekly_mails_the_week_before(app, db, people, smtp_server):
    app.config["DIGEST_FREQUENCY"] = "weekly"
    Worker(app, "w1").run_once()
    subjects = {m[2]["Subject"] for m in smtp_server.handler.messages}
    assert subjects == {
        "Karn team digest: Week 44, 2026 (Oct 26\u2009–\u2009Nov 1)",
        "Teamoverzicht Karn: Week 44, 2026 (26 okt\u2009–\u20091 nov)",
    }
    assert db.session.get(DigestRun, date(2026, 10, 26)).recipients == 3


def test_a_failing_digest_never_stops_the_worker(app, db, people, monkeypatch, caplog):
    def broken(period, lang):
        raise RuntimeError("no digest today")

    monkeypatch.setattr(content, "build_for", broken)
    Worker(app, "w1").run_once()
    assert "digest not sent" in caplog.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DigestRun)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def test_without_smtp_server_the_digest_is_held(app, db, people):
    app.config["MAIL_SERVER"] = None
    assert mailing.send(OCTOBER) == 3
    statuses = db.session.scalars(sa.select(OutboxMessage.status)).all()
    assert statuses == [OutboxStatus.HELD] * 3


def test_the_commands(app, db, runner, people, period_data):
    shown = runner.invoke(
        args=["digest", "show", "--period", "2026-10", "--lang", "nl"]
    )
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("Teamoverzicht Karn: oktober 2026\n")
    assert "Significant: waarschijnlijk geen toeval (p = 0,038)." in shown.output

    sent = runner.invoke(args=["digest", "send", "--period", "2026-10"])
    assert sent.output.strip() == "Digest for 2026-10 queued for 3 recipients."
    again = runner.invoke(args=["digest", "send", "--period", "2026-10"])
    assert "went out before" in again.output
    forced = runner.invoke(args=["digest", "send", "--period", "2026-10", "--force"])
    assert "queued for 3 recipients" in forced.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 6
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DigestRun)) == 1

    latest = runner.invoke(args=["digest", "show"])
    assert "Teamoverzicht Karn: oktober 2026" in latest.output  # nl by default
    wrong = runner.invoke(args=["digest", "send", "--period", "2026-13"])
    assert wrong.exit_code == 2 and "no month 13" in wrong.output


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-10", date(2026, 10, 1), date(2026, 10, 31)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
        ("2026-W43", date(2026, 10, 19), date(2026, 10, 25)),
        ("2026-w01", date(2025, 12, 29), date(2026, 1, 4)),
        ("2026-W53", date(2026, 12, 28), date(2027, 1, 3)),
    ],
)
def test_periods(text, start, end):
    period = Period.parse(text)
    assert (period.start, period.end) == (start, end)
    assert Period.parse(period.key) == period
    assert period.previous().end == start - timedelta(days=1)


def test_period_edges():
    assert Period.parse("2026-01").previous().key == "2025-12"
    assert Period.parse("2026-W01").previous().key == "2025-W52"
    assert Period.latest_complete(date(2026, 11, 1), "monthly").key == "2026-10"
    assert Period.latest_complete(date(2026, 11, 2), "weekly").key == "2026-W44"
    days = Period.from_days(date(2026, 10, 10), date(2026, 10, 12))
    assert days.previous() == Period.from_days(date(2026, 10, 7), date(2026, 10, 9))
    for bad in ("2026-00", "2025-W53", "october", ""):
        with pytest.raises(ValueError):
            Period.parse(bad)
