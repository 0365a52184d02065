"""Mail failures, each charged to whom it says: a refusal of Karn never silences
a customer, a slow worker and a second worker never send one mail twice, a
killed worker is recovered at once, an outage uses up no attempts, and mail
that could not go out in time is cancelled rather than sent late."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.customers.models import Customer
from karn.customers.operations import upsert_departures
from karn.enums import InvitationStatus, OutboxStatus, Source
from karn.surveys import mail_failures, outbox
from karn.surveys.editing import ensure_default_survey
from karn.surveys.mail_failures import (
    ADDRESS_DEAD,
    CONNECTION,
    MAILBOX_STATE,
    SENDER_REFUSED,
)
from karn.surveys.models import Invitation, OutboxMessage
from karn.worker import Worker
from tests.conftest import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Replies as real mail systems word them (Postfix, Exim, Gmail, Outlook,
# Yahoo, Mimecast, Proofpoint, Exchange), written for these tests.
RCPT_REPLIES = [
    (
        550,
        "5.1.1 <x@example.nl>: Recipient address rejected: User unknown",
        ADDRESS_DEAD,
    ),
    (
        550,
        "5.1.1 The email account that you tried to reach does not exist.",
        ADDRESS_DEAD,
    ),
    (
        550,
        "Requested action not taken: mailbox unavailable (no such user)",
        ADDRESS_DEAD,
    ),
    (551, "User not local; please try <x@elders.nl>", ADDRESS_DEAD),
    (553, "5.1.3 Invalid recipient address syntax", ADDRESS_DEAD),
    (550, "5.1.2 Host unknown: domain example.invalid does not exist", ADDRESS_DEAD),
    (
        550,
        # Exchange Online: the address is not in the domain's directory.
        "5.4.1 Recipient address rejected: Access denied. AS(201806281)",
        ADDRESS_DEAD,
    ),
    (
        554,
        "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using "
        "zen.spamhaus.org",
        SENDER_REFUSED,
    ),
    (550, "5.7.1 Message rejected as spam by Content Filtering", SENDER_REFUSED),
    (
        550,
        "5.7.26 This mail is unauthenticated, which poses a security risk (DMARC)",
        SENDER_REFUSED,
    ),
    (550, "Rejected by header based Anti-Spoofing policy", SENDER_REFUSED),
    (554, "Denied [CS01] Message rejected due to local policy", SENDER_REFUSED),
    (
        421,
        "4.7.0 [TSS04] Messages temporarily deferred due to user complaints",
        CONNECTION,
    ),
    (451, "4.7.1 Greylisting in action, please come back later", SENDER_REFUSED),
    (
        452,
        "4.2.2 The email account that you tried to reach is over quota",
        MAILBOX_STATE,
    ),
    (552, "5.2.2 Mailbox full", MAILBOX_STATE),
    (550, "5.2.1 The email account that you tried to reach is disabled", MAILBOX_STATE),
    (550, "Requested action not taken", MAILBOX_STATE),
    (
        450,
        "4.1.1 <x@example.nl>: Recipient address rejected: User unknown",
        MAILBOX_STATE,
    ),
]


@pytest.mark.parametrize(("code", "text", "kind"), RCPT_REPLIES)
def test_a_recipient_refusal_is_charged_to_whom_it_names(code, text, kind):
    failure = mail_failures.classify(code, text, mail_failures.RCPT)
    assert failure.kind == kind
    # Only a permanent refusal of the address or the mailbox counts against
    # the customer; nothing the server says about Karn does.
    assert failure.touches_customer == (kind in (ADDRESS_DEAD, MAILBOX_STATE))


@pytest.mark.parametrize(
    ("code", "text", "stage"),
    [
        (
            554,
            "5.7.1 Access denied: your IP is on our blocklist",
            mail_failures.GREETING,
        ),
        (535, "5.7.8 Username and Password not accepted", mail_failures.LOGIN),
        (550, "5.1.0 Sender rejected: domain has no MX", mail_failures.MAIL_FROM),
        (550, "5.1.1 User unknown", mail_failures.MAIL_FROM),
        (None, "ConnectionRefusedError: [Errno 111]", mail_failures.GREETING),
    ],
)
def test_a_refusal_before_any_address_is_never_the_customers(code, text, stage):
    failure = mail_failures.classify(code, text, stage)
    assert failure.kind in (SENDER_REFUSED, CONNECTION)
    assert not failure.touches_customer and not failure.permanent


@pytest.fixture
def app_settings(mail_settings):
    return {**mail_settings, "BASE_URL": "https://karn.example.nl"}


# A Monday, 11:00 in Amsterdam: outside the quiet hours.
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock():
    clock.freeze(START)
    yield
    clock.freeze(None)


def departures(db, n, start=0):
    """n departed customers with invitations whose mail is in the outbox."""
    ensure_default_survey()
    result = upsert_departures(
        [
            (
                {
                    "external_id": f"K{i}",
                    "email": f"klant{i}@example.nl",
                    "language": "nl",
                    "departed_at": clock.now() - timedelta(days=3),
                },
                {},
            )
            for i in range(start, start + n)
        ],
        Source.API,
    )
    db.session.commit()
    return result.ids


def write_invitations(app):
    """Write the due invitation mail without sending it."""
    from karn.surveys import delivery

    delivery.run_due()


def undeliverable(db):
    return db.session.scalar(
        sa.select(sa.func.count()).where(Customer.bounced_at.is_not(None))
    )


def per_recipient(smtp_server):
    return Counter(m[1][0] for m in smtp_server.handler.messages)


def test_a_refused_sender_silences_nobody_and_costs_no_attempts(app, db, smtp_server):
    departures(db, 30)
    write_invitations(app)
    smtp_server.handler.refuse_sender = "550 5.7.1 Sender address rejected: not owned"
    report = Worker(app, "w1").run_once()
    assert report.sent == 0 and report.failed == 0
    assert report.deferred == 30
    db.session.expire_all()
    assert undeliverable(db) == 0
    mails = db.session.scalars(sa.select(OutboxMessage)).all()
    assert {(m.status, m.attempts) for m in mails} == {(OutboxStatus.PENDING, 0)}
    invitations = db.session.scalars(sa.select(Invitation)).all()
    assert {i.status for i in invitations} == {InvitationStatus.SCHEDULED}
    # Fixed on the server's side: everything goes out once, a minute later.
    smtp_server.handler.refuse_sender = None
    clock.freeze(clock.now() + outbox_retry())
    assert Worker(app, "w1").run_once().sent == 30
    assert set(per_recipient(smtp_server).values()) == {1}
    db.session.expire_all()
    assert {i.status for i in db.session.scalars(sa.select(Invitation))} == {
        InvitationStatus.SENT
    }


def outbox_retry():
    from karn.surveys import sending

    return sending.CONNECTION_RETRY + timedelta(seconds=1)


class RefusingServer:
    """A mail server that greets every connection with a refusal and hangs up."""

    def __init__(self, greeting: bytes):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.sendall(self.greeting)
                try:
                    conn.recv(1024)
                    conn.sendall(b"221 Bye\r\n")
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def test_a_554_greeting_silences_nobody(app, db, smtp_server):
    departures(db, 12)
    write_invitations(app)
    refusing = RefusingServer(b"554 5.7.1 Access denied: 192.0.2.1 is listed\r\n")
    app.config["MAIL_PORT"] = refusing.port
    try:
        for _ in range(3):
            report = Worker(app, "w1").run_once()
            assert (report.sent, report.failed) == (0, 0)
    finally:
        refusing.close()
    assert refusing.connections >= 1
    db.session.expire_all()
    assert undeliverable(db) == 0
    assert {
        (m.status, m.attempts) for m in db.session.scalars(sa.select(OutboxMessage))
    } == {(OutboxStatus.PENDING, 0)}


def test_a_block_of_one_recipient_waits_and_leaves_the_customer_alone(
    app, db, smtp_server
):
    departures(db, 3)
    write_invitations(app)
    smtp_server.handler.refuse["klant1@example.nl"] = (
        "554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org"
    )
    report = Worker(app, "w1").run_once()
    assert (report.sent, report.failed, report.deferred) == (2, 0, 1)
    db.session.expire_all()
    assert undeliverable(db) == 0
    blocked = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.to_address == "klant1@example.nl")
    ).one()
    assert blocked.status == OutboxStatus.PENDING and blocked.attempts == 0
    assert blocked.due_at >= clock.now() + timedelta(minutes=15)
    assert "spamhaus" in blocked.last_error


def test_a_dead_address_is_undeliverable_at_once_a_full_mailbox_is_counted(
    app, db, smtp_server
):
    departures(db, 2)
    write_invitations(app)
    smtp_server.handler.refuse["klant0@example.nl"] = "550 5.1.1 No such user"
    smtp_server.handler.refuse["klant1@example.nl"] = "552 5.2.2 Mailbox full"
    report = Worker(app, "w1").run_once()
    assert report.failed == 2
    db.session.expire_all()
    dead, full = (
        db.session.scalars(sa.select(Customer).where(Customer.external_id == k)).one()
        for k in ("K0", "K1")
    )
    assert dead.bounced_at is not None
    assert full.bounced_at is None and full.delivery_failures == 1


def test_a_worker_that_lost_its_claim_does_not_send(app, db, smtp_server):
    departures(db, 6)
    write_invitations(app)
    slow = outbox.claim("slow-worker", 6)
    # The slow worker's lease runs out; another worker recovers and sends.
    clock.freeze(clock.now() + outbox.CLAIM_LEASE + timedelta(seconds=1))
    report = Worker(app, "w2").run_once()
    assert (report.released, report.sent) == (6, 6)
    # The slow worker wakes up with its old list: it holds nothing any more.
    from karn.surveys import sending

    late = sending.send_batch(slow, worker="slow-worker")
    assert late.sent == 0
    assert set(per_recipient(smtp_server).values()) == {1}
    assert sum(per_recipient(smtp_server).values()) == 6


def wait_for(predicate, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def real_time(app):
    """For tests with worker processes, which run on the real clock: mail is
    written now, with the quiet hours off."""
    clock.freeze(None)
    app.config["QUIET_HOURS_START"] = app.config["QUIET_HOURS_END"] = 0


def flask_env(database_url, mail_settings, **extra):
    env = {
        **os.environ,
        "PYTHONPATH": ROOT,
        "FLASK_APP": "karn.app",
        "KARN_ENV": "development",
        "KARN_SECRET_KEY": "test-secret-key",
        "KARN_DATABASE_URL": database_url,
        "KARN_MAIL_SERVER": mail_settings["MAIL_SERVER"],
        "KARN_MAIL_PORT": str(mail_settings["MAIL_PORT"]),
        "KARN_MAIL_DEFAULT_SENDER": mail_settings["MAIL_DEFAULT_SENDER"],
        "KARN_WORKER_INTERVAL": "0.2",
        "KARN_QUIET_HOURS_START": "0",
        "KARN_QUIET_HOURS_END": "0",
        "KARN_RATELIMIT_STORAGE_URI": "memory://",
    }
    env.update({f"KARN_{k}": str(v) for k, v in extra.items()})
    return env


def start_worker(env):
    return subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "flask"), "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process):
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def test_two_worker_processes_past_the_lease_send_every_mail_once(
    app, db, smtp_server, database_url, mail_settings
):
    # A rate limit makes each batch outlast the (shortened) lease many times.
    real_time(app)
    departures(db, 24)
    write_invitations(app)
    db.session.commit()
    env = flask_env(
        database_url,
        mail_settings,
        MAIL_RATE_PER_MINUTE=240,
        MAIL_CLAIM_LEASE_SECONDS=1,
    )
    workers = [start_worker(env), start_worker(env)]
    try:
        assert wait_for(lambda: len(smtp_server.handler.messages) >= 24, 90)
        time.sleep(2)  # time for a late second copy to show up
    finally:
        for process in workers:
            stop(process)
    counts = per_recipient(smtp_server)
    assert len(counts) == 24
    assert set(counts.values()) == {1}


# Killed (no cleanup at all) right after the server accepted its 7th message.
KILLED_WORKER = textwrap.dedent(
    """
    import json, os, smtplib, sys

    from karn.app import create_app
    from karn.surveys import outbox
    from karn.worker import worker_name
    from tests.conftest import settings

    config = json.loads(sys.argv[1])
    real_sendmail = smtplib.SMTP.sendmail
    accepted = 0

    def sendmail(self, *args, **kwargs):
        global accepted
        result = real_sendmail(self, *args, **kwargs)
        accepted += 1
        if accepted == 7:
            os._exit(9)
        return result

    smtplib.SMTP.sendmail = sendmail
    app = create_app(settings(**config))
    with app.app_context():
        outbox.dispatch(worker_name())
    """
)


def test_a_killed_worker_on_this_machine_is_recovered_at_once(
    app, db, smtp_server, database_url, mail_settings
):
    real_time(app)
    departures(db, 15)
    write_invitations(app)
    config = {"database_url": database_url, **mail_settings, "MAIL_BATCH_SIZE": 15}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WORKER, json.dumps(config)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert killed.returncode == 9, killed.stderr
    assert len(smtp_server.handler.messages) == 7
    # No waiting for the lease: its process is gone.
    report = Worker(app, "w2").run_once()
    assert (report.uncertain, report.released, report.sent) == (10, 5, 5)
    counts = per_recipient(smtp_server)
    assert len(counts) == 12 and set(counts.values()) == {1}
    db.session.expire_all()
    # The group in flight may have arrived: it counts as sent, reminders follow.
    statuses = Counter(i.status for i in db.session.scalars(sa.select(Invitation)))
    assert statuses == {InvitationStatus.SENT: 15}


def test_an_outage_uses_no_attempts_and_late_mail_is_cancelled(app, db, smtp_server):
    departures(db, 4)
    write_invitations(app)
    live = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = free_port()  # the server is down
    for _hour in range(12):
        clock.freeze(clock.now() + timedelta(hours=1))
        report = Worker(app, "w1").run_once()
        assert report.failed == 0
    db.session.expire_all()
    assert {
        (m.status, m.attempts) for m in db.session.scalars(sa.select(OutboxMessage))
    } == {(OutboxStatus.PENDING, 0)}
    # Back up: everything goes out once.
    app.config["MAIL_PORT"] = live
    clock.freeze(clock.now() + timedelta(hours=1))
    assert Worker(app, "w1").run_once().sent == 4
    assert set(per_recipient(smtp_server).values()) == {1}


def test_an_invitation_held_past_its_link_is_cancelled_not_sent(app, db, smtp_server):
    departures(db, 2)
    write_invitations(app)
    app.config["MAIL_PORT"] = free_port()  # down for longer than the link lasts
    Worker(app, "w1").run_once()
    expires = db.session.scalar(sa.select(sa.func.max(Invitation.expires_at)))
    clock.freeze(expires.astimezone(UTC) + timedelta(minutes=5))
    app.config["MAIL_PORT"] = smtp_server.port
    report = outbox.dispatch("w1")
    assert (report.sent, report.cancelled) == (0, 2)
    assert smtp_server.handler.messages == []
    db.session.expire_all()
    assert {m.status for m in db.session.scalars(sa.select(OutboxMessage))} == {
        OutboxStatus.CANCELLED
    }


def test_the_dispatch_command_says_what_waits(app, db, runner, smtp_server):
    departures(db, 2)
    write_invitations(app)
    smtp_server.handler.refuse_sender = "550 5.7.1 Sender rejected"
    result = runner.invoke(args=["surveys", "dispatch"])
    assert result.exit_code == 0
    assert "waiting 2" in result.output


def test_a_temporary_reputation_refusal_is_never_the_customers():
    failure = mail_failures.classify(
        451, "451 4.7.650 The mail server has been rate limited due to IP reputation"
    )
    assert (failure.reason, failure.kind) == ("bad_reputation", SENDER_REFUSED)
    assert not failure.touches_customer
