"""Bounce processing: returned mail matched to the outbox, from files and IMAP."""

import grp
import imaplib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from datetime import timedelta
from email.utils import make_msgid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.cli import AppGroup

from karn import clock
from karn.accounts.models import AuditEntry
from karn.customers.models import Customer
from karn.enums import InvitationStatus, OutboxStatus
from karn.surveys import bounce_processing, deliverability
from karn.surveys.bounce_processing import (
    MailboxError,
    bounces_command,
    process_bounce,
    process_files,
    process_imap,
    run_bounce_job,
)
from karn.surveys.models import Invitation, OutboxMessage, Survey
from tests.conftest import free_port

DATA = Path(__file__).parent / "data" / "bounces"
ENVELOPE_FROM = "bounces@karn.example"
REQUIRE_IMAP = os.environ.get("KARN_REQUIRE_IMAP") == "1"

# sample -> (the original's Message-ID, its X-Karn-Message id) as in the file
SAMPLE_IDS = {
    "postfix_user_unknown.eml": ("<171023413100.5123.9876543210@karn.example>", 1234),
    "exim_failed.eml": ("<171033600500.777.1111@karn.example>", 77),
    "gmail_failure.eml": ("<171023410000.4242.1357924680@karn.example>", 5678),
    "exchange_online_ndr.eml": ("<171023406200.3131.2468013579@karn.example>", 2468),
    "postfix_spam_571.eml": ("<171077476400.1111.8989898989@karn.example>", 4711),
    "postfix_quota_522.eml": ("<171057420000.9090.3434343434@karn.example>", 9090),
    "postfix_delayed_mailbox_full.eml": (
        "<171049351100.6060.1212121212@karn.example>",
        8080,
    ),
    "ooo_nl_outlook.eml": ("<171023413100.5123.9876543210@karn.example>", None),
}


@pytest.fixture
def app_settings():
    return {"MAIL_ENVELOPE_FROM": ENVELOPE_FROM}


def returned(
    sample: str,
    message: OutboxMessage | None,
    *,
    own_id: str | None = None,
    by_outbox_id: bool = True,
    by_message_id: bool = True,
) -> bytes:
    """A sample from tests/data/bounces rewritten to refer to `message`.

    Without `message`, or with a key switched off, that key names a message
    that does not exist. The notice gets a Message-ID of its own (`own_id`),
    fresh unless given, since that is what tells one bounce from another.
    """
    raw = (DATA / sample).read_bytes()
    original_id, karn_id = SAMPLE_IDS[sample]
    new_id = message.message_id if message and by_message_id else make_msgid("gone")
    raw = raw.replace(original_id.encode(), new_id.encode())
    if karn_id is not None:
        new_karn = message.id if message and by_outbox_id else 999_999
        old, new = f"X-Karn-Message: {karn_id}", f"X-Karn-Message: {new_karn}"
        raw = raw.replace(old.encode(), new.encode())
    head, blank, body = raw.partition(b"\n\n")
    head, replaced = re.subn(
        rb"(?im)^Message-Id:[ \t]*(\n[ \t]+)?<[^>]*>",
        b"Message-ID: " + (own_id or make_msgid("mx.example")).encode(),
        head,
    )
    assert replaced == 1, f"{sample} has no Message-ID of its own"
    return head + blank + body


@pytest.fixture
def survey(db):
    survey = Survey(name="Exit survey")
    db.session.add(survey)
    db.session.commit()
    return survey


@pytest.fixture
def outbox_mail(db, create_customer, survey):
    """Make outbox rows: outbox_mail(customer=None, status=SENT, ...) -> message.

    Each gets an invitation of its own (to `to_survey`, or the one survey) unless
    `invitation` is given.
    """

    def make(
        customer=None,
        *,
        to_survey=None,
        kind="invitation",
        status=OutboxStatus.SENT,
        sent_ago=timedelta(hours=1),
        invitation=None,
        to_address=None,
    ):
        now = clock.now()
        customer = customer or create_customer()
        if invitation is None:
            invitation = Invitation(
                customer_id=customer.id,
                survey_id=(to_survey or survey).id,
                status=InvitationStatus.SENT,
                scheduled_for=now - timedelta(days=1),
                sent_at=now - sent_ago,
            )
            db.session.add(invitation)
            db.session.flush()
        message = OutboxMessage(
            kind=kind,
            customer_id=customer.id,
            invitation_id=invitation.id,
            to_address=to_address or customer.email,
            language="nl",
            subject="Waarom ging u weg?",
            body_text="Beste klant, waarom ging u weg?",
            message_id=make_msgid(domain="karn.example"),
            status=status,
            sent_at=now - sent_ago if status == OutboxStatus.SENT else None,
        )
        db.session.add(message)
        db.session.commit()
        return message

    return make


def reload(db, model, id_):
    """The row as committed, not as this session remembers it."""
    db.session.expire_all()
    return db.session.get(model, id_)


def bounce_entries(db) -> list[AuditEntry]:
    return db.session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "mail.bounce")
        .order_by(AuditEntry.id)
    ).all()


# --- process_bounce ----------------------------------------------------------------


def test_a_dead_address_makes_the_customer_undeliverable(db, outbox_mail):
    message = outbox_mail()
    customer_id, invitation_id = message.customer_id, message.invitation_id
    customer = db.session.get(Customer, customer_id)
    # Mail still waiting for this customer, and for somebody else.
    reminder = outbox_mail(
        customer,
        kind="reminder",
        status=OutboxStatus.PENDING,
        invitation=db.session.get(Invitation, invitation_id),
    )
    second_survey = Survey(name="Second survey")
    db.session.add(second_survey)
    db.session.commit()
    held = outbox_mail(customer, status=OutboxStatus.HELD, to_survey=second_survey)
    other = outbox_mail(status=OutboxStatus.PENDING)

    outcome = process_bounce(returned("postfix_user_unknown.eml", message))
    db.session.commit()

    assert (outcome.result, outcome.kind, outcome.effect, outcome.matched_by) == (
        "applied",
        "failure",
        "address_dead",
        "outbox_id",
    )
    assert outcome.outbox_ids == [message.id]
    assert outcome.undeliverable == [customer_id]
    assert outcome.cancelled == 2
    customer = reload(db, Customer, customer_id)
    assert customer.bounced_at is not None
    assert customer.delivery_failures == 1
    assert not customer.mailable
    invitation = db.session.get(Invitation, invitation_id)
    assert invitation.status == InvitationStatus.BOUNCED
    assert invitation.closed_at is not None
    held_invitation = db.session.get(Invitation, held.invitation_id)
    assert held_invitation.status == InvitationStatus.BOUNCED
    assert db.session.get(OutboxMessage, reminder.id).status == OutboxStatus.CANCELLED
    assert db.session.get(OutboxMessage, held.id).status == OutboxStatus.CANCELLED
    assert db.session.get(OutboxMessage, message.id).status == OutboxStatus.SENT
    assert db.session.get(OutboxMessage, other.id).status == OutboxStatus.PENDING
    other_invitation = db.session.get(Invitation, other.invitation_id)
    assert other_invitation.status == InvitationStatus.SENT
    [entry] = bounce_entries(db)
    assert (entry.target_type, entry.target_id) == ("customers", str(customer_id))
    assert entry.details["kind"] == "failure"
    assert entry.details["effect"] == "address_dead"
    assert entry.details["reason"] == "user_unknown"
    assert entry.details["status"] == "5.1.1"
    assert entry.details["outbox"] == [message.id]


@pytest.mark.parametrize(
    "sample",
    ["exim_failed.eml", "gmail_failure.eml", "exchange_online_ndr.eml"],
)
def test_dead_addresses_found_by_message_id(db, outbox_mail, sample):
    message = outbox_mail()
    outcome = process_bounce(returned(sample, message, by_outbox_id=False))
    db.session.commit()
    assert (outcome.result, outcome.kind, outcome.effect, outcome.matched_by) == (
        "applied",
        "failure",
        "address_dead",
        "message_id",
    )
    assert reload(db, Customer, message.customer_id).bounced_at is not None


def test_a_spam_refusal_pauses_the_domain_and_spares_the_customer(db, outbox_mail):
    # "554 5.7.1 ... blocked using Spamhaus": the receiving side refused Karn,
    # not the address. It used to make the customer undeliverable.
    message = outbox_mail()
    customer_id, invitation_id = message.customer_id, message.invitation_id
    reminder = outbox_mail(
        db.session.get(Customer, customer_id),
        kind="reminder",
        status=OutboxStatus.PENDING,
        invitation=db.session.get(Invitation, invitation_id),
    )

    outcome = process_bounce(
        returned("postfix_spam_571.eml", message, by_outbox_id=False)
    )
    db.session.commit()

    assert (outcome.result, outcome.kind, outcome.effect, outcome.matched_by) == (
        "applied",
        "failure",
        "sender_refused",
        "message_id",
    )
    assert (outcome.undeliverable, outcome.cancelled) == ([], 0)
    assert outcome.paused == ["hotmail.com"]
    customer = reload(db, Customer, customer_id)
    assert (customer.delivery_failures, customer.bounced_at) == (0, None)
    assert customer.mailable
    assert db.session.get(Invitation, invitation_id).status == InvitationStatus.SENT
    assert db.session.get(OutboxMessage, reminder.id).status == OutboxStatus.PENDING
    assert deliverability.paused_domains() == ["hotmail.com"]
    [entry] = bounce_entries(db)
    assert (entry.details["effect"], entry.details["paused"]) == (
        "sender_refused",
        ["hotmail.com"],
    )


def test_an_outbox_id_match_wins_over_the_message_id(db, outbox_mail):
    named = outbox_mail()
    quoted = outbox_mail()
    raw = returned("postfix_user_unknown.eml", named).replace(
        named.message_id.encode(), quoted.message_id.encode()
    )
    outcome = process_bounce(raw)
    assert outcome.outbox_ids == [named.id]
    assert reload(db, Customer, quoted.customer_id).bounced_at is None


def test_verp_envelope_sender_finds_the_message(db, outbox_mail):
    message = outbox_mail()
    raw = (DATA / "qmail_verp_no_original.eml").read_bytes()
    raw = raw.replace(b"bounces+4321@", f"bounces+{message.id}@".encode())
    outcome = process_bounce(raw)
    db.session.commit()
    assert (outcome.kind, outcome.effect, outcome.matched_by, outcome.outbox_ids) == (
        "failure",
        "address_dead",
        "outbox_id",
        [message.id],
    )


def test_verp_on_another_base_address_is_not_trusted(app, db, outbox_mail):
    message = outbox_mail()
    app.config["MAIL_ENVELOPE_FROM"] = "other@karn.example"
    raw = (DATA / "qmail_verp_no_original.eml").read_bytes()
    raw = raw.replace(b"bounces+4321@", f"bounces+{message.id}@".encode())
    assert process_bounce(raw).result == "unmatched"
    assert reload(db, Customer, message.customer_id).bounced_at is None


def test_recipient_is_the_last_resort_and_only_for_recent_mail(
    db, create_customer, outbox_mail
):
    # The qmail notice quotes no original: only its recipient is left.
    sanne = create_customer(email="sanne@klant.example")
    old = outbox_mail(sanne, sent_ago=timedelta(days=30))
    recent = outbox_mail(
        sanne,
        kind="reminder",
        to_address="Sanne@Klant.example",
        invitation=db.session.get(Invitation, old.invitation_id),
    )
    raw = (DATA / "qmail_verp_no_original.eml").read_bytes()

    outcome = process_bounce(raw)
    db.session.commit()
    assert (outcome.result, outcome.matched_by, outcome.outbox_ids) == (
        "applied",
        "recipient",
        [recent.id],
    )
    assert reload(db, Customer, sanne.id).bounced_at is not None
    assert old.id not in outcome.outbox_ids


def test_recipient_match_ignores_old_and_unsent_mail(db, create_customer, outbox_mail):
    sanne = create_customer(email="sanne@klant.example")
    old = outbox_mail(sanne, sent_ago=timedelta(days=30))
    outbox_mail(
        sanne,
        kind="reminder",
        status=OutboxStatus.PENDING,
        invitation=db.session.get(Invitation, old.invitation_id),
    )
    outcome = process_bounce((DATA / "qmail_verp_no_original.eml").read_bytes())
    db.session.commit()
    assert outcome.result == "unmatched"
    assert reload(db, Customer, sanne.id).bounced_at is None


def test_a_full_mailbox_counts_up_to_the_limit(db, outbox_mail):
    message = outbox_mail()
    customer_id, invitation_id = message.customer_id, message.invitation_id
    reminder = outbox_mail(
        db.session.get(Customer, customer_id),
        kind="reminder",
        status=OutboxStatus.PENDING,
        invitation=db.session.get(Invitation, invitation_id),
    )
    for count in (1, 2):
        outcome = process_bounce(returned("postfix_quota_522.eml", message))
        db.session.commit()
        assert (outcome.result, outcome.kind, outcome.effect, outcome.delayed) == (
            "applied",
            "failure",
            "mailbox_state",
            False,
        )
        customer = reload(db, Customer, customer_id)
        assert (customer.delivery_failures, customer.bounced_at) == (count, None)
        assert outcome.undeliverable == []
        invitation = db.session.get(Invitation, invitation_id)
        assert invitation.status == InvitationStatus.SENT
        assert db.session.get(OutboxMessage, reminder.id).status == OutboxStatus.PENDING

    outcome = process_bounce(returned("postfix_quota_522.eml", message))
    db.session.commit()
    assert outcome.undeliverable == [customer_id]
    customer = reload(db, Customer, customer_id)
    assert customer.delivery_failures == 3
    assert customer.bounced_at is not None
    invitation = db.session.get(Invitation, invitation_id)
    assert invitation.status == InvitationStatus.BOUNCED
    assert db.session.get(OutboxMessage, reminder.id).status == OutboxStatus.CANCELLED


def test_soft_limit_is_configurable(app, db, outbox_mail):
    app.config["BOUNCE_SOFT_LIMIT"] = 2
    message = outbox_mail()
    process_bounce(returned("postfix_quota_522.eml", message))
    assert reload(db, Customer, message.customer_id).bounced_at is None
    outcome = process_bounce(returned("postfix_quota_522.eml", message))
    db.session.commit()
    assert outcome.undeliverable == [message.customer_id]


def test_earlier_failures_count_towards_the_soft_limit(
    db, create_customer, outbox_mail
):
    customer = create_customer(delivery_failures=2)
    message = outbox_mail(customer)
    outcome = process_bounce(returned("postfix_quota_522.eml", message))
    db.session.commit()
    assert outcome.undeliverable == [customer.id]


def test_delay_warning_is_reported_but_not_counted(db, outbox_mail):
    message = outbox_mail()
    outcome = process_bounce(returned("postfix_delayed_mailbox_full.eml", message))
    db.session.commit()
    assert (outcome.result, outcome.kind, outcome.delayed) == ("applied", "delay", True)
    customer = reload(db, Customer, message.customer_id)
    assert (customer.delivery_failures, customer.bounced_at) == (0, None)
    invitation = db.session.get(Invitation, message.invitation_id)
    assert invitation.status == InvitationStatus.SENT
    assert deliverability.paused_domains() == []


def test_autoreply_changes_nothing(db, outbox_mail):
    message = outbox_mail()
    outcome = process_bounce(returned("ooo_nl_outlook.eml", message))
    db.session.commit()
    assert (outcome.result, outcome.kind, outcome.matched_by) == (
        "applied",
        "autoreply",
        "message_id",
    )
    customer = reload(db, Customer, message.customer_id)
    assert (customer.delivery_failures, customer.bounced_at) == (0, None)
    invitation = db.session.get(Invitation, message.invitation_id)
    assert invitation.status == InvitationStatus.SENT


def undelivered_notice(message: OutboxMessage, to: bytes = b"") -> bytes:
    """A daemon's notice that names no cause, quoting our Message-ID."""
    return (
        b"From: MAILER-DAEMON@mx.example\n"
        b"To: bounces@karn.example\n"
        b"Subject: Undelivered Mail Returned to Sender\n"
        b"Message-ID: " + make_msgid("notice").encode() + b"\n"
        b"Content-Type: text/plain\n\n"
        b"Your message" + to + b" could not be delivered.\n\n"
        b"Message-ID: " + message.message_id.encode() + b"\n"
    )


def test_a_notice_naming_no_recipient_is_not_recognised(db, outbox_mail):
    # Nothing says whom it failed for: not guessed into a verdict.
    message = outbox_mail()
    outcome = process_bounce(undelivered_notice(message))
    db.session.commit()
    assert (outcome.result, outcome.kind) == ("ignored", None)
    customer = reload(db, Customer, message.customer_id)
    assert (customer.delivery_failures, customer.bounced_at) == (0, None)
    assert bounce_entries(db) == []


def test_a_refusal_without_a_cause_counts_but_never_marks_at_once(db, outbox_mail):
    message = outbox_mail()
    to = b" to <" + message.to_address.encode() + b">"
    outcome = process_bounce(undelivered_notice(message, to))
    db.session.commit()
    assert (outcome.result, outcome.kind, outcome.effect) == (
        "applied",
        "failure",
        "mailbox_state",
    )
    assert outcome.undeliverable == []
    customer = reload(db, Customer, message.customer_id)
    assert (customer.delivery_failures, customer.bounced_at) == (1, None)
    invitation = db.session.get(Invitation, message.invitation_id)
    assert invitation.status == InvitationStatus.SENT


def test_unmatched_bounce_is_reported_and_changes_nothing(db, outbox_mail):
    message = outbox_mail()
    outcome = process_bounce(returned("postfix_user_unknown.eml", None))
    db.session.commit()
    assert (outcome.result, outcome.kind, outcome.outbox_ids) == (
        "unmatched",
        "failure",
        [],
    )
    customer = reload(db, Customer, message.customer_id)
    assert (customer.delivery_failures, customer.bounced_at) == (0, None)
    [entry] = bounce_entries(db)
    assert entry.details["result"] == "unmatched"
    assert entry.target_id is None


def test_the_same_bounce_twice_counts_once(db, outbox_mail):
    message = outbox_mail()
    raw = returned("postfix_quota_522.eml", message, own_id="<twice@mx.example>")
    first = process_bounce(raw)
    db.session.commit()
    # The same notice again, as an IMAP server hands it out (CRLF line ends).
    second = process_bounce(raw.replace(b"\n", b"\r\n"))
    db.session.commit()
    assert (first.result, second.result) == ("applied", "duplicate")
    assert reload(db, Customer, message.customer_id).delivery_failures == 1
    assert len(bounce_entries(db)) == 1
    # A different notice about the same message does count.
    assert process_bounce(returned("postfix_quota_522.eml", message)).result == (
        "applied"
    )
    assert reload(db, Customer, message.customer_id).delivery_failures == 2


@pytest.mark.postgres
def test_two_workers_with_the_same_bounce_count_it_once(app, db, outbox_mail):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks need PostgreSQL (KARN_TEST_DB=postgresql)")
    message = outbox_mail()
    raw = returned("postfix_quota_522.eml", message)
    # This worker has handled the bounce but not yet committed...
    assert process_bounce(raw).result == "applied"
    results = []

    def other_worker():
        with app.app_context():
            try:
                results.append(process_bounce(raw).result)
                db.session.commit()
            finally:
                db.session.remove()

    thread = threading.Thread(target=other_worker)
    thread.start()
    # ...while the other one, given the same bounce, waits for it.
    deadline = time.monotonic() + 10
    with db.engine.connect() as watcher:
        while not watcher.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ):
            assert time.monotonic() < deadline, "the other worker never waited"
            # pg_stat_activity is read once per transaction.
            watcher.rollback()
            time.sleep(0.05)
    db.session.commit()
    thread.join(10)
    assert results == ["duplicate"]
    assert reload(db, Customer, message.customer_id).delivery_failures == 1


def test_a_bounce_without_message_id_is_known_by_its_content(
    db, create_customer, outbox_mail
):
    customer = create_customer(email="sanne@klant.example")
    outbox_mail(customer)
    raw = (DATA / "qmail_verp_no_original.eml").read_bytes()
    assert process_bounce(raw).result == "applied"
    db.session.commit()
    assert process_bounce(raw).result == "duplicate"
    db.session.commit()
    assert reload(db, Customer, customer.id).delivery_failures == 1


def test_mail_that_is_not_a_bounce_is_ignored(db, outbox_mail):
    outbox_mail()
    outcome = process_bounce((DATA / "plain_reply.eml").read_bytes())
    assert outcome.result == "ignored"
    assert bounce_entries(db) == []


@pytest.mark.parametrize("raw", [b"", bytes(range(256)) * 4, b"\x00\xff\xfe" * 50])
def test_garbage_is_unreadable(db, raw):
    assert process_bounce(raw).result == "unreadable"


# --- files and the command -------------------------------------------------------


def test_process_files_goes_on_after_bad_files(db, tmp_path, outbox_mail):
    hard = outbox_mail()
    soft = outbox_mail()
    other = outbox_mail()
    refused = outbox_mail()
    delayed = outbox_mail()
    files = {
        "garbage.eml": bytes(range(256)) * 4,
        "hard.eml": returned("postfix_user_unknown.eml", hard),
        "soft.eml": returned("postfix_quota_522.eml", soft),
        "refused.eml": returned("postfix_spam_571.eml", refused),
        "delayed.eml": returned("postfix_delayed_mailbox_full.eml", delayed),
        "ooo.eml": returned("ooo_nl_outlook.eml", other),
        "unmatched.eml": returned("exim_failed.eml", None),
        "reply.eml": (DATA / "plain_reply.eml").read_bytes(),
    }
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
    paths = [tmp_path / name for name in files] + [tmp_path / "missing.eml"]

    report = process_files(paths)

    assert (
        report.address_dead,
        report.mailbox,
        report.sender_refused,
        report.delayed,
        report.autoreply,
        report.unmatched,
        report.ignored,
        report.unreadable,
    ) == (1, 1, 1, 1, 1, 1, 1, 2)
    assert (report.undeliverable, report.paused) == (1, 1)
    assert report.total == 9
    assert "sender refused 1," in report.summary()
    assert "domains paused 1" in report.summary()
    assert any("garbage.eml" in e for e in report.errors)
    assert any("missing.eml" in e for e in report.errors)
    # Committed: a rollback now keeps what was processed.
    db.session.rollback()
    assert reload(db, Customer, hard.customer_id).bounced_at is not None
    assert reload(db, Customer, soft.customer_id).delivery_failures == 1
    for spared in (refused, delayed):
        customer = reload(db, Customer, spared.customer_id)
        assert (customer.delivery_failures, customer.bounced_at) == (0, None)
    # Running the same files again changes nothing and says so.
    again = process_files(paths)
    assert (again.address_dead, again.mailbox, again.duplicate) == (0, 0, 6)
    assert (again.sender_refused, again.paused) == (0, 0)
    assert reload(db, Customer, soft.customer_id).delivery_failures == 1


@pytest.fixture
def cli(app):
    """The bounces command under a test group, as `flask surveys` will carry it."""
    group = AppGroup("bouncetest")
    group.add_command(bounces_command)
    app.cli.add_command(group)
    return ["bouncetest", "bounces"]


def test_command_prints_the_counts(db, runner, cli, tmp_path, outbox_mail):
    message = outbox_mail()
    hard = tmp_path / "hard.eml"
    hard.write_bytes(returned("postfix_user_unknown.eml", message))
    garbage = tmp_path / "garbage.eml"
    garbage.write_bytes(b"\x00\xff\xfe" * 50)
    result = runner.invoke(args=[*cli, str(hard), str(garbage)])
    assert result.exit_code == 0, result.output
    assert "address dead 1, mailbox 0," in result.output
    assert "autoreply 0, unmatched 0," in result.output
    assert "unreadable 1," in result.output
    assert "marked undeliverable 1," in result.output
    assert "garbage.eml: no mail headers" in result.output
    assert reload(db, Customer, message.customer_id).bounced_at is not None


def test_command_reads_standard_input(db, runner, cli, outbox_mail):
    message = outbox_mail()
    raw = returned("postfix_quota_522.eml", message)
    result = runner.invoke(args=[*cli, "-"], input=raw)
    assert result.exit_code == 0, result.output
    assert "address dead 0, mailbox 1," in result.output
    assert reload(db, Customer, message.customer_id).delivery_failures == 1


def test_command_needs_files_or_imap(runner, cli):
    result = runner.invoke(args=cli)
    assert result.exit_code == 2
    assert "FILES, or --imap" in result.output


def test_command_imap_without_a_mailbox_fails(runner, cli):
    result = runner.invoke(args=[*cli, "--imap"])
    assert result.exit_code == 1
    assert "KARN_BOUNCE_IMAP_HOST" in result.output


def test_worker_job_is_a_no_op_without_a_mailbox(app):
    assert run_bounce_job(app) is None


def test_worker_job_survives_a_mailbox_that_is_down(app):
    app.config.update(BOUNCE_IMAP_HOST="127.0.0.1", BOUNCE_IMAP_PORT=free_port())
    assert run_bounce_job(app) is None


# --- IMAP, against Dovecot ------------------------------------------------------------

DOVECOT = shutil.which("dovecot") or next(
    (p for p in ("/usr/sbin/dovecot",) if os.access(p, os.X_OK)), None
)
IMAP_USER, IMAP_PASSWORD = "bounces", "imap-secret"

DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
{users}
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{mail}/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@pytest.fixture(scope="module")
def imap_server():
    """Debian's Dovecot on a free localhost port, with one mailbox user."""
    if DOVECOT is None:
        if REQUIRE_IMAP:
            pytest.fail("KARN_REQUIRE_IMAP=1 but Dovecot is not installed")
        pytest.skip("Dovecot is not installed (apt-get install dovecot-imapd)")
    root = tempfile.mkdtemp(prefix="karn-imap-")
    # Dovecot's login and mail processes run as other users when started as
    # root, and must be able to reach these folders.
    os.chmod(root, 0o755)
    mail = os.path.join(root, "mail")
    os.mkdir(mail)
    if os.geteuid() == 0:
        account = pwd.getpwnam("dovecot")
        uid, gid, users = account.pw_uid, account.pw_gid, ""
        os.chown(mail, uid, gid)
    else:
        uid, gid = os.getuid(), os.getgid()
        name = pwd.getpwuid(uid).pw_name
        users = (
            f"default_internal_user = {name}\n"
            f"default_internal_group = {grp.getgrgid(gid).gr_name}\n"
            f"default_login_user = {name}"
        )
    port = free_port()
    config = os.path.join(root, "dovecot.conf")
    with open(config, "w") as f:
        f.write(
            DOVECOT_CONF.format(
                root=root, mail=mail, users=users, uid=uid, gid=gid, port=port
            )
        )
    with open(os.path.join(root, "passwd"), "w") as f:
        f.write(f"{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}\n")
    proc = subprocess.Popen([DOVECOT, "-F", "-c", config])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = Path(root, "dovecot.log")
                    pytest.fail(
                        "Dovecot did not start: "
                        + (log.read_text() if log.exists() else "no log")
                    )
                time.sleep(0.1)
        yield {"host": "127.0.0.1", "port": port}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


def imap_connect(server) -> imaplib.IMAP4:
    connection = imaplib.IMAP4(server["host"], server["port"], timeout=10)
    connection.login(IMAP_USER, IMAP_PASSWORD)
    connection.select("INBOX")
    return connection


@pytest.fixture
def mailbox(imap_server):
    """The user's INBOX, emptied, and a way to deliver mail into it."""
    connection = imap_connect(imap_server)
    if connection.search(None, "ALL")[1][0]:
        connection.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
        connection.expunge()

    class Mailbox:
        server = imap_server

        def deliver(self, raw: bytes) -> None:
            status, _ = connection.append("INBOX", None, None, raw)
            assert status == "OK"

        def flags(self) -> list[str]:
            connection.noop()
            _, data = connection.fetch("1:*", "(FLAGS)")
            return [d.decode() for d in data if d]

        def search(self, *criteria: str) -> list[bytes]:
            connection.noop()
            _, data = connection.search(None, *criteria)
            return data[0].split()

    yield Mailbox()
    connection.logout()


def run_imap(server, **kwargs):
    return process_imap(
        server["host"],
        server["port"],
        IMAP_USER,
        IMAP_PASSWORD,
        ssl=False,
        **kwargs,
    )


def test_imap_processes_unseen_mail_once(db, mailbox, outbox_mail):
    hard = outbox_mail()
    soft = outbox_mail()
    mailbox.deliver(returned("postfix_user_unknown.eml", hard))
    mailbox.deliver(returned("postfix_quota_522.eml", soft))

    report = run_imap(mailbox.server)

    assert (report.address_dead, report.mailbox, report.total) == (1, 1, 2)
    assert reload(db, Customer, hard.customer_id).bounced_at is not None
    assert reload(db, Customer, soft.customer_id).delivery_failures == 1
    invitation = db.session.get(Invitation, hard.invitation_id)
    assert invitation.status == InvitationStatus.BOUNCED
    assert mailbox.search("UNSEEN") == []
    assert len(mailbox.search("SEEN")) == 2
    assert all(r"\Deleted" not in flags for flags in mailbox.flags())

    again = run_imap(mailbox.server)
    assert again.total == 0
    assert reload(db, Customer, soft.customer_id).delivery_failures == 1


def test_imap_leaves_seen_mail_alone(db, mailbox, outbox_mail):
    message = outbox_mail()
    mailbox.deliver(returned("postfix_quota_522.eml", message))
    imap = imap_connect(mailbox.server)
    imap.store("1:*", "+FLAGS.SILENT", r"(\Seen)")
    imap.logout()
    assert run_imap(mailbox.server).total == 0
    assert reload(db, Customer, message.customer_id).delivery_failures == 0


def test_imap_after_a_crash_between_commit_and_flag(db, mailbox, outbox_mail):
    # The bounce was committed, but the run died before flagging it seen.
    message = outbox_mail()
    raw = returned("postfix_quota_522.eml", message)
    process_bounce(raw)
    db.session.commit()
    mailbox.deliver(raw)

    report = run_imap(mailbox.server)

    assert (report.mailbox, report.duplicate) == (0, 1)
    assert reload(db, Customer, message.customer_id).delivery_failures == 1
    assert mailbox.search("UNSEEN") == []


def test_imap_delete_removes_bounces_and_keeps_other_mail(db, mailbox, outbox_mail):
    message = outbox_mail()
    mailbox.deliver(returned("postfix_user_unknown.eml", message))
    mailbox.deliver(returned("exim_failed.eml", None))
    mailbox.deliver((DATA / "plain_reply.eml").read_bytes())
    mailbox.deliver(b"\x00\xff\xfe" * 50)

    report = run_imap(mailbox.server, delete=True)

    assert (
        report.address_dead,
        report.unmatched,
        report.ignored,
        report.unreadable,
    ) == (
        1,
        1,
        1,
        1,
    )
    # The reply and the unreadable message stay, seen, for a person to look at.
    assert len(mailbox.search("ALL")) == 2
    assert mailbox.search("UNSEEN") == []
    assert reload(db, Customer, message.customer_id).bounced_at is not None


def test_imap_limit_leaves_the_rest_for_the_next_run(db, mailbox, outbox_mail):
    messages = [outbox_mail() for _ in range(3)]
    for message in messages:
        mailbox.deliver(returned("postfix_quota_522.eml", message))
    assert run_imap(mailbox.server, limit=2).mailbox == 2
    assert len(mailbox.search("UNSEEN")) == 1
    assert run_imap(mailbox.server, limit=2).mailbox == 1
    assert mailbox.search("UNSEEN") == []


def test_imap_wrong_password_is_a_mailbox_error(mailbox):
    server = mailbox.server
    expected = "login as 'bounces' failed: .*Authentication failed"
    with pytest.raises(MailboxError, match=expected):
        process_imap(server["host"], server["port"], IMAP_USER, "wrong", ssl=False)


def test_imap_missing_folder_is_a_mailbox_error(mailbox):
    with pytest.raises(MailboxError, match="selecting Bounces Archive failed"):
        run_imap(mailbox.server, folder="Bounces Archive")


def test_worker_job_polls_the_configured_mailbox(app, db, mailbox, outbox_mail):
    message = outbox_mail()
    mailbox.deliver(returned("postfix_user_unknown.eml", message))
    app.config.update(
        BOUNCE_IMAP_HOST=mailbox.server["host"],
        BOUNCE_IMAP_PORT=mailbox.server["port"],
        BOUNCE_IMAP_USER=IMAP_USER,
        BOUNCE_IMAP_PASSWORD=IMAP_PASSWORD,
        BOUNCE_IMAP_SSL=False,
    )
    report = run_bounce_job(app)
    assert isinstance(report, bounce_processing.Report)
    assert report.address_dead == 1
    assert reload(db, Customer, message.customer_id).bounced_at is not None
    # Within the interval the next pass does not even connect.
    mailbox.deliver(returned("postfix_quota_522.eml", message))
    assert run_bounce_job(app) is None
    assert len(mailbox.search("UNSEEN")) == 1
    assert run_bounce_job(app, force=True).mailbox == 1


def test_command_with_imap(app, db, runner, cli, mailbox, outbox_mail):
    message = outbox_mail()
    mailbox.deliver(returned("postfix_user_unknown.eml", message))
    app.config.update(
        BOUNCE_IMAP_HOST=mailbox.server["host"],
        BOUNCE_IMAP_PORT=mailbox.server["port"],
        BOUNCE_IMAP_USER=IMAP_USER,
        BOUNCE_IMAP_PASSWORD=IMAP_PASSWORD,
        BOUNCE_IMAP_SSL="false",
    )
    result = runner.invoke(args=[*cli, "--imap"])
    assert result.exit_code == 0, result.output
    assert "address dead 1," in result.output
    assert mailbox.search("UNSEEN") == []
