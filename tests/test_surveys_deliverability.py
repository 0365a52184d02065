"""Deliverability: a refusal of the sender pauses the receiving domain and
spares the customer, a complaint stops all mail to the person, and an
administrator sees and releases pauses. Against a real SMTP server."""

from datetime import UTC, datetime, timedelta
from email.utils import make_msgid

import pytest
import sqlalchemy as sa

from karn import clock
from karn.accounts.models import AuditEntry
from karn.customers.models import Customer, Suppression
from karn.enums import InvitationStatus, OutboxStatus
from karn.surveys import deliverability, delivery, outbox
from karn.surveys.bounce_processing import process_bounce
from karn.surveys.deliverability import DomainPause, MailEvent
from karn.surveys.models import Invitation, OutboxMessage, Survey

ENVELOPE_FROM = "bounces@karn.example"
NOW = datetime.now(UTC).replace(microsecond=0)
SPAMHAUS = (
    "554 5.7.1 Service unavailable; Client host [198.51.100.7] blocked using "
    "zen.spamhaus.org; https://www.spamhaus.org/query/ip/198.51.100.7"
)


@pytest.fixture
def app_settings(mail_settings):
    return {**mail_settings, "MAIL_ENVELOPE_FROM": ENVELOPE_FROM}


@pytest.fixture(autouse=True)
def _clock():
    clock.freeze(NOW)
    yield
    clock.freeze(None)


def at(minutes: float) -> None:
    clock.freeze(NOW + timedelta(minutes=minutes))


@pytest.fixture
def survey(db):
    survey = Survey(name="Exit survey")
    db.session.add(survey)
    db.session.commit()
    return survey


@pytest.fixture
def mail(db, survey):
    """mail(customer, kind="invitation", sent=False, invitation=None) -> an
    outbox row: sent an hour ago, or waiting and due now."""

    def make(customer, *, kind="invitation", sent=False, invitation=None):
        now = clock.now()
        if invitation is None:
            invitation = Invitation(
                customer_id=customer.id,
                survey_id=survey.id,
                status=InvitationStatus.SENT if sent else InvitationStatus.SCHEDULED,
                scheduled_for=now - timedelta(days=1),
                sent_at=now - timedelta(hours=1) if sent else None,
                expires_at=now + timedelta(days=30),
            )
            db.session.add(invitation)
            db.session.flush()
        message = OutboxMessage(
            kind=kind,
            customer_id=customer.id,
            invitation_id=invitation.id,
            to_address=customer.email,
            language="nl",
            subject="Waarom ging u weg?",
            body_text="Beste klant, waarom ging u weg?",
            message_id=make_msgid(domain="karn.example"),
            status=OutboxStatus.SENT if sent else OutboxStatus.PENDING,
            sent_at=now - timedelta(hours=1) if sent else None,
            due_at=now,
        )
        db.session.add(message)
        db.session.commit()
        return message

    return make


def dsn(recipient: str, status: str, diagnostic: str, original_id: str) -> bytes:
    """A delivery status notice (RFC 3464) from our own relay."""
    domain = recipient.rpartition("@")[2]
    return f"""\
From: MAILER-DAEMON@mail.karn.example (Mail Delivery System)
To: {ENVELOPE_FROM}
Subject: Undelivered Mail Returned to Sender
Message-ID: {make_msgid("mail.karn.example")}
Date: Mon, 07 Dec 2026 09:00:00 +0000
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
 boundary="dsn-boundary"

--dsn-boundary
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.karn.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{recipient}>: host mx.{domain}[192.0.2.25] said:
    {diagnostic} (in reply to RCPT TO command)

--dsn-boundary
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.karn.example

Final-Recipient: rfc822; {recipient}
Action: failed
Status: {status}
Remote-MTA: dns; mx.{domain}
Diagnostic-Code: smtp; {diagnostic}

--dsn-boundary
Content-Type: text/rfc822-headers

From: Karn <survey@karn.example>
To: {recipient}
Subject: Waarom ging u weg?
Message-ID: {original_id}

--dsn-boundary--
""".encode()


def blocked(message: OutboxMessage) -> bytes:
    return dsn(message.to_address, "5.7.1", SPAMHAUS, message.message_id)


def complaint(original_id: str) -> bytes:
    """An ARF feedback report (RFC 5965): the recipient pressed "this is spam".
    The provider redacted the address; our Message-ID is left."""
    return f"""\
From: Feedback Loop <fbl@feedback.example>
To: {ENVELOPE_FROM}
Subject: Abuse report
Message-ID: {make_msgid("feedback.example")}
Date: Mon, 07 Dec 2026 09:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
 boundary="arf-boundary"

--arf-boundary
Content-Type: text/plain; charset=us-ascii

This is an email abuse report for a message received from IP 198.51.100.7.

--arf-boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ExampleFBL/1.0
Version: 1
Original-Mail-From: <{ENVELOPE_FROM}>
Arrival-Date: Mon, 07 Dec 2026 08:55:00 +0000
Source-IP: 198.51.100.7
Reported-Domain: karn.example

--arf-boundary
Content-Type: text/rfc822-headers

From: Karn <survey@karn.example>
To: redacted
Subject: Waarom ging u weg?
Message-ID: {original_id}
Date: Mon, 07 Dec 2026 08:54:00 +0000

--arf-boundary--
""".encode()


def handle(db, raw: bytes):
    outcome = process_bounce(raw)
    db.session.commit()
    return outcome


def reload(db, model, key):
    db.session.expire_all()
    return db.session.get(model, key)


def received(smtp_server) -> list[str]:
    """Every recipient the SMTP server accepted mail for, in order."""
    return [rcpt for _, rcpts, _ in smtp_server.handler.messages for rcpt in rcpts]


def pause_minutes(db, domain: str) -> float:
    pause = reload(db, DomainPause, domain)
    return (pause.until - clock.now()).total_seconds() / 60


# --- a refusal of the sender -----------------------------------------------------


def test_a_blocklisting_pauses_the_domain_and_spares_the_customer(
    db, smtp_server, create_customer, mail
):
    anna = create_customer(email="anna.jansen@blocked.example")
    sent = mail(anna, sent=True)
    bram = create_customer(email="bram@blocked.example")
    waiting = mail(bram)
    carla = create_customer(email="carla@open.example")
    mail(carla)

    outcome = handle(db, blocked(sent))

    assert (outcome.kind, outcome.effect, outcome.paused) == (
        "failure",
        "sender_refused",
        ["blocked.example"],
    )
    anna = reload(db, Customer, anna.id)
    assert (anna.bounced_at, anna.delivery_failures) == (None, 0)
    assert anna.mailable
    invitation = db.session.get(Invitation, sent.invitation_id)
    assert invitation.status == InvitationStatus.SENT
    pause = db.session.get(DomainPause, "blocked.example")
    assert pause.reason == "blocked"
    assert pause.until == NOW + timedelta(minutes=15)

    # While paused, mail to the domain waits; mail elsewhere goes.
    outbox.dispatch("w1")
    assert received(smtp_server) == ["carla@open.example"]
    at(14)
    outbox.dispatch("w1")
    assert received(smtp_server) == ["carla@open.example"]
    waiting = reload(db, OutboxMessage, waiting.id)
    assert (waiting.status, waiting.attempts) == (OutboxStatus.PENDING, 0)

    # When the pause has run out it goes, and its invitation counts as sent.
    at(15)
    outbox.dispatch("w1")
    assert received(smtp_server) == ["carla@open.example", "bram@blocked.example"]
    assert reload(db, OutboxMessage, waiting.id).status == OutboxStatus.SENT
    invitation = db.session.get(Invitation, waiting.invitation_id)
    assert invitation.status == InvitationStatus.SENT


def test_each_refusal_after_a_pause_doubles_it_up_to_a_day(db, create_customer, mail):
    anna = create_customer(email="anna.jansen@blocked.example")
    sent = mail(anna, sent=True)
    minutes = 0.0
    # Forty refusals in a row, each after the pause before it ran out: weeks
    # of a blocklisting that nobody fixed.
    for run in range(40):
        at(minutes)
        handle(db, blocked(sent))
        expected = min(15 * 2**run, 24 * 60)
        assert pause_minutes(db, "blocked.example") == expected, run
        if run < 3:
            # A refusal while paused (mail already on its way) changes nothing.
            at(minutes + 5)
            assert handle(db, blocked(sent)).paused == []
            at(minutes)
            assert pause_minutes(db, "blocked.example") == expected
        minutes += expected + 1
    anna = reload(db, Customer, anna.id)
    assert (anna.bounced_at, anna.delivery_failures) == (None, 0)


def test_a_quiet_day_after_a_pause_starts_the_run_again(db, create_customer, mail):
    sent = mail(create_customer(email="anna.jansen@blocked.example"), sent=True)
    handle(db, blocked(sent))
    at(16)
    handle(db, blocked(sent))
    assert pause_minutes(db, "blocked.example") == 30

    # The pause ended at minute 46; a refusal within the day doubles it ...
    at(46 + 23 * 60)
    handle(db, blocked(sent))
    assert pause_minutes(db, "blocked.example") == 60
    # ... a refusal after a quiet day starts again at 15 minutes.
    at(46 + 23 * 60 + 60 + 24 * 60 + 1)
    handle(db, blocked(sent))
    assert pause_minutes(db, "blocked.example") == 15


# --- complaints ---------------------------------------------------------------------


def test_a_complaint_stops_the_reminder_and_all_later_mail(
    db, smtp_server, create_customer, mail
):
    dora = create_customer(email="dora@klant.example")
    sent = mail(dora, sent=True)
    reminder = mail(
        dora, kind="reminder", invitation=db.session.get(Invitation, sent.invitation_id)
    )
    other = mail(create_customer(email="eva@klant.example"))

    outcome = handle(db, complaint(sent.message_id))

    assert (outcome.result, outcome.kind, outcome.matched_by) == (
        "applied",
        "complaint",
        "message_id",
    )
    assert outcome.unsubscribed == [dora.id]
    assert reload(db, OutboxMessage, reminder.id).status == OutboxStatus.CANCELLED
    invitation = db.session.get(Invitation, sent.invitation_id)
    assert invitation.status == InvitationStatus.UNSUBSCRIBED
    assert invitation.closed_at == NOW
    dora = db.session.get(Customer, dora.id)
    assert dora.unsubscribed_at == NOW
    assert not dora.mailable
    assert delivery.is_suppressed("Dora@Klant.example")
    assert db.session.scalars(sa.select(Suppression.reason)).all() == ["complaint"]
    [entry] = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "mail.complaint")
    ).all()
    assert (entry.target_type, entry.target_id) == ("customers", str(dora.id))
    assert entry.details["feedback_type"] == "abuse"
    # A complaint is about the mail, not the address or the sender's server.
    assert dora.bounced_at is None
    assert deliverability.paused_domains() == []

    outbox.dispatch("w1")
    at(60 * 24)
    outbox.dispatch("w1")
    assert received(smtp_server) == ["eva@klant.example"]
    assert reload(db, OutboxMessage, other.id).status == OutboxStatus.SENT

    # A second report about the same mail finds them unsubscribed already.
    assert handle(db, complaint(sent.message_id)).unsubscribed == []
    assert reload(db, Customer, dora.id).unsubscribed_at == NOW


# --- what a failure costs the customer -----------------------------------------------


def test_a_full_mailbox_counts_toward_the_limit_and_never_marks_at_once(
    app, db, create_customer, mail
):
    app.config["BOUNCE_SOFT_LIMIT"] = 3
    kees = create_customer(email="kees@full.example")
    sent = mail(kees, sent=True)
    reminder = mail(
        kees, kind="reminder", invitation=db.session.get(Invitation, sent.invitation_id)
    )
    full = "552 5.2.2 <kees@full.example>: mailbox full, quota exceeded"
    for count in (1, 2):
        outcome = handle(db, dsn(kees.email, "5.2.2", full, sent.message_id))
        assert (outcome.effect, outcome.undeliverable) == ("mailbox_state", [])
        kees = reload(db, Customer, kees.id)
        assert (kees.delivery_failures, kees.bounced_at) == (count, None)
        assert db.session.get(OutboxMessage, reminder.id).status == (
            OutboxStatus.PENDING
        )
    outcome = handle(db, dsn(kees.email, "5.2.2", full, sent.message_id))
    assert outcome.undeliverable == [kees.id]
    assert reload(db, Customer, kees.id).bounced_at == NOW
    assert db.session.get(OutboxMessage, reminder.id).status == OutboxStatus.CANCELLED
    assert deliverability.paused_domains() == []


def test_no_such_user_marks_the_address_at_once(db, create_customer, mail):
    piet = create_customer(email="piet@gone.example")
    sent = mail(piet, sent=True)
    reminder = mail(
        piet, kind="reminder", invitation=db.session.get(Invitation, sent.invitation_id)
    )
    unknown = (
        "550 5.1.1 <piet@gone.example>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    )
    outcome = handle(db, dsn(piet.email, "5.1.1", unknown, sent.message_id))
    assert (outcome.effect, outcome.undeliverable) == ("address_dead", [piet.id])
    piet = reload(db, Customer, piet.id)
    assert (piet.delivery_failures, piet.bounced_at) == (1, NOW)
    invitation = db.session.get(Invitation, sent.invitation_id)
    assert invitation.status == InvitationStatus.BOUNCED
    assert db.session.get(OutboxMessage, reminder.id).status == OutboxStatus.CANCELLED
    assert deliverability.paused_domains() == []


def test_the_servers_words_are_kept_without_the_address(db, create_customer, mail):
    anna = create_customer(email="anna.jansen@blocked.example")
    sent = mail(anna, sent=True)
    said = (
        "554 5.7.1 <anna.jansen@blocked.example>: Recipient address rejected: "
        "client host [198.51.100.7] blocked using zen.spamhaus.org for "
        "ANNA.JANSEN"
    )
    handle(db, dsn("anna.jansen@blocked.example", "5.7.1", said, sent.message_id))
    mail_box = create_customer(email="mail@full.example")
    full = mail(mail_box, sent=True)
    handle(
        db,
        dsn(
            mail_box.email,
            "5.2.2",
            "552 5.2.2 <mail@full.example>: mailbox full",
            full.message_id,
        ),
    )

    [refused, filled] = db.session.scalars(
        sa.select(MailEvent).order_by(MailEvent.id)
    ).all()
    assert (refused.domain, refused.reason, refused.status) == (
        "blocked.example",
        "blocked",
        "5.7.1",
    )
    assert "anna" not in refused.text.lower()
    assert "<recipient>" in refused.text
    assert "blocked using zen.spamhaus.org" in refused.text
    pause = db.session.get(DomainPause, "blocked.example")
    assert "anna" not in pause.text.lower()
    assert "blocked using zen.spamhaus.org" in pause.text
    # A short local part is taken out where it stands alone, not inside words.
    assert "mail@full.example" not in filled.text
    assert "mailbox full" in filled.text


# --- the page and its release button -------------------------------------------


def test_an_admin_releases_a_pause_and_the_mail_goes(
    db, client, smtp_server, create_customer, create_user, login, post_form, mail
):
    sent = mail(create_customer(email="anna.jansen@blocked.example"), sent=True)
    waiting = mail(create_customer(email="bram@blocked.example"))
    handle(db, blocked(sent))
    outbox.dispatch("w1")
    assert received(smtp_server) == []

    admin = create_user("admin")
    login(admin)
    page = client.get("/admin/deliverability").get_data(as_text=True)
    assert "blocked.example" in page
    assert "blocked using zen.spamhaus.org" in page
    assert "Send again now" in page
    response = post_form(
        "/admin/deliverability/release",
        {"domain": "Blocked.Example"},
        page="/admin/deliverability",
    )
    assert response.status_code == 302

    page = client.get("/admin/deliverability").get_data(as_text=True)
    assert "Mail to blocked.example is sent again." in page
    assert "Send again now" not in page
    assert deliverability.paused_domains() == []
    [entry] = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "mail.domain_released")
    ).all()
    assert (entry.user_id, entry.details["domain"]) == (admin.id, "blocked.example")
    outbox.dispatch("w1")
    assert received(smtp_server) == ["bram@blocked.example"]
    assert reload(db, OutboxMessage, waiting.id).status == OutboxStatus.SENT

    # The next refusal starts the run again at 15 minutes.
    handle(db, blocked(sent))
    assert pause_minutes(db, "blocked.example") == 15


def test_a_manager_may_not_release_a_pause(
    db, client, create_customer, create_user, login, post_form, mail
):
    sent = mail(create_customer(email="anna.jansen@blocked.example"), sent=True)
    handle(db, blocked(sent))
    login(create_user("manager"))
    assert client.get("/admin/deliverability").status_code == 403
    page = client.get("/overview").get_data(as_text=True)
    assert 'id="paused-domains"' not in page
    response = post_form(
        "/admin/deliverability/release",
        {"domain": "blocked.example"},
        page="/overview",
    )
    assert response.status_code == 403
    assert deliverability.paused_domains() == ["blocked.example"]
    assert (
        db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "mail.domain_released")
        ).all()
        == []
    )


def test_the_page_counts_failures_and_complaints_apart(
    db, client, create_customer, create_user, login, mail
):
    sent = mail(create_customer(email="anna.jansen@blocked.example"), sent=True)
    handle(db, blocked(sent))
    dora = mail(create_customer(email="dora@klant.example"), sent=True)
    handle(db, complaint(dora.message_id))

    login(create_user("admin"))
    page = client.get("/overview").get_data(as_text=True)
    assert 'id="paused-domains"' in page
    page = client.get("/admin/deliverability").get_data(as_text=True)
    assert "1 failed delivery · 1 complaint" in page
    assert "Sending server blocked" in page
    assert "Marked as spam by the recipient" in page
