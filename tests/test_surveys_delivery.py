"""The invitation schedule end to end: real SMTP server, controllable clock."""

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.customers.operations import upsert_departures
from karn.enums import Source
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Invitation, OutboxMessage
from karn.worker import Worker
from tests.conftest import csrf_token

# A Monday, 11:00 in Amsterdam: outside the quiet hours.
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def app_settings(mail_settings):
    return {**mail_settings, "BASE_URL": "https://karn.example.nl"}


@pytest.fixture
def client(app):
    """The test client over https, as Karn is served here (cookies are Secure)."""
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    # Over https, CSRF protection also checks the Referer, as browsers send it.
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


def depart(db, external_id="C1", email="jan@example.nl", language="nl", **fields):
    result = upsert_departures(
        [
            (
                {
                    "external_id": external_id,
                    "email": email,
                    "language": language,
                    "name": "Jan Jansen",
                    "departed_at": clock.now(),
                    **fields,
                },
                {},
            )
        ],
        Source.API,
    )
    db.session.commit()
    return result.ids[0]


def at(delta: timedelta, app) -> None:
    clock.freeze(START + delta)
    Worker(app, "test-worker").run_once()


def received(smtp_server):
    return [m[2] for m in smtp_server.handler.messages]


def survey_link(message) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(r"https://karn\.example\.nl(/s/[\w-]+)", text).group(1)


def test_invitation_then_two_reminders_with_the_same_link(
    app, db, client, survey, smtp_server
):
    depart(db)
    at(timedelta(hours=47), app)
    assert received(smtp_server) == []
    at(timedelta(hours=49), app)
    (invitation,) = received(smtp_server)
    assert invitation["To"] == "jan@example.nl"
    assert "Waarom" in invitation["Subject"]  # Dutch, the customer's language
    text = invitation.get_body(("plain",)).get_content()
    html = invitation.get_body(("html",)).get_content()
    assert text.startswith("Beste Jan Jansen,")
    link = survey_link(invitation)
    assert f'href="https://karn.example.nl{link}"' in html
    unsubscribe = invitation["List-Unsubscribe"]
    assert "<https://karn.example.nl/u/" in unsubscribe and "<mailto:" in unsubscribe
    assert invitation["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    page = client.get(link)
    assert page.status_code == 200 and 'lang="nl"' in page.get_data(as_text=True)

    at(timedelta(hours=49, days=4), app)
    assert len(received(smtp_server)) == 1
    at(timedelta(hours=50, days=5), app)
    assert len(received(smtp_server)) == 2
    at(timedelta(hours=50, days=12), app)
    first, second = received(smtp_server)[1:]
    assert survey_link(first) == survey_link(second) == link
    at(timedelta(days=30), app)
    assert len(received(smtp_server)) == 3
    db.session.expire_all()
    invitation_row = db.session.scalars(sa.select(Invitation)).one()
    assert invitation_row.status.value == "reminded"
    assert invitation_row.reminders_sent == 2


def answer(client, link, reason="price"):
    token = csrf_token(client, link)
    return client.post(
        link,
        data={
            "csrf_token": token,
            "q_main_reason": reason,
            "q_ratings__service": "2",
            "q_ratings__quality": "4",
            "q_ratings__value": "3",
            "q_come_back": "5",
            "q_callback": "no",
        },
    )


def test_no_reminder_after_an_answer(app, db, client, survey, smtp_server):
    depart(db)
    at(timedelta(hours=49), app)
    link = survey_link(received(smtp_server)[0])
    assert answer(client, link).status_code == 302
    at(timedelta(days=20), app)
    assert len(received(smtp_server)) == 1
    db.session.expire_all()
    assert db.session.scalars(sa.select(Invitation)).one().status.value == "responded"


def test_one_click_unsubscribe_stops_everything_and_survives_reimport(
    app, db, client, survey, smtp_server
):
    depart(db)
    at(timedelta(hours=49), app)
    header = received(smtp_server)[0]["List-Unsubscribe"]
    url = re.search(r"<https://karn\.example\.nl(/u/[^>]+)>", header).group(1)
    # What a mail client sends for RFC 8058 one-click: no session, no CSRF token.
    response = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    at(timedelta(days=20), app)
    assert len(received(smtp_server)) == 1
    db.session.expire_all()
    assert (
        db.session.scalars(sa.select(Invitation)).one().status.value == "unsubscribed"
    )
    # A later departure of the same address is never invited again.
    clock.freeze(START + timedelta(days=40))
    depart(db, external_id="C1-again", email="jan@example.nl")
    at(timedelta(days=45), app)
    assert len(received(smtp_server)) == 1


def test_unsubscribe_link_asks_before_it_acts(app, db, client, survey, smtp_server):
    depart(db, language="en")
    at(timedelta(hours=49), app)
    header = received(smtp_server)[0]["List-Unsubscribe"]
    url = re.search(r"<https://karn\.example\.nl(/u/[^>]+)>", header).group(1)
    page = client.get(url)
    assert "Yes, stop all mail" in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(sa.select(Invitation)).one().status.value == "sent"
    done = client.post(url)
    assert "You are unsubscribed" in done.get_data(as_text=True)


def test_a_bounced_address_gets_no_reminder(app, db, survey, smtp_server):
    from karn.customers.models import Customer

    customer_id = depart(db)
    at(timedelta(hours=49), app)
    db.session.get(Customer, customer_id).bounced_at = clock.now()
    db.session.commit()
    at(timedelta(days=20), app)
    assert len(received(smtp_server)) == 1
    db.session.expire_all()
    assert db.session.scalars(sa.select(Invitation)).one().status.value == "bounced"


def test_quiet_hours_hold_mail_until_morning(app, db, survey, smtp_server):
    # Departed at 20:30 Amsterdam (19:30 UTC); due 48 hours later, in the evening.
    clock.freeze(datetime(2026, 3, 2, 19, 30, tzinfo=UTC))
    depart(db)
    clock.freeze(datetime(2026, 3, 4, 20, 31, tzinfo=UTC))  # 21:31 local
    Worker(app, "w").run_once()
    assert received(smtp_server) == []
    message = db.session.scalars(sa.select(OutboxMessage)).one()
    assert message.due_at == datetime(2026, 3, 5, 7, 0, tzinfo=UTC)  # 08:00 local
    clock.freeze(datetime(2026, 3, 5, 6, 59, tzinfo=UTC))
    Worker(app, "w").run_once()
    assert received(smtp_server) == []
    clock.freeze(datetime(2026, 3, 5, 7, 1, tzinfo=UTC))
    Worker(app, "w").run_once()
    assert len(received(smtp_server)) == 1


def test_links_expire_and_unknown_links_get_a_friendly_page(
    app, db, client, survey, smtp_server
):
    depart(db, language="en")
    at(timedelta(hours=49), app)
    link = survey_link(received(smtp_server)[0])
    unknown = client.get("/s/" + "x" * 43, headers={"Accept-Language": "en"})
    assert unknown.status_code == 404
    assert "This link is not recognised" in unknown.get_data(as_text=True)
    at(timedelta(days=63), app)
    expired = client.get(link)
    assert expired.status_code == 410
    assert "This link has expired" in expired.get_data(as_text=True)


def test_answered_link_shows_thanks_again(app, db, client, survey, smtp_server):
    depart(db, language="en")
    at(timedelta(hours=49), app)
    link = survey_link(received(smtp_server)[0])
    answer(client, link)
    again = app.test_client().get(link)  # a later visit, from the mail
    assert again.status_code == 200
    assert "already reached us" in again.get_data(as_text=True)


def test_two_workers_write_and_send_each_invitation_once(app, db, survey, smtp_server):
    for i in range(40):
        depart(db, external_id=f"C{i}", email=f"p{i}@example.nl")
    clock.freeze(START + timedelta(hours=49))
    errors = []

    def run(name):
        try:
            Worker(app, name).run_once()
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    Worker(app, "w3").run_once()  # whatever one left half-done
    recipients = [m["To"] for m in received(smtp_server)]
    assert sorted(recipients) == sorted(f"p{i}@example.nl" for i in range(40))
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 40


def test_schedule_settings_page_changes_the_delay(
    app, db, client, survey, smtp_server, create_user, login, post_form
):
    login(create_user("admin"))
    post_form(
        "/admin/settings",
        {
            "INVITATION_DELAY_HOURS": "1",
            "REMINDER_DAYS": "3",
            "INVITATION_CUTOFF_DAYS": "90",
            "LINK_VALID_DAYS": "30",
            "QUIET_HOURS_START": "21",
            "QUIET_HOURS_END": "8",
            "TIMEZONE": "Europe/Amsterdam",
            "MAIL_RATE_PER_MINUTE": "0",
        },
    )
    depart(db)
    at(timedelta(hours=2), app)
    assert len(received(smtp_server)) == 1
    at(timedelta(hours=2, days=3), app)
    assert len(received(smtp_server)) == 2
    at(timedelta(days=10), app)
    assert len(received(smtp_server)) == 2


def test_schedule_settings_refuse_nonsense(client, create_user, login, post_form):
    login(create_user("admin"))
    response = post_form(
        "/admin/settings",
        {
            "INVITATION_DELAY_HOURS": "-1",
            "REMINDER_DAYS": "12, 5",
            "INVITATION_CUTOFF_DAYS": "90",
            "LINK_VALID_DAYS": "30",
            "QUIET_HOURS_START": "21",
            "QUIET_HOURS_END": "8",
            "TIMEZONE": "Mars/Olympus",
            "MAIL_RATE_PER_MINUTE": "0",
        },
        headers={"Accept-Language": "en"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Unknown time zone" in html and "increasing" in html


def test_outbox_page_shows_held_mail_with_working_link(
    app, db, client, survey, create_user, login
):
    app.config["MAIL_SERVER"] = None
    depart(db, language="en")
    at(timedelta(hours=49), app)
    message = db.session.scalars(sa.select(OutboxMessage)).one()
    assert message.status.value == "held"
    login(create_user("admin"))
    listing = client.get("/admin/outbox").get_data(as_text=True)
    assert "No mail server is configured" in listing and message.subject in listing
    page = client.get(f"/admin/outbox/{message.id}").get_data(as_text=True)
    link = re.search(r'<a href="https://karn\.example\.nl(/s/[\w-]+)">', page).group(1)
    assert client.get(link).status_code == 200


def test_unsubscribe_by_mail_through_the_mailto_link(app, db, survey, smtp_server):
    from karn.surveys.bounce_processing import process_bounce

    depart(db)
    at(timedelta(hours=49), app)
    header = received(smtp_server)[0]["List-Unsubscribe"]
    subject = re.search(r"subject=([^>]+)>", header).group(1).replace("%20", " ")
    request = (
        "From: jan@example.nl\r\nTo: survey@karn.example\r\n"
        f"Subject: {subject}\r\nMessage-ID: <u1@example.nl>\r\n\r\n"
    ).encode()
    assert process_bounce(request).result == "unsubscribe"
    db.session.commit()
    at(timedelta(days=20), app)
    assert len(received(smtp_server)) == 1
    db.session.expire_all()
    assert (
        db.session.scalars(sa.select(Invitation)).one().status.value == "unsubscribed"
    )
