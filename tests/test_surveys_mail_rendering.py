"""Survey mail written a batch at a time and rendered for the wire without
message objects: byte for byte what the one-at-a-time code wrote."""

import random
from datetime import UTC, datetime, timedelta
from email import policy
from email.charset import QP, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from io import BytesIO
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask_mail import sanitize_address

from karn import clock
from karn import worker as worker_module
from karn.customers.models import Customer
from karn.customers.operations import upsert_departures
from karn.enums import InvitationStatus, Source
from karn.surveys import delivery, links, mails, wire
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Invitation, OutboxMessage
from karn.worker import Worker

DATE = "Mon, 02 Mar 2026 11:00:00 +0100"

# The rendering as it was, with the email package's message objects.
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP
_WIRE = policy.compat32.clone(linesep="\r\n")


def _header(value):
    value = str(value)
    if "\r" in value or "\n" in value:
        raise ValueError(value)
    return value if value.isascii() else Header(value, "utf-8")


def reference_render(message, sender) -> bytes:
    text = MIMEText(message.body_text or "", "plain", _UTF8, policy=_WIRE)
    if message.body_html:
        mime = MIMEMultipart("alternative", policy=_WIRE)
        mime.attach(text)
        mime.attach(MIMEText(message.body_html, "html", _UTF8, policy=_WIRE))
    else:
        mime = text
    if message.subject:
        mime["Subject"] = _header(message.subject)
    mime["From"] = _header(sanitize_address(sender))
    mime["To"] = _header(sanitize_address(message.to_address))
    mime["Date"] = DATE
    mime["Message-ID"] = message.message_id
    extra = {"X-Karn-Message": str(message.id), **(message.headers or {})}
    for name, value in extra.items():
        mime[name] = _header(value)
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_WIRE).flatten(mime)
    return out.getvalue()


@pytest.fixture
def fixed(monkeypatch):
    """The same boundary and Date on both sides."""
    draws = random.Random(5)
    monkeypatch.setattr(random, "randrange", lambda n: draws.randrange(n))
    monkeypatch.setattr(wire, "formatdate", lambda localtime=False: DATE)
    return draws


PIECES = [
    "Beste Jürgen Müller,",
    "Å",  # 0xC3 0x85 in UTF-8: 0x85 is a line break to str.splitlines
    "\x85\x0b\x0c\x1c",
    "=",
    "==",
    " ",
    "\t",
    "  ",
    "From me",
    ".",
    "https://karn.example.nl/s/abc_DEF-123",
    "x" * 70,
    "y" * 75,
    "z" * 76,
    "w" * 77,
    "€ 12,50",
    "😀",
    "<p>",
    "\n",
    "\r\n",
    "\r",
    "\n\n",
]


def text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 40)))


def header_value(rng: random.Random) -> str:
    words = ["<https://karn.example/u/MTIz.abc>,", "a", "Jürgen", "x" * 60, ";"]
    words += ["", " ", "b=c", "(note)", "mailto:x@y?subject=unsubscribe%20T"]
    return " ".join(rng.choice(words) for _ in range(rng.randrange(1, 8)))


def test_wire_bytes_are_those_of_the_email_package(app, fixed):
    rng = random.Random(7)
    sender = app.config["MAIL_DEFAULT_SENDER"]
    with app.app_context():
        for i in range(400):
            message = OutboxMessage(
                id=i + 1,
                to_address=rng.choice(["jan@example.nl", "Jürgen <j@example.de>"]),
                subject=rng.choice(["", "Waarom?", "Jürgen, " + "w" * 80, text(rng)]),
                body_text=text(rng),
                body_html=rng.choice([None, "", text(rng)]),
                message_id=f"<{i}.{'1' * rng.randrange(1, 60)}@karn.example>",
                headers={
                    "List-Unsubscribe": header_value(rng),
                    "X-Short": rng.choice(["a  b", "a ", " a", "ok", "é"]),
                },
            )
            try:
                expected = reference_render(message, sender)
            except ValueError:
                with pytest.raises(ValueError):
                    wire.render(message)
                continue
            fixed.seed(i)
            expected = reference_render(message, sender)
            fixed.seed(i)
            assert wire.render(message) == expected, message.__dict__


def test_header_lines_as_compat32_folds_them():
    rng = random.Random(3)
    alphabet = "ab;, =<>\t" + "".join(chr(c) for c in range(33, 127))
    for _ in range(3000):
        name = rng.choice(["To", "Subject", "List-Unsubscribe", "X-Karn-Message"])
        value = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 90)))
        if "\r" in value or "\n" in value:
            continue
        assert wire._fold(name, value) == _WIRE.fold_binary(name, _header(value))


NAMES = [
    None,
    "",
    "   ",
    "Jan Jansen",
    "  Jan  ",
    "<b>Jan</b> & \"Piet\" 'O'",
    "Zoë %(company)s %s {{ x }}",
    "😀 Müller",
]


@pytest.mark.parametrize("kind", ["invitation", "reminder"])
def test_a_batch_of_mails_is_what_each_alone_would_be(app, kind):
    with app.app_context():
        recipients = [
            mails.Recipient(
                customer_id=100 + i,
                invitation_id=500 + i,
                name=name,
                language=language,
                token=links.invitation_token(500 + i) if i % 2 else None,
            )
            for i, (name, language) in enumerate(
                (name, language) for language in ("nl", "en") for name in NAMES
            )
        ]
        batch = mails.survey_mails(kind, recipients)
        for person, mail in zip(recipients, batch, strict=True):
            customer = SimpleNamespace(id=person.customer_id, name=person.name)
            alone = mails.survey_mail(
                kind, customer, person.invitation_id, person.language
            )
            assert mail == alone


def test_a_template_the_markers_cannot_stand_for_is_rendered_per_person(
    app, monkeypatch
):
    real = mails.render_template

    def upper_name(template, **context):
        if context.get("name"):
            context["name"] = context["name"].upper()
        return real(template, **context)

    monkeypatch.setattr(mails, "render_template", upper_name)
    with app.app_context():
        people = [
            mails.Recipient(1, 2, "Jan", "nl"),
            mails.Recipient(3, 4, "Piet", "nl"),
        ]
        batch = mails.survey_mails("invitation", people)
    assert "Beste JAN," in batch[0]["body_text"]
    assert "Beste PIET," in batch[1]["body_text"]


def test_a_batch_mails_only_those_who_may_be_mailed(app, db):
    start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    clock.freeze(start)
    try:
        ensure_default_survey()
        records = [
            (
                {
                    "external_id": f"C{i}",
                    "email": f"p{i}@example.nl",
                    "name": f"Klant {i}",
                    "language": "en" if i % 3 == 0 else "nl",
                    "departed_at": start - timedelta(days=3),
                },
                {},
            )
            for i in range(50)
        ]
        ids = upsert_departures(records, Source.API).ids
        db.session.commit()
        delivery.suppress("p3@example.nl", "complaint")
        erased = db.session.get(Customer, ids[7])
        erased.erased_at, erased.email = clock.now(), None
        db.session.get(Customer, ids[11]).bounced_at = clock.now()
        db.session.get(Customer, ids[12]).unsubscribed_at = clock.now()
        db.session.commit()
        invited, skipped, more = delivery.prepare_due_invitations(clock.now())
    finally:
        clock.freeze(None)
    assert (invited, skipped, more) == (46, 4, False)
    written = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id))
    written = written.all()
    addresses = {f"p{i}@example.nl" for i in range(50) if i not in (3, 7, 11, 12)}
    assert {m.to_address for m in written} == addresses
    assert len({m.message_id for m in written}) == 46
    db.session.expire_all()
    by_customer = {
        i.customer_id: i for i in db.session.scalars(sa.select(Invitation)).all()
    }
    assert by_customer[ids[3]].status == InvitationStatus.UNSUBSCRIBED
    assert by_customer[ids[7]].status == InvitationStatus.CANCELLED
    assert by_customer[ids[11]].status == InvitationStatus.BOUNCED
    assert by_customer[ids[12]].status == InvitationStatus.UNSUBSCRIBED
    for message in written:
        invitation = db.session.get(Invitation, message.invitation_id)
        assert invitation.token_hash == links.token_hash(
            links.invitation_token(invitation.id)
        )
        assert invitation.survey_version_id is not None
        assert invitation.expires_at is not None
        customer = db.session.get(Customer, message.customer_id)
        alone = mails.survey_mail(
            "invitation", customer, invitation.id, customer.language.value
        )
        assert message.language.value == customer.language.value
        assert (message.subject, message.body_text, message.body_html) == (
            alone["subject"],
            alone["body_text"],
            alone["body_html"],
        )
        assert message.headers == alone["headers"]
    # Claimed once: a second pass writes nothing.
    assert delivery.prepare_due_invitations(clock.now()) == (0, 0, False)


def test_the_worker_writes_and_sends_a_backlog_a_batch_at_a_time(
    app, db, smtp_server, monkeypatch
):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    monkeypatch.setattr(delivery, "BATCH", 5)
    start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    clock.freeze(start)
    try:
        ensure_default_survey()
        records = [
            (
                {
                    "external_id": f"C{i}",
                    "email": f"p{i}@example.nl",
                    "departed_at": start - timedelta(days=3),
                },
                {},
            )
            for i in range(12)
        ]
        upsert_departures(records, Source.API)
        db.session.commit()
        # Out of time after the first batch: the rest waits for the next
        # pass, which follows at once.
        monkeypatch.setattr(worker_module, "MAIL_SLICE_SECONDS", 0)
        worker = Worker(app, "w")
        assert worker.run_once().sent == 5
        assert worker.backlog
        monkeypatch.setattr(worker_module, "MAIL_SLICE_SECONDS", 45)
        assert worker.run_once().sent == 7
        assert not worker.backlog
    finally:
        clock.freeze(None)
    recipients = sorted(m[1][0] for m in smtp_server.handler.messages)
    assert recipients == sorted(f"p{i}@example.nl" for i in range(12))
