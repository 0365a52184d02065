"""Working the call list: pages of 50, overdue tasks first and marked, revenue
to prioritise by, calling hours for tasks Karn adds itself, and a task that
shows each survey question with its answer."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from karn import clock, settings
from karn.accounts.models import AuditEntry
from karn.callbacks import hours, operations
from karn.callbacks.models import SOURCE_PRIORITY, CallTask
from karn.customers.models import Customer
from karn.enums import CallTaskSource, InvitationStatus, Sentiment
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Answer, Invitation
from tests.conftest import PASSWORD, csrf_token

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# A Tuesday, 03:20 at night in Amsterdam.
NIGHT = datetime(2026, 12, 8, 3, 20, tzinfo=AMSTERDAM)


@pytest.fixture
def frozen():
    """Pin the clock: frozen(moment); it runs again after the test."""
    yield clock.freeze
    clock.freeze(None)


def _local(moment: datetime) -> datetime:
    return moment.astimezone(AMSTERDAM)


def _task(db, customer, source=CallTaskSource.REQUESTED, **fields):
    task = CallTask(
        customer=customer,
        source=source,
        priority=SOURCE_PRIORITY[source],
        phone=customer.phone,
        **fields,
    )
    db.session.add(task)
    db.session.commit()
    return task


def _names(html: str) -> list[str]:
    return re.findall(r'href="/calls/\d+">([^<]+)</a>', html)


def _rows(html: str) -> list[str]:
    return re.findall(r"<tr class=\"[^\"]*\">(.*?)</tr>", html, re.S)


def test_calling_hours_move_a_moment_to_the_next_calling_slot(app, db):
    tuesday_night = NIGHT
    assert _local(hours.next_slot(tuesday_night)) == NIGHT.replace(hour=9, minute=0)
    at_work = NIGHT.replace(hour=11)
    assert hours.next_slot(at_work) == at_work
    friday_evening = datetime(2026, 12, 11, 17, 30, tzinfo=AMSTERDAM)
    monday = datetime(2026, 12, 14, 9, 0, tzinfo=AMSTERDAM)
    assert hours.next_slot(friday_evening) == monday
    assert hours.next_slot(friday_evening + timedelta(days=1)) == monday
    # Saved on the page, new hours and days apply at once.
    settings.save(
        {"CALL_HOURS_START": "08:00", "CALL_DAYS": "1,2,3,4,5,6"}, user_id=None
    )
    saturday = datetime(2026, 12, 12, 8, 0, tzinfo=AMSTERDAM)
    assert hours.next_slot(friday_evening) == saturday


def test_tasks_the_worker_adds_at_night_are_due_when_staff_call(
    app, db, create_customer, frozen
):
    frozen(NIGHT)
    survey, _ = ensure_default_survey()
    rich = create_customer(phone="0611", monthly_revenue=Decimal("250"))
    db.session.add(
        Invitation(
            customer=rich,
            survey=survey,
            status=InvitationStatus.EXPIRED,
            scheduled_for=clock.now() - timedelta(days=30),
        )
    )
    db.session.commit()
    assert operations.queue_silent_high_value() == 1
    db.session.commit()
    task = db.session.scalars(sa.select(CallTask)).one()
    assert _local(task.due_at) == NIGHT.replace(hour=9, minute=0)


def test_a_call_me_request_sent_at_night_is_due_in_the_morning(
    client, db, create_customer, frozen
):
    from karn.surveys import delivery, links

    customer = create_customer(name="Nachtbraker")
    survey, _ = ensure_default_survey()
    frozen(NIGHT.replace(hour=10))
    db.session.add(
        Invitation(customer=customer, survey=survey, scheduled_for=clock.now())
    )
    db.session.commit()
    delivery.run_due()
    invitation = db.session.scalars(sa.select(Invitation)).one()
    frozen(NIGHT + timedelta(days=1))  # Wednesday, 03:20
    link = f"/s/{links.invitation_token(invitation.id)}"
    response = client.post(
        link,
        data={
            "csrf_token": csrf_token(client, link),
            "q_main_reason": "service",
            "q_ratings__service": "2",
            "q_ratings__quality": "3",
            "q_ratings__value": "3",
            "q_come_back": "3",
            "q_callback": "yes",
            "q_callback_phone__phone": "06 12345678",
        },
    )
    assert response.status_code == 302
    task = db.session.scalars(sa.select(CallTask)).one()
    assert _local(task.due_at) == (NIGHT + timedelta(days=1)).replace(hour=9, minute=0)


def test_the_list_shows_fifty_tasks_a_page_with_links_between_pages(
    client, db, create_user, login
):
    login(create_user("staff", name="Sanne"))
    now = clock.now()
    customers = [
        Customer(
            external_id=f"P{n:04d}",
            name=f"Klant {n:03d}",
            source="manual",
            departed_at=now,
            monthly_revenue=Decimal(1000 - n),
        )
        for n in range(120)
    ]
    db.session.add_all(customers)
    db.session.flush()
    db.session.add_all(
        CallTask(customer=c, source=CallTaskSource.SELECTION, due_at=now)
        for c in customers
    )
    db.session.commit()

    first = client.get("/calls/").get_data(as_text=True)
    assert len(_names(first)) == 50
    assert _names(first)[:2] == ["Klant 000", "Klant 001"]
    assert "120 tasks to call" in first
    assert "Tasks 1–50 of 120" in first
    assert 'href="/calls/?scope=all&amp;page=2"' in first
    assert "Previous page" not in first
    last = client.get("/calls/?scope=all&page=3").get_data(as_text=True)
    assert _names(last) == [f"Klant {n:03d}" for n in range(100, 120)]
    assert "Tasks 101–120 of 120" in last
    assert "Next page" not in last
    # A page past the end shows the last one.
    assert _names(client.get("/calls/?page=99").get_data(as_text=True)) == _names(last)


def test_overdue_tasks_come_first_marked_with_how_late_then_by_revenue(
    client, db, create_user, login, create_customer, frozen
):
    frozen(datetime(2026, 12, 9, 14, 0, tzinfo=AMSTERDAM))  # Wednesday afternoon
    user = create_user("staff", name="Sanne", language="nl")
    login(user)
    now = clock.now()
    for name, due, revenue, currency in (
        ("Later rijk", now + timedelta(days=1), "1000", None),
        ("Vandaag yen", now - timedelta(hours=2), "90000", "JPY"),
        ("Vandaag klein", now - timedelta(hours=1), "80", None),
        ("Vandaag groot", now - timedelta(hours=3), "500", None),
        ("Gisteren", now - timedelta(days=1), None, None),
        ("Drie dagen", now - timedelta(days=3), "10", None),
    ):
        customer = create_customer(
            name=name,
            monthly_revenue=Decimal(revenue) if revenue else None,
            currency=currency,
        )
        _task(db, customer, due_at=due)

    page = client.get("/calls/").get_data(as_text=True)
    assert _names(page) == [
        "Drie dagen",
        "Gisteren",
        "Vandaag groot",
        "Vandaag klein",
        "Vandaag yen",
        "Later rijk",
    ]
    rows = _rows(page)
    assert "3 dagen te laat" in rows[0]
    assert "1 dag te laat" in rows[1]
    assert "te laat" not in rows[2]
    assert "€\xa0500" in rows[2]
    assert "¥" in rows[4] and "90.000" in rows[4]
    assert "later" in rows[5]
    assert "2 te laat" in page  # the summary above the list
    assert "maandag–vrijdag" in page.lower()

    english = create_user("staff", language="en")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    login(english)
    page = client.get("/calls/").get_data(as_text=True)
    assert "3 days overdue" in _rows(page)[0]
    assert "Monday–Friday" in page
    # The task itself says so too.
    first = re.search(r'href="(/calls/\d+)">Drie dagen<', page).group(1)
    assert "3 days overdue" in client.get(first).get_data(as_text=True)


def test_an_administrator_sets_the_calling_hours(
    client, db, create_user, login, create_customer, frozen
):
    admin = create_user("admin")
    login(admin)
    page = client.get("/calls/hours").get_data(as_text=True)
    assert 'value="09:00"' in page and 'value="17:00"' in page
    token = csrf_token(client, "/calls/hours")
    wrong = client.post(
        "/calls/hours",
        data={"csrf_token": token, "start": "16:00", "end": "08:30", "days": ["1"]},
    )
    assert wrong.status_code == 422
    assert "The end lies before the start." in wrong.get_data(as_text=True)
    response = client.post(
        "/calls/hours",
        data={
            "csrf_token": token,
            "start": "08:30",
            "end": "16:00",
            "days": ["1", "2", "3", "4"],
        },
    )
    assert response.status_code == 302
    entry = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "settings.calling_hours")
    ).one()
    assert entry.details["CALL_DAYS"] == "1,2,3,4"
    _task(db, create_customer(name="Iemand"), due_at=clock.now())
    assert "08:30–16:00, Monday–Thursday" in client.get("/calls/").get_data(
        as_text=True
    )
    # Thursday after four: a task added now is due on Monday at half past eight.
    frozen(datetime(2026, 12, 10, 16, 30, tzinfo=AMSTERDAM))
    task, _new = operations.add_task(create_customer(), CallTaskSource.HIGH_VALUE, None)
    assert _local(task.due_at) == datetime(2026, 12, 14, 8, 30, tzinfo=AMSTERDAM)
    # The invitation schedule page, on the same settings table, still works.
    assert client.get("/admin/settings").status_code == 200

    staff = create_user("staff")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    login(staff)
    assert client.get("/calls/hours").status_code == 403


def _answered_task(client, db, customer):
    from karn.surveys import delivery, links

    survey, _ = ensure_default_survey()
    db.session.add(
        Invitation(customer=customer, survey=survey, scheduled_for=customer.departed_at)
    )
    db.session.commit()
    delivery.run_due()
    invitation = db.session.scalars(sa.select(Invitation)).one()
    link = f"/s/{links.invitation_token(invitation.id)}"
    client.post(
        link,
        data={
            "csrf_token": csrf_token(client, link),
            "q_main_reason": "price",
            "q_ratings__service": "2",
            "q_ratings__quality": "4",
            "q_ratings__value": "1",
            "q_keep_you": "Veel te duur en de service was slecht, erg teleurgesteld.",
            "q_come_back": "3",
            "q_callback": "yes",
            "q_callback_phone__phone": "06 12345678",
            "q_callback_phone__time": "na 17:00",
        },
    )
    return db.session.scalars(sa.select(CallTask)).one()


def test_a_task_shows_each_question_with_its_answer_in_the_readers_language(
    client, db, create_user, login, create_customer, frozen
):
    frozen(datetime(2026, 12, 9, 10, 0, tzinfo=UTC))
    customer = create_customer(name="Marieke", departed_at=clock.now())
    task = _answered_task(client, db, customer)
    text = db.session.scalars(
        sa.select(Answer).where(Answer.question_key == "keep_you")
    ).one()
    text.sentiment = Sentiment.NEGATIVE
    db.session.commit()
    login(create_user("staff", language="nl"))
    page = client.get(f"/calls/{task.id}").get_data(as_text=True)
    answers = page[page.index('class="answers"') :]
    assert re.search(
        r"<dt>Wat hadden wij kunnen doen om u als klant te houden\?</dt>\s*"
        r"<dd>Veel te duur",
        answers,
    )
    assert re.search(r"<dd>Service: 2/5, Kwaliteit: 4/5", answers)
    assert re.search(r"<dt>[^<]*weer klant[^<]*</dt>\s*<dd>3/10", answers)
    assert re.search(r"<dt>Mogen we u bellen[^<]*</dt>\s*<dd>Ja", answers)
    assert "06 12345678 · na 17:00" in answers
    assert '<span class="tag">negatief</span>' in answers
    assert "negative" not in answers
    assert "What could we have done" not in page
    # The customer's own page shows them the same way.
    shown = client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert re.search(
        r"<dt>Wat hadden wij kunnen doen om u als klant te houden\?</dt>\s*"
        r"<dd>Veel te duur",
        shown,
    )
    assert re.search(r"<dd>Service: 2/5, Kwaliteit: 4/5", shown)

    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    login(create_user("staff", language="en"))
    page = client.get(f"/calls/{task.id}").get_data(as_text=True)
    assert re.search(
        r"<dt>What could we have done to keep you\?</dt>\s*<dd>Veel te duur", page
    )
    assert re.search(r"<dt>May we call you[^<]*</dt>\s*<dd>Yes", page)
    assert '<span class="tag">negative</span>' in page


def test_staff_land_on_their_call_list_and_managers_on_the_overview(
    client, create_user, login
):
    staff = create_user("staff")
    response = login(staff)
    assert response.headers["Location"].endswith("/calls/")
    # Signed in already: the login page sends them there too.
    assert client.get("/login").headers["Location"].endswith("/calls/")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    response = login(create_user("manager"))
    assert not response.headers["Location"].endswith("/calls/")
    # A page asked for before signing in still wins.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    token = csrf_token(client, "/login")
    response = client.post(
        "/login?next=/customers/",
        data={"email": staff.email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"].endswith("/customers/")
