"""The call list: calling order, logging calls, the three-attempt rule, selections,
win-backs, and phone reasons kept apart from survey answers in the ranking."""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from karn import clock
from karn.accounts.models import AuditEntry
from karn.analysis import report
from karn.analysis.queries import Filters
from karn.callbacks import hours, operations
from karn.callbacks.models import CallNote, CallTask, WinBack
from karn.enums import CallOutcome, CallTaskSource, CallTaskStatus, InvitationStatus
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Invitation
from tests.conftest import csrf_token


@pytest.fixture
def staff(create_user, login):
    user = create_user("staff", name="Sanne", language="en")
    login(user)
    return user


def _task(customer, source, **fields):
    from karn.callbacks.models import SOURCE_PRIORITY
    from karn.extensions import db

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


def _switch_user(client, login, user):
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    login(user)


def _names_in_order(html: str) -> list[str]:
    return re.findall(r'href="/calls/\d+">([^<]+)</a>', html)


def _log(client, task_id, **data):
    url = f"/calls/{task_id}"
    token = csrf_token(client, url)
    page = client.get(url).get_data(as_text=True)
    attempts = re.search(r'name="attempts" type="hidden" value="(\d+)"', page)
    if attempts is None:
        attempts = re.search(r'name="attempts" value="(\d+)"', page)
    form = {"csrf_token": token, "attempts": attempts.group(1), **data}
    return client.post(url, data=form)


def test_requested_calls_come_first_and_my_own_before_everything(
    client, db, staff, create_user, create_customer
):
    now = clock.now()
    other = create_user("staff", name="Piet")
    a = create_customer(name="Selected early", phone="0201")
    b = create_customer(name="Asked to be called", phone="0202")
    c = create_customer(name="High value", phone="0203")
    d = create_customer(name="Mine, added by hand", phone="0204")
    e = create_customer(name="Someone else's", phone="0205")
    f = create_customer(name="Asked later", phone="0206")
    _task(a, CallTaskSource.SELECTION, due_at=now - timedelta(days=9))
    _task(b, CallTaskSource.REQUESTED, due_at=now - timedelta(days=1))
    _task(c, CallTaskSource.HIGH_VALUE, due_at=now - timedelta(days=5))
    _task(d, CallTaskSource.MANUAL, due_at=now, assigned_to_id=staff.id)
    _task(e, CallTaskSource.REQUESTED, due_at=now, assigned_to_id=other.id)
    _task(f, CallTaskSource.REQUESTED, due_at=now + timedelta(hours=1))
    done = _task(create_customer(name="Done already"), CallTaskSource.REQUESTED)
    done.status = CallTaskStatus.DONE
    db.session.commit()

    page = client.get("/calls/").get_data(as_text=True)
    # Mine first; then overdue tasks (due before today), those due now, those
    # due later; without revenue to tell them apart, by source.
    assert _names_in_order(page) == [
        "Mine, added by hand",
        "Asked to be called",
        "High value",
        "Selected early",
        "Someone else&#39;s",
        "Asked later",
    ]
    assert 'href="tel:0202"' in page
    mine = client.get("/calls/?scope=mine").get_data(as_text=True)
    assert _names_in_order(mine) == ["Mine, added by hand"]
    unassigned = client.get("/calls/?scope=unassigned").get_data(as_text=True)
    assert "Mine, added by hand" not in unassigned
    assert "Someone else" not in unassigned


@pytest.fixture
def office_hours():
    """A Tuesday morning in Amsterdam: inside the default calling hours, so a
    call-me task is due at once whatever the time the tests run."""
    clock.freeze(datetime(2026, 12, 8, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam")))
    yield
    clock.freeze(None)


def test_a_call_me_answer_puts_the_respondent_first_with_their_time(
    client, db, staff, create_customer, office_hours
):
    _task(create_customer(name="Selected"), CallTaskSource.SELECTION)
    _answer_survey(
        client,
        db,
        create_customer(name="Wants a call"),
        "service",
        q_callback="yes",
        q_callback_phone__phone="06 12345678",
        q_callback_phone__time="na 17:00",
    )
    page = client.get("/calls/").get_data(as_text=True)
    assert _names_in_order(page)[0] == "Wants a call"
    assert "na 17:00" in page


def test_a_logged_call_keeps_reasons_and_text_tagged_and_audited(
    client, db, staff, create_customer
):
    customer = create_customer(name="Jan", phone="0612345678")
    task = _task(customer, CallTaskSource.REQUESTED)
    page = client.get(f"/calls/{task.id}").get_data(as_text=True)
    assert 'href="tel:0612345678"' in page
    response = _log(
        client,
        task.id,
        outcome="reached",
        reasons=["service", "price"],
        text="De klantenservice reageerde nooit en het werd veel te duur.",
    )
    assert response.status_code == 302
    db.session.expire_all()
    note = db.session.scalars(sa.select(CallNote)).one()
    assert note.outcome == CallOutcome.REACHED
    assert sorted(r.reason.value for r in note.reasons) == ["price", "service"]
    assert note.sentiment is not None and note.sentiment.value == "negative"
    assert note.tag_reason is not None
    assert note.author_id == staff.id
    assert db.session.get(CallTask, task.id).status == CallTaskStatus.DONE
    entry = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "call_note.create")
    ).one()
    assert entry.user_id == staff.id
    assert entry.details["reasons"] == ["price", "service"]
    # The note shows on the customer's page and the task left the list.
    assert "reageerde nooit" in client.get(f"/customers/{customer.id}").get_data(
        as_text=True
    )
    assert "Jan" not in _names_in_order(client.get("/calls/").get_data(as_text=True))


def test_no_answer_reschedules_and_the_third_failed_attempt_closes(
    client, db, staff, create_customer
):
    task = _task(create_customer(name="Nooit thuis", phone="0611"), "requested")
    retry = (clock.now() + timedelta(days=3)).date()
    response = _log(client, task.id, outcome="no_answer", retry_on=retry.isoformat())
    assert response.status_code == 302
    follow = client.get("/calls/").get_data(as_text=True)
    assert "The task comes back on" in follow
    db.session.expire_all()
    task = db.session.get(CallTask, task.id)
    assert task.status == CallTaskStatus.OPEN
    assert task.attempts == 1
    # At the start of calling hours on that day (or the next calling day).
    assert task.due_at == hours.on_day(retry)
    assert task.due_at.astimezone(ZoneInfo("Europe/Amsterdam")).hour == 9
    _log(client, task.id, outcome="voicemail")
    db.session.expire_all()
    assert db.session.get(CallTask, task.id).status == CallTaskStatus.OPEN
    _log(client, task.id, outcome="no_answer")
    db.session.expire_all()
    task = db.session.get(CallTask, task.id)
    assert task.status == CallTaskStatus.CLOSED
    assert task.attempts == 3
    assert len(task.notes) == 3


def test_a_double_clicked_save_logs_one_call(client, db, staff, create_customer):
    task = _task(create_customer(phone="0612"), CallTaskSource.REQUESTED)
    url = f"/calls/{task.id}"
    token = csrf_token(client, url)
    form = {"csrf_token": token, "attempts": "0", "outcome": "no_answer"}
    assert client.post(url, data=form).status_code == 302
    second = client.post(url, data=form, follow_redirects=True)
    assert "already logged" in second.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(CallNote.id))) == 1
    assert db.session.get(CallTask, task.id).attempts == 1


def test_missing_outcome_is_shown_next_to_the_field(client, db, staff, create_customer):
    task = _task(create_customer(phone="0612"), CallTaskSource.REQUESTED)
    response = _log(client, task.id, text="Kort gesproken")
    assert response.status_code == 422
    assert "Choose what happened." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(CallNote.id))) == 0


def test_assign_reschedule_and_close_are_audited(
    client, db, staff, create_user, create_customer, post_form
):
    other = create_user("staff", name="Piet")
    task = _task(create_customer(phone="0612"), CallTaskSource.HIGH_VALUE)
    page = f"/calls/{task.id}"
    post_form(f"/calls/{task.id}/assign", {"assigned_to": str(other.id)}, page=page)
    post_form(f"/calls/{task.id}/reschedule", {"due_on": "2030-01-02"}, page=page)
    db.session.expire_all()
    task = db.session.get(CallTask, task.id)
    assert task.assigned_to_id == other.id
    assert task.due_at.date() == date(2030, 1, 2)
    post_form(f"/calls/{task.id}/close", {}, page=page)
    db.session.expire_all()
    assert db.session.get(CallTask, task.id).status == CallTaskStatus.CLOSED
    actions = db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.target_id == str(task.id))
    ).all()
    assert {"call_task.assign", "call_task.reschedule", "call_task.close"} <= set(
        actions
    )


def test_notes_can_be_corrected_by_their_author_and_the_change_is_audited(
    client, db, staff, create_user, create_customer, post_form, login
):
    task = _task(create_customer(phone="0612"), CallTaskSource.REQUESTED)
    _log(client, task.id, outcome="reached", reasons=["price"], text="Te duur")
    note = db.session.scalars(sa.select(CallNote)).one()
    url = f"/calls/notes/{note.id}/edit"
    response = post_form(
        url,
        {"outcome": "reached", "reasons": ["service"], "text": "Slechte service"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    note = db.session.get(CallNote, note.id)
    assert [r.reason.value for r in note.reasons] == ["service"]
    assert note.text == "Slechte service" and note.updated_at is not None
    entry = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "call_note.edit")
    ).one()
    assert entry.details["reasons_before"] == ["price"]
    assert entry.details["reasons_after"] == ["service"]
    assert "Slechte" not in str(entry.details)
    # Another staff member may not change it.
    _switch_user(client, login, create_user("staff"))
    assert client.get(url).status_code == 403


def test_manual_addition_from_the_customer_page_is_made_once(
    client, db, staff, create_customer, post_form
):
    customer = create_customer(phone="0612")
    page = f"/customers/{customer.id}"
    for _ in range(2):
        response = post_form(
            f"/calls/customers/{customer.id}/add", {"note": "Belde boos"}, page=page
        )
        assert response.status_code == 302
    task = db.session.scalars(sa.select(CallTask)).one()
    assert task.source == CallTaskSource.MANUAL
    assert task.note == "Belde boos"
    # Staff who add someone get the call themselves.
    assert task.assigned_to_id == staff.id


def test_a_managers_selection_samples_the_segment_and_skips_who_is_listed(
    client, db, create_user, login, create_customer, post_form
):
    manager = create_user("manager")
    login(manager)
    for i in range(6):
        create_customer(segment="MKB", phone=f"06{i}")
    create_customer(segment="MKB")  # no phone number
    create_customer(segment="Particulier", phone="0699")
    listed = create_customer(segment="MKB", phone="0688")
    _task(listed, CallTaskSource.REQUESTED)
    response = post_form("/calls/select", {"count": "4", "segment": "MKB"})
    assert response.status_code == 302
    tasks = db.session.scalars(
        sa.select(CallTask).where(CallTask.source == CallTaskSource.SELECTION)
    ).all()
    assert len(tasks) == 4
    assert {t.customer.segment for t in tasks} == {"MKB"}
    assert all(t.customer.phone for t in tasks)
    # Asking for more than remain adds the rest, never a second task.
    post_form("/calls/select", {"count": "10", "segment": "MKB"})
    per_customer = db.session.execute(
        sa.select(CallTask.customer_id, sa.func.count())
        .group_by(CallTask.customer_id)
        .having(sa.func.count() > 1)
    ).all()
    assert per_customer == []
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(
                CallTask.source == CallTaskSource.SELECTION
            )
        )
        == 6
    )
    bad = post_form("/calls/select", {"count": "0", "segment": "MKB"})
    assert bad.status_code == 200
    assert "Choose between 1 and 500 customers." in bad.get_data(as_text=True)


def test_staff_cannot_make_selections(client, staff):
    assert client.get("/calls/select").status_code == 403


def test_silent_high_value_customers_are_queued_once(app, db, create_customer):
    survey, _ = ensure_default_survey()
    now = clock.now()
    rich = create_customer(phone="0611", monthly_revenue=Decimal("250"))
    poor = create_customer(phone="0622", monthly_revenue=Decimal("20"))
    recent = create_customer(phone="0633", monthly_revenue=Decimal("250"))
    answered = create_customer(phone="0644", monthly_revenue=Decimal("500"))
    for customer, status, reminded_days_ago in (
        (rich, InvitationStatus.REMINDED, 10),
        (poor, InvitationStatus.REMINDED, 10),
        (recent, InvitationStatus.REMINDED, 2),
        (answered, InvitationStatus.RESPONDED, 10),
    ):
        db.session.add(
            Invitation(
                customer=customer,
                survey=survey,
                status=status,
                scheduled_for=now - timedelta(days=30),
                sent_at=now - timedelta(days=25),
                reminders_sent=2,
                last_reminded_at=now - timedelta(days=reminded_days_ago),
            )
        )
    db.session.commit()
    assert operations.queue_silent_high_value() == 1
    db.session.commit()
    task = db.session.scalars(sa.select(CallTask)).one()
    assert task.customer_id == rich.id
    assert task.source == CallTaskSource.HIGH_VALUE
    # Done or not, a customer is put on the list this way only once.
    task.status = CallTaskStatus.DONE
    db.session.commit()
    assert operations.queue_silent_high_value() == 0


def test_win_back_from_a_call_shows_per_reason_and_channel(
    client, db, staff, create_user, login, create_customer, post_form
):
    customer = create_customer(
        phone="0612", monthly_revenue=Decimal("80"), segment="MKB", plan="Basis"
    )
    task = _task(customer, CallTaskSource.REQUESTED)
    _log(client, task.id, outcome="will_return", reasons=["price"], text="Komt terug")
    page = f"/calls/{task.id}"
    response = post_form(
        f"/calls/customers/{customer.id}/win-back",
        {
            "returned_on": clock.now().date().isoformat(),
            "revenue": "75,50",
            "task_id": str(task.id),
        },
        page=page,
    )
    assert response.status_code == 302
    win = db.session.scalars(sa.select(WinBack)).one()
    assert win.via == "call" and win.revenue == Decimal("75.50")
    assert win.recorded_by_id == staff.id and win.note_id is not None
    assert db.session.scalar(
        sa.select(AuditEntry.id).where(AuditEntry.action == "win_back.create")
    )
    # A return date before the departure is refused with a message.
    response = post_form(
        f"/calls/customers/{customer.id}/win-back",
        {"returned_on": "2000-01-01", "task_id": str(task.id)},
        page=page,
        follow_redirects=True,
    )
    assert "before the departure" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(sa.select(WinBack)).one().returned_on != date(2000, 1, 1)

    _switch_user(client, login, create_user("manager", language="en"))
    dashboard = client.get("/analysis/").get_data(as_text=True)
    assert "1 customers returned" in dashboard
    section = dashboard[dashboard.index("By the reason they had left for") :]
    assert re.search(r'Price</th><td class="num"[^>]*>1</td>', section)
    channel = section[section.index("call only") :]
    assert re.match(r'call only</th><td class="num">1</td>', channel)
    # Filtered by the customer's attributes.
    for args, shown in (("segment=MKB&plan=Basis", True), ("segment=Thuis", False)):
        page = client.get(f"/analysis/?{args}").get_data(as_text=True)
        assert ("1 customers returned" in page) is shown, args


def _answer_survey(client, db, customer, reason, **answers):
    """Answer the survey through its page, as the ex-customer would."""
    from karn.surveys import delivery, links

    survey, _ = ensure_default_survey()
    db.session.add(
        Invitation(customer=customer, survey=survey, scheduled_for=customer.departed_at)
    )
    db.session.commit()
    delivery.run_due()
    invitation = db.session.scalars(
        sa.select(Invitation).where(Invitation.customer_id == customer.id)
    ).one()
    link = f"/s/{links.invitation_token(invitation.id)}"
    response = client.post(
        link,
        data={
            "csrf_token": csrf_token(client, link),
            "q_main_reason": reason,
            "q_ratings__service": "3",
            "q_ratings__quality": "3",
            "q_ratings__value": "3",
            "q_come_back": "3",
            "q_callback": "no",
            **answers,
        },
    )
    assert response.status_code == 302


def test_phone_reasons_are_a_separate_source_in_the_ranking(
    app, client, db, create_user, create_customer
):
    author = create_user("staff")
    # Two survey answers: both price.
    for _ in range(2):
        _answer_survey(client, db, create_customer(), "price")
    # Three calls where people talked: service twice (once with price), need once;
    # one call nobody answered does not count.
    heard = [["service"], ["service", "price"], ["need"]]
    for reasons in heard:
        task = _task(create_customer(phone="06"), CallTaskSource.SELECTION)
        operations.log_call(task, author, CallOutcome.REACHED, reasons=reasons)
    task = _task(create_customer(phone="06"), CallTaskSource.SELECTION)
    operations.log_call(task, author, CallOutcome.NO_ANSWER, reasons=["quality"])
    db.session.commit()

    with app.test_request_context():
        survey_json = report.ranking_json(Filters())
        phone_json = report.ranking_json(Filters(channel="phone"))
    survey_counts = {r["reason"]: r["count"] for r in survey_json["reasons"]}
    phone_counts = {r["reason"]: r["count"] for r in phone_json["reasons"]}
    assert survey_json["n"] == 2 and survey_counts["price"] == 2
    assert survey_counts.get("service", 0) == 0
    assert phone_json["n"] == 3
    assert phone_counts["service"] == 2
    assert phone_counts["price"] == 1
    assert phone_counts["need"] == 1
    assert phone_counts.get("quality", 0) == 0
    service = next(r for r in phone_json["reasons"] if r["reason"] == "service")
    assert service["share"] == pytest.approx(2 / 3)
    assert phone_json["filters"] == {"channel": "phone"}


def test_a_corrected_tag_on_a_note_survives_an_edit_of_its_text(
    client, db, staff, create_customer, post_form
):
    task = _task(create_customer(phone="0612"), CallTaskSource.REQUESTED)
    _log(client, task.id, outcome="reached", reasons=["price"], text="Veel te duur.")
    note = db.session.scalars(sa.select(CallNote)).one()
    assert note.sentiment.value == "negative"
    page = f"/calls/{task.id}"
    assert f'action="/analysis/tags/note/{note.id}"' in client.get(page).get_data(
        as_text=True
    )
    response = post_form(
        f"/analysis/tags/note/{note.id}",
        {"sentiment": "neutral", "reason": "price", "next": page},
        page=page,
    )
    assert response.status_code == 302
    post_form(
        f"/calls/notes/{note.id}/edit",
        {"outcome": "reached", "reasons": ["price"], "text": "Veel te duur, helaas."},
    )
    db.session.expire_all()
    note = db.session.get(CallNote, note.id)
    assert note.text == "Veel te duur, helaas."
    assert note.sentiment.value == "neutral"
    assert "corrected by Sanne" in client.get(page).get_data(as_text=True)
