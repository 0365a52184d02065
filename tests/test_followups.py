"""Follow-up mails by reason, end to end: a real SMTP server, a set clock.

A follow-up goes out once, after its delay, in the respondent's language with
their name and unsubscribe headers, outside the quiet hours; never to someone
who may not be mailed; one in five held back at random, and recorded.
"""

import math
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.callbacks.models import WinBack
from karn.customers.models import Customer, Suppression
from karn.customers.operations import upsert_departures
from karn.enums import ExperimentGroup, Source
from karn.experiments import operations as experiments
from karn.experiments.models import Assignment
from karn.followups import scheduling
from karn.followups.models import FollowUp
from karn.privacy.erasure import erase_customer
from karn.privacy.export import export_person
from karn.surveys import delivery, links
from karn.surveys.default_survey import CONSENT_KEY
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Answer, Invitation, OutboxMessage, Response
from karn.worker import Worker
from tests.conftest import csrf_token

# A Monday, 11:00 in Amsterdam: outside the quiet hours.
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

TEXTS = {
    "subject_nl": "{name}, we hebben iets voor u",
    "body_nl": "Beste {name},\n\nU vond ons te duur. Dat hebben we gehoord.",
    "offer_nl": "Drie maanden half geld",
    "subject_en": "{name}, something for you",
    "body_en": "Dear {name},\n\nYou found us too expensive. We listened.",
    "offer_en": "Three months at half price",
}


@pytest.fixture
def app_settings(mail_settings):
    return {**mail_settings, "BASE_URL": "https://karn.example.nl"}


@pytest.fixture
def client(app):
    """The test client over https, as Karn is served here (cookies are Secure)."""
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    client.environ_base["HTTP_REFERER"] = "https://localhost/"
    return client


@pytest.fixture(autouse=True)
def _clock():
    clock.freeze(START)
    yield
    clock.freeze(None)


@pytest.fixture
def survey(db):
    survey, _ = ensure_default_survey()
    db.session.commit()
    return survey


class _Fixed:
    """A draw that always treats (0.1 < 0.8), for tests about the mail."""

    def __init__(self, value: float):
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.fixture
def treated(monkeypatch):
    monkeypatch.setattr(experiments, "_random", _Fixed(0.1))


def received(smtp_server):
    return [m for m in (msg for _, _, msg in smtp_server.handler.messages)]


def follow_ups_received(smtp_server):
    return [
        m
        for m in received(smtp_server)
        if "something for you" in m["Subject"] or "iets voor u" in m["Subject"]
    ]


def switch_on(db, reason="price", delay=7, **texts):
    """A follow-up switched on now, as the page does."""
    follow_up = FollowUp(reason=reason, delay_days=delay, **{**TEXTS, **texts})
    db.session.add(follow_up)
    follow_up.active = True
    follow_up.active_since = follow_up.scanned_at = clock.now()
    follow_up.scanned_id = 0
    scheduling.ensure_experiment(follow_up)
    db.session.commit()
    return follow_up


def customer(db, n, language="nl", **fields) -> Customer:
    values = {
        "external_id": f"F{n:05d}",
        "email": f"person{n}@example.nl",
        "name": f"Person {n}",
        "departed_at": clock.now() - timedelta(days=3),
        "source": "manual",
        "language": language,
        **fields,
    }
    person = Customer(**values)
    db.session.add(person)
    db.session.commit()
    return person


def answered(db, survey, person, reason="price", consent="yes", at=None, version=None):
    """A submitted response of this person with this main reason."""
    version = version or survey.versions[-1]
    response = Response(
        customer_id=person.id,
        survey_version_id=version.id,
        language=person.language,
        primary_reason=reason,
        started_at=at or clock.now(),
        submitted_at=at or clock.now(),
    )
    db.session.add(response)
    db.session.flush()
    if consent is not None:
        db.session.add(
            Answer(response_id=response.id, question_key=CONSENT_KEY, value=consent)
        )
    db.session.commit()
    return response


def worker_pass(app, when):
    clock.freeze(when)
    worker = Worker(app, "test-worker", once=True)
    worker.follow_up_job(app)
    return worker.mail_job(app)


def follow_up_mails(db, customer_id=None):
    query = sa.select(OutboxMessage).where(OutboxMessage.kind == "follow_up")
    if customer_id is not None:
        query = query.where(OutboxMessage.customer_id == customer_id)
    db.session.expire_all()
    return db.session.scalars(query).all()


def login_manager(create_user, login, language="en"):
    user = create_user("manager", language=language)
    login(user)
    return user


# --- the whole way -------------------------------------------------------------


def test_written_on_the_page_answered_in_the_survey_mailed_once_after_the_delay(
    app, db, client, survey, smtp_server, create_user, login, treated
):
    login_manager(create_user, login)
    page = "/follow-ups/price"
    saved = client.post(
        page,
        data={
            "csrf_token": csrf_token(client, page),
            "active": "y",
            "delay_days": "7",
            **TEXTS,
        },
    )
    assert saved.status_code == 302
    upsert_departures(
        [
            (
                {
                    "external_id": "E1",
                    "email": "emma@example.com",
                    "name": "Emma Brown",
                    "language": "en",
                    "departed_at": clock.now() - timedelta(days=3),
                },
                {},
            )
        ],
        Source.API,
    )
    db.session.commit()
    delivery.run_due()
    invitation = db.session.scalars(sa.select(Invitation)).one()
    link = f"/s/{links.invitation_token(invitation.id)}"
    answer = {
        "q_main_reason": "price",
        "q_ratings__service": "2",
        "q_ratings__quality": "4",
        "q_ratings__value": "3",
        "q_come_back": "5",
        "q_callback": "no",
        "q_contact_consent": "yes",
    }
    client.post(link, data={**answer, "csrf_token": csrf_token(client, link)})
    assert db.session.scalar(sa.select(Response.submitted_at)) is not None

    worker_pass(app, START + timedelta(days=6, hours=23))
    assert follow_ups_received(smtp_server) == []
    worker_pass(app, START + timedelta(days=7, hours=1))
    worker_pass(app, START + timedelta(days=7, hours=2))
    worker_pass(app, START + timedelta(days=20))
    (mail,) = follow_ups_received(smtp_server)
    assert mail["To"] == "emma@example.com"
    assert mail["Subject"] == "Emma Brown, something for you"
    text = mail.get_body(("plain",)).get_content()
    assert "Dear Emma Brown," in text and "Three months at half price" in text
    assert "Beste" not in text
    html = mail.get_body(("html",)).get_content()
    assert "Dear Emma Brown," in html and "Three months at half price" in html
    assert mail["List-Unsubscribe"].startswith("<https://karn.example.nl/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.search(r"https://karn\.example\.nl(/\S+)", text.split("--")[-1])
    assert client.get(unsubscribe.group(1)).status_code == 200


def test_in_the_respondents_language_with_their_name(
    app, db, survey, smtp_server, treated
):
    switch_on(db)
    dutch = customer(db, 1, language="nl", name="Jan de Boer")
    english = customer(db, 2, language="en", name="Emma Brown")
    nameless = customer(db, 3, language="nl", name=None)
    for person in (dutch, english, nameless):
        answered(db, survey, person)
    worker_pass(app, START + timedelta(days=7, minutes=1))
    mails = {m["To"]: m for m in follow_ups_received(smtp_server)}
    assert (
        mails["person1@example.nl"]["Subject"] == "Jan de Boer, we hebben iets voor u"
    )
    assert (
        "Beste Jan de Boer,"
        in mails["person1@example.nl"].get_body(("plain",)).get_content()
    )
    assert mails["person2@example.nl"]["Subject"] == "Emma Brown, something for you"
    assert (
        "Beste klant," in mails["person3@example.nl"].get_body(("plain",)).get_content()
    )


def test_a_name_with_markup_is_shown_as_text(app, db, survey, treated):
    switch_on(db)
    person = customer(db, 1, name="<b>Eve</b> & co")
    answered(db, survey, person)
    clock.freeze(START + timedelta(days=8))
    scheduling.schedule_due()
    (mail,) = follow_up_mails(db)
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; co" in mail.body_html
    assert "<b>Eve</b>" not in mail.body_html
    assert "Beste <b>Eve</b> & co," in mail.body_text


def test_quiet_hours_hold_the_follow_up_until_morning(
    app, db, survey, smtp_server, treated
):
    switch_on(db)
    person = customer(db, 1)
    # Answered at 22:30 in Amsterdam: due seven days later, in the quiet hours.
    answered(db, survey, person, at=START + timedelta(hours=11, minutes=30))
    late = START + timedelta(days=7, hours=11, minutes=31)
    worker_pass(app, late)
    (message,) = follow_up_mails(db)
    assert message.due_at == datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # 08:00 local
    assert follow_ups_received(smtp_server) == []
    worker_pass(app, datetime(2026, 3, 10, 6, 59, tzinfo=UTC))
    assert follow_ups_received(smtp_server) == []
    worker_pass(app, datetime(2026, 3, 10, 7, 0, tzinfo=UTC))
    assert len(follow_ups_received(smtp_server)) == 1


# --- who never gets one --------------------------------------------------------


def test_never_to_someone_who_may_not_be_mailed(app, db, survey, smtp_server, treated):
    from karn.surveys import default_survey, editing

    switch_on(db)
    people = {
        name: customer(db, i)
        for i, name in enumerate(
            [
                "ok",
                "unsubscribed",
                "bounced",
                "suppressed",
                "erased",
                "won_back",
                "said_no",
                "not_asked",
                "no_answer",
                "recent",
                "other_reason",
            ]
        )
    }
    for name, person in people.items():
        if name == "not_asked":
            old = editing.publish(survey, default_survey.first_edition())
            db.session.commit()
            answered(db, survey, person, consent=None, version=old)
        elif name == "said_no":
            answered(db, survey, person, consent="no")
        elif name == "no_answer":
            answered(db, survey, person, consent=None)
        elif name == "other_reason":
            answered(db, survey, person, reason="service")
        else:
            answered(db, survey, person)
    people["unsubscribed"].unsubscribed_at = clock.now()
    people["bounced"].bounced_at = clock.now()
    db.session.add(
        Suppression(
            email_hash=delivery.email_hash(people["suppressed"].email),
            email=people["suppressed"].email,
            reason="complaint",
        )
    )
    db.session.add(
        WinBack(
            customer_id=people["won_back"].id, returned_on=START.date(), via="manual"
        )
    )
    db.session.add(
        OutboxMessage(
            kind="campaign",
            customer_id=people["recent"].id,
            to_address=people["recent"].email,
            language="nl",
            message_id="<recent@karn.example>",
            status="sent",
            created_at=START - timedelta(days=20),
        )
    )
    db.session.commit()
    erase_customer(db.session.get(Customer, people["erased"].id))
    db.session.commit()
    # A response whose person is unknown (the public link) gets nothing either.
    answered_anonymously = Response(
        customer_id=None,
        survey_version_id=survey.versions[-1].id,
        language="nl",
        primary_reason="price",
        submitted_at=clock.now(),
        channel="anonymous",
    )
    db.session.add(answered_anonymously)
    db.session.commit()

    worker_pass(app, START + timedelta(days=8))
    assert [m["To"] for m in follow_ups_received(smtp_server)] == [people["ok"].email]
    assigned = set(db.session.scalars(sa.select(Assignment.customer_id)))
    assert assigned == {people["ok"].id}


def test_not_again_within_the_contact_minimum(app, db, survey, smtp_server, treated):
    app.config["CONTACT_MIN_DAYS"] = 30
    switch_on(db, reason="price")
    switch_on(db, reason="service", delay=1)
    person = customer(db, 1)
    answered(db, survey, person, reason="price")
    worker_pass(app, START + timedelta(days=8))
    assert len(follow_ups_received(smtp_server)) == 1
    # Twenty days later they answer again, for another reason.
    answered(db, survey, person, reason="service", at=START + timedelta(days=28))
    worker_pass(app, START + timedelta(days=30))
    assert len(follow_up_mails(db, person.id)) == 1


def test_only_responses_after_switching_on(app, db, survey, smtp_server, treated):
    before = customer(db, 1)
    answered(db, survey, before, at=START - timedelta(hours=1))
    switch_on(db)
    after = customer(db, 2)
    answered(db, survey, after, at=START + timedelta(hours=1))
    worker_pass(app, START + timedelta(days=8))
    assert [m["To"] for m in follow_ups_received(smtp_server)] == [after.email]


def test_switched_off_nothing_new_is_written(app, db, survey, treated):
    follow_up = switch_on(db)
    answered(db, survey, customer(db, 1))
    follow_up.active = False
    db.session.commit()
    clock.freeze(START + timedelta(days=8))
    scheduling.schedule_due()
    assert follow_up_mails(db) == []


def test_weeks_late_it_is_not_written_any_more(app, db, survey, smtp_server, treated):
    switch_on(db)
    answered(db, survey, customer(db, 1))
    # The worker was stopped for a month: the follow-up is no longer an
    # answer to their survey.
    worker_pass(app, START + timedelta(days=7 + scheduling.LATE_DAYS + 1))
    assert follow_ups_received(smtp_server) == []
    assert db.session.scalar(sa.select(sa.func.count(Assignment.id))) == 0


def test_the_cron_pass_writes_and_sends_follow_ups(
    app, db, survey, smtp_server, runner, treated
):
    switch_on(db)
    answered(db, survey, customer(db, 1))
    clock.freeze(START + timedelta(days=8))
    result = runner.invoke(args=["surveys", "dispatch"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("sent ")
    assert [m["To"] for m in follow_ups_received(smtp_server)] == ["person1@example.nl"]


# --- exactly once ---------------------------------------------------------------


def test_two_workers_at_once_write_each_follow_up_once(app, db, survey, treated):
    switch_on(db)
    people = [customer(db, i) for i in range(60)]
    for person in people:
        answered(db, survey, person)
    clock.freeze(START + timedelta(days=8))
    errors = []

    def run():
        with app.app_context():
            try:
                scheduling.schedule_due()
            except Exception as exc:  # SQLite may refuse the second writer
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    scheduling.schedule_due()  # and once more afterwards
    mails = follow_up_mails(db)
    assert sorted(m.customer_id for m in mails) == sorted(p.id for p in people)
    assert db.session.scalar(sa.select(sa.func.count(Assignment.id))) == 60


def test_a_held_back_person_gets_no_mail_ever(
    app, db, survey, smtp_server, monkeypatch
):
    monkeypatch.setattr(experiments, "_random", _Fixed(0.95))
    switch_on(db)
    person = customer(db, 1)
    answered(db, survey, person)
    for day in (8, 9, 30):
        worker_pass(app, START + timedelta(days=day))
    assert follow_ups_received(smtp_server) == []
    (assignment,) = db.session.scalars(sa.select(Assignment)).all()
    assert assignment.group == ExperimentGroup.HELD_BACK and assignment.draw == 0.95


def test_not_to_someone_held_back_by_a_campaign(app, db, survey, smtp_server, treated):
    """A campaign's control group hears nothing from Karn, follow-ups included."""
    from karn.enums import ExperimentKind
    from karn.experiments.models import Experiment

    switch_on(db)
    person = customer(db, 1)
    answered(db, survey, person)
    campaign = Experiment(
        kind=ExperimentKind.CAMPAIGN, horizon_days=90, treatment_share=0.8
    )
    db.session.add(campaign)
    db.session.flush()
    db.session.add(
        Assignment(
            experiment_id=campaign.id,
            customer_id=person.id,
            group=ExperimentGroup.HELD_BACK,
            draw=0.9,
            assigned_at=START + timedelta(days=2),
            ends_at=START + timedelta(days=92),
        )
    )
    db.session.commit()
    worker_pass(app, START + timedelta(days=8))
    assert follow_ups_received(smtp_server) == []
    assert follow_up_mails(db) == []


def test_the_worker_reads_only_the_responses_after_its_cursor(app, db, survey):
    """The pass every minute goes straight to the reason's responses after
    the cursor, in order, by its index, however many responses there are."""
    from sqlalchemy import event

    if db.engine.dialect.name != "sqlite":
        pytest.skip("the query plan is read from SQLite")
    follow_up = switch_on(db)
    seen = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        if "FROM responses" in statement and "ORDER BY" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        scheduling.due_responses(follow_up, START + timedelta(days=8))
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    [(statement, parameters)] = seen
    plan = " ".join(
        row[-1]
        for row in db.session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, parameters
        )
    )
    assert "USING INDEX ix_responses_reason_submitted (primary_reason=? AND" in plan
    assert "TEMP B-TREE" not in plan


# --- the control group -----------------------------------------------------------


def test_the_control_group_is_random_and_recorded(app, db, survey):
    follow_up = switch_on(db)
    n = 2000
    version = survey.versions[-1].id
    db.session.execute(
        sa.insert(Customer),
        [
            {
                "external_id": f"R{i:05d}",
                "email": f"r{i}@example.nl",
                "name": f"R {i}",
                "departed_at": START - timedelta(days=3),
                "source": "manual",
                "language": "nl",
                "status": "departed",
            }
            for i in range(n)
        ],
    )
    ids = db.session.scalars(sa.select(Customer.id).order_by(Customer.id)).all()
    response_ids = db.session.scalars(
        sa.insert(Response).returning(Response.id),
        [
            {
                "customer_id": cid,
                "survey_version_id": version,
                "language": "nl",
                "primary_reason": "price",
                "started_at": START,
                "submitted_at": START + timedelta(seconds=i),
                "channel": "invitation",
            }
            for i, cid in enumerate(ids)
        ],
    ).all()
    db.session.execute(
        sa.insert(Answer),
        [
            {"response_id": r, "question_key": CONSENT_KEY, "value": "yes"}
            for r in response_ids
        ],
    )
    db.session.commit()
    clock.freeze(START + timedelta(days=8))
    report = scheduling.schedule_due()
    assignments = db.session.scalars(
        sa.select(Assignment).where(Assignment.experiment_id == follow_up.experiment_id)
    ).all()
    assert len(assignments) == n
    held_back = sum(a.group == ExperimentGroup.HELD_BACK for a in assignments)
    # Within five standard deviations of one in five.
    assert abs(held_back - 0.2 * n) < 5 * math.sqrt(n * 0.2 * 0.8)
    assert all(experiments.group_for(a.draw, 0.8) == a.group for a in assignments)
    mailed = {m.customer_id for m in follow_up_mails(db)}
    assert mailed == {
        a.customer_id for a in assignments if a.group == ExperimentGroup.TREATED
    }
    assert report.mailed == len(mailed) and report.held_back == held_back


# --- the page --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ["Follow-up mails", "Price", "Held back", "Not written", "back 30% "]),
        (
            "nl",
            ["Opvolgmails", "Prijs", "Achtergehouden", "Niet geschreven", "30% van"],
        ),
    ],
)
def test_the_page_in_both_languages(app, client, create_user, login, language, words):
    # The share held back is the setting's, not a fixed one in five.
    app.config["FOLLOW_UP_SHARE"] = 0.7
    login_manager(create_user, login, language=language)
    page = client.get("/follow-ups/").get_data(as_text=True)
    for word in words:
        assert word in page


def test_switching_on_needs_both_languages_and_the_preview_shows_the_mail(
    db, client, create_user, login
):
    login_manager(create_user, login)
    page = "/follow-ups/price"
    refused = client.post(
        page,
        data={
            "csrf_token": csrf_token(client, page),
            "active": "y",
            "delay_days": "7",
            "subject_nl": "Hallo",
            "body_nl": "Beste {name}",
        },
    )
    assert refused.status_code == 200
    assert "Needed in both languages to switch it on." in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(FollowUp)) is None
    client.post(
        page,
        data={
            "csrf_token": csrf_token(client, page),
            "delay_days": "10",
            **TEXTS,
            "body_en": "Dear {name},\n\n<script>alert(1)</script> {{ config }}",
        },
    )
    shown = client.get(page).get_data(as_text=True)
    assert "Dear Anna Smith," in shown and "Beste Anna de Vries," in shown
    assert "&lt;script&gt;" in shown
    html = client.get("/follow-ups/price/preview/en")
    assert html.status_code == 200
    body = html.get_data(as_text=True)
    assert "<script>" not in body and "{{ config }}" in body
    assert "sandbox" in html.headers["Content-Security-Policy"]
    follow_up = db.session.scalar(sa.select(FollowUp))
    assert follow_up.delay_days == 10 and follow_up.active is False


def test_staff_may_not_change_follow_ups(client, create_user, login):
    login(create_user("staff"))
    assert client.get("/follow-ups/").status_code == 403


def test_the_page_counts_mailed_held_back_and_waiting(
    app, db, client, survey, create_user, login, monkeypatch
):
    switch_on(db)
    draws = iter([0.1, 0.9])
    monkeypatch.setattr(
        experiments, "_random", type("R", (), {"random": lambda self: next(draws)})()
    )
    for i in range(2):
        answered(db, survey, customer(db, i))
    clock.freeze(START + timedelta(days=8))
    scheduling.schedule_due()
    answered(db, survey, customer(db, 5))
    login_manager(create_user, login)
    page = client.get("/follow-ups/").get_data(as_text=True)
    row = re.search(r'<tr id="follow-up-price">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r'<td class="num"[^>]*>([^<]*)</td>', row) == ["7", "1", "1", "1"]


def test_contact_minimum_on_the_settings_page(db, client, create_user, login):
    login(create_user("admin", language="nl"))
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "Dagen tussen twee opvolg- of campagnemails aan één persoon" in page
    form = {
        "INVITATION_DELAY_HOURS": "48",
        "REMINDER_DAYS": "5, 12",
        "INVITATION_CUTOFF_DAYS": "90",
        "LINK_VALID_DAYS": "60",
        "QUIET_HOURS_START": "21",
        "QUIET_HOURS_END": "8",
        "TIMEZONE": "Europe/Amsterdam",
        "MAIL_RATE_PER_MINUTE": "0",
        "CONTACT_MIN_DAYS": "45",
    }
    client.post(
        "/admin/settings",
        data={**form, "csrf_token": csrf_token(client, "/admin/settings")},
    )
    from karn.followups import eligibility

    assert eligibility.contact_min_days() == 45


# --- privacy ---------------------------------------------------------------------


def test_access_export_lists_the_follow_up_and_erasure_removes_it(
    app, db, survey, treated
):
    switch_on(db)
    person = customer(db, 1)
    answered(db, survey, person)
    clock.freeze(START + timedelta(days=8))
    scheduling.schedule_due()
    exported = export_person(db.session.get(Customer, person.id))
    (entry,) = exported["follow_ups"]
    assert entry["reason"] == "price" and entry["group"] == "treated"
    assert entry["mail"]["subject"] == "Person 1, we hebben iets voor u"
    assert entry["mail"]["to_address"] == person.email
    erase_customer(db.session.get(Customer, person.id))
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Assignment.id))) == 0
    (mail,) = follow_up_mails(db)
    assert mail.to_address is None and mail.body_text is None
    assert mail.status.value == "cancelled"
    assert export_person(db.session.get(Customer, person.id))["follow_ups"] == []
