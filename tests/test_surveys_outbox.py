"""The outbox and its worker, against a real SMTP server on localhost."""

import json
import os
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.enums import OutboxStatus
from karn.surveys import outbox, sending
from karn.surveys.models import OutboxMessage
from karn.worker import Worker
from tests.conftest import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def app_settings(mail_settings):
    return mail_settings


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.freeze(None)


def put(db, n=1, customer=None, **kw):
    messages = [
        outbox.enqueue(
            kind="test",
            to_address=kw.get("to") or f"person{i}@example.com",
            language="nl",
            subject=f"Bericht {i}",
            body_text=f"Tekst {i}",
            body_html=f"<p>Tekst {i}</p>",
            customer_id=customer.id if customer else None,
        )
        for i in range(n)
    ]
    db.session.commit()
    return messages


def statuses(db):
    db.session.expire_all()
    return sorted(
        (m.to_address, m.status.value)
        for m in db.session.scalars(sa.select(OutboxMessage))
    )


def test_due_messages_are_sent_once_with_their_message_id(app, db, smtp_server):
    messages = put(db, 3)
    report = outbox.dispatch("w1")
    assert report.sent == 3
    received = smtp_server.handler.messages
    assert [m[1] for m in received] == [
        ["person0@example.com"],
        ["person1@example.com"],
        ["person2@example.com"],
    ]
    first = received[0][2]
    assert first["Message-ID"] == messages[0].message_id
    assert first["X-Karn-Message"] == str(messages[0].id)
    assert first.get_body(("plain",)).get_content().strip() == "Tekst 0"
    assert "<p>Tekst 0</p>" in first.get_body(("html",)).get_content()
    assert {s for _, s in statuses(db)} == {"sent"}
    # A second pass finds nothing to send.
    assert outbox.dispatch("w1").sent == 0
    assert len(received) == 3


def test_without_smtp_server_mail_is_held(app, db, smtp_server):
    app.config["MAIL_SERVER"] = None
    put(db, 2)
    assert outbox.dispatch("w1").sent == 0
    assert {s for _, s in statuses(db)} == {"held"}
    assert smtp_server.handler.messages == []


def test_server_down_then_up_loses_and_doubles_nothing(app, db, smtp_server):
    live_port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = free_port()  # nothing listens there
    put(db, 4)
    report = outbox.dispatch("w1")
    assert (report.sent, report.retried, report.deferred) == (0, 0, 4)
    db.session.expire_all()
    waiting = db.session.scalars(sa.select(OutboxMessage)).all()
    # An unreachable server is nobody's fault: no attempt is used up.
    assert all(m.status == OutboxStatus.PENDING and m.attempts == 0 for m in waiting)
    assert all(m.due_at > clock.now() for m in waiting)
    # Not due yet: nothing happens even when the server is back.
    app.config["MAIL_PORT"] = live_port
    assert outbox.dispatch("w1").sent == 0
    clock.freeze(clock.now() + timedelta(minutes=2))
    assert outbox.dispatch("w1").sent == 4
    assert len(smtp_server.handler.messages) == 4
    assert outbox.dispatch("w1").sent == 0


def test_a_refused_recipient_fails_alone_and_marks_the_address(
    app, db, smtp_server, create_customer
):
    customer = create_customer(email="gone@example.com")
    smtp_server.handler.refuse["gone@example.com"] = "550 5.1.1 No such user"
    put(db, 2)
    put(db, 1, customer=customer, to="gone@example.com")
    put(db, 1, to="after@example.com")
    report = outbox.dispatch("w1")
    assert (report.sent, report.failed) == (3, 1)
    assert ("gone@example.com", "failed") in statuses(db)
    failed = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.to_address == "gone@example.com")
    ).one()
    assert failed.last_error.startswith("gone@example.com: 550")
    db.session.refresh(customer)
    assert customer.bounced_at is not None and not customer.mailable
    assert len(smtp_server.handler.messages) == 3


def test_a_refused_first_recipient_does_not_hold_up_the_rest(
    app, db, smtp_server, create_customer
):
    customer = create_customer(email="gone@example.com")
    smtp_server.handler.refuse["gone@example.com"] = "550 5.1.1 No such user"
    put(db, 1, customer=customer, to="gone@example.com")
    put(db, 3)
    report = outbox.dispatch("w1")
    assert (report.sent, report.failed, report.retried) == (3, 1, 0)
    assert len(smtp_server.handler.messages) == 3


def test_a_crashed_worker_is_recovered_without_sending_twice(
    app, db, smtp_server, client, create_user, login
):
    put(db, 5)
    claimed = outbox.claim("dead-worker", 5)
    # It had handed the first message over when it died.
    claimed[0].handed_over_at = clock.now()
    db.session.commit()
    # Within the lease nobody touches its messages.
    assert outbox.dispatch("w2").sent == 0
    clock.freeze(clock.now() + outbox.CLAIM_LEASE + timedelta(seconds=1))
    report = outbox.dispatch("w2")
    assert (report.sent, report.released, report.uncertain) == (4, 4, 1)
    assert len(smtp_server.handler.messages) == 4
    db.session.refresh(claimed[0])
    assert claimed[0].status == OutboxStatus.FAILED
    assert "may have been delivered" in claimed[0].last_error
    # An administrator reads why in their own language.
    admin = create_user("admin", language="nl")
    login(admin)
    page = client.get(f"/admin/outbox/{claimed[0].id}").get_data(as_text=True)
    assert "het kan zijn afgeleverd" in page and "may have been" not in page


def test_two_workers_at_once_send_every_message_exactly_once(app, db, smtp_server):
    put(db, 60)
    app.config["MAIL_BATCH_SIZE"] = 7
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
    assert len(recipients) == 60
    assert len(set(recipients)) == 60
    assert {s for _, s in statuses(db)} == {"sent"}


def test_dispatch_command_reports_what_it_did(app, db, runner, smtp_server):
    put(db, 2)
    result = runner.invoke(args=["surveys", "dispatch"])
    assert result.exit_code == 0
    assert "sent 2, retried 0, failed 0" in result.output


# A worker process that is killed (no cleanup at all) right after the server
# accepted its DIE_AFTER-th message.
KILLED_WORKER = textwrap.dedent(
    """
    import json, os, smtplib, sys

    from karn.app import create_app
    from karn.surveys import outbox, sending
    from tests.conftest import settings

    config, die_after = json.loads(sys.argv[1]), int(sys.argv[2])
    real_sendmail = smtplib.SMTP.sendmail
    accepted = 0

    def sendmail(self, *args, **kwargs):
        global accepted
        result = real_sendmail(self, *args, **kwargs)
        accepted += 1
        if accepted == die_after:
            os._exit(9)
        return result

    smtplib.SMTP.sendmail = sendmail
    app = create_app(settings(**config))
    with app.app_context():
        outbox.dispatch("dead-worker")
    """
)


def test_a_worker_killed_mid_group_loses_and_doubles_nothing(
    app, db, smtp_server, database_url, mail_settings
):
    assert sending.HAND_OVER_GROUP == 10
    messages = put(db, 30)
    config = {"database_url": database_url, **mail_settings, "MAIL_BATCH_SIZE": 25}
    # Batch of 25: groups 0-9, 10-19, 20-24; killed after 13 were accepted.
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WORKER, json.dumps(config), "13"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert killed.returncode == 9, killed.stderr
    assert len(smtp_server.handler.messages) == 13

    clock.freeze(clock.now() + outbox.CLAIM_LEASE + timedelta(seconds=1))
    report = outbox.dispatch("w2")
    # The group in flight is failed as uncertain; the claimed messages of the
    # next group go back and are sent with the never-claimed ones.
    assert (report.uncertain, report.released, report.sent) == (10, 5, 10)
    assert outbox.dispatch("w2").sent == 0

    received = [m[1][0] for m in smtp_server.handler.messages]
    assert len(received) == len(set(received)) == 23
    delivered = [*range(13), *range(20, 30)]
    assert set(received) == {f"person{i}@example.com" for i in delivered}
    db.session.expire_all()
    by_index = [db.session.get(OutboxMessage, m.id) for m in messages]
    assert [m.status for m in by_index] == (
        [OutboxStatus.SENT] * 10 + [OutboxStatus.FAILED] * 10 + [OutboxStatus.SENT] * 10
    )
    assert all("may have been delivered" in m.last_error for m in by_index[10:20])


def test_long_lines_and_headers_reach_the_server_intact(app, db, smtp_server):
    long_line = "Waarom? " * 400  # 3,200 characters: beyond SMTP's 998 per line
    url = "https://survey.karn.example/u/" + "x" * 90
    message = outbox.enqueue(
        kind="test",
        to_address="jurgen@example.com",
        language="nl",
        subject="Jürgen, waarom ben je vertrokken?",
        body_text=long_line,
        body_html=f"<p>{long_line}</p>",
        headers={
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    db.session.commit()
    assert outbox.dispatch("w1").sent == 1
    (_, _, received) = smtp_server.handler.messages[0]
    assert received["Subject"] == "Jürgen, waarom ben je vertrokken?"
    assert received["Message-ID"] == message.message_id
    assert received.get_body(("plain",)).get_content().strip() == long_line.strip()
    assert long_line.strip() in received.get_body(("html",)).get_content()
    # Mail clients read this header as it is: no encoded words.
    raw = dict(received.raw_items())
    assert raw["List-Unsubscribe"].replace("\r\n ", " ").strip() == f"<{url}>"


def test_a_message_that_cannot_be_rendered_fails_alone_unsent(
    app, db, smtp_server, create_customer
):
    customer = create_customer(email="inject@example.com")
    put(db, 2)
    bad = outbox.enqueue(
        kind="test",
        to_address="inject@example.com",
        language="nl",
        subject="Hallo",
        body_text="Tekst",
        headers={"X-Note": "a\r\nBcc: everyone@example.com"},
        customer_id=customer.id,
    )
    db.session.commit()
    report = outbox.dispatch("w1")
    assert (report.sent, report.failed) == (2, 1)
    assert [m[1] for m in smtp_server.handler.messages] == [
        ["person0@example.com"],
        ["person1@example.com"],
    ]
    db.session.refresh(bad)
    assert bad.status == OutboxStatus.FAILED and bad.handed_over_at is None
    assert "line break" in bad.last_error
    # Our own mistake says nothing about the address.
    db.session.refresh(customer)
    assert customer.delivery_failures == 0


def test_a_domain_refusing_the_sender_is_paused_and_its_mail_waits(
    app, db, smtp_server, create_customer
):
    from karn.surveys.deliverability import DomainPause, MailEvent

    clock.freeze(clock.now())
    customer = create_customer(email="anna@blocked.example")
    smtp_server.handler.refuse["anna@blocked.example"] = (
        "554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"
    )
    put(db, 1, customer=customer, to="anna@blocked.example")
    put(db, 1, to="bram@open.example")
    report = outbox.dispatch("w1")
    assert (report.sent, report.failed) == (1, 0)
    db.session.expire_all()
    # Nobody's address is blamed, and no attempt is used up.
    db.session.refresh(customer)
    assert customer.mailable and customer.delivery_failures == 0
    pause = db.session.get(DomainPause, "blocked.example")
    assert pause is not None and pause.until == clock.now() + timedelta(minutes=15)
    event = db.session.scalars(sa.select(MailEvent)).one()
    assert (event.effect, event.reason) == ("sender_refused", "blocked")
    assert "anna@blocked.example" not in (event.text or "")
    # The server takes it again; while the pause lasts, the mail still waits.
    del smtp_server.handler.refuse["anna@blocked.example"]
    clock.freeze(clock.now() + timedelta(minutes=14))
    assert outbox.dispatch("w1").sent == 0
    clock.freeze(clock.now() + timedelta(minutes=2))
    assert outbox.dispatch("w1").sent == 1
    assert ("anna@blocked.example", "sent") in statuses(db)
    clock.freeze(None)
