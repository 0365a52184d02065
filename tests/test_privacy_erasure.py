"""Erasure: nothing of the person is left anywhere, and the ranking stays the same."""

import gzip
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from karn import clock
from karn.extensions import db as _db
from tests.conftest import csrf_token

EMAIL = "jan.devries@example.nl"
NAME = "Jan de Vries"
PHONE = "+31 6 1234 5678"
ANSWER_PHONE = "06-87654321"
EXTERNAL_ID = "JDV-7781"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@pytest.fixture
def privacy_app(app):
    """The app with the privacy blueprint, commands and API route, as app.py will.

    Registered only where app.py does not do so yet, and before any request.
    """
    from karn.api.auth import api_key_required
    from karn.api.privacy import erase_departure
    from karn.customers.cli import customers_cli
    from karn.privacy import cli as privacy_cli
    from karn.privacy.views import bp

    if "privacy" not in app.blueprints:
        app.register_blueprint(bp)
    if "privacy" not in app.cli.commands:
        privacy_cli.register(app)
    if "erase" not in customers_cli.commands:
        customers_cli.add_command(privacy_cli.erase_command)
    if "api.delete_departure" not in app.view_functions:
        app.add_url_rule(
            "/api/v1/departures/<external_id>",
            endpoint="api.delete_departure",
            view_func=api_key_required(erase_departure),
            methods=["DELETE"],
        )
    return app


def _csv_gz(text: str) -> bytes:
    return gzip.compress(("\ufeff" + text).encode("utf-8"))


def _submit(customer, invitation, clean, lang="nl"):
    from karn.surveys import responses
    from karn.surveys.definition import default_questions

    questions = default_questions()
    codes = ["service", "quality", "brand", "price", "need", "other"]
    responses.submit_invitation(
        invitation_id=invitation.id,
        customer_id=customer.id,
        version_id=invitation.survey_version_id,
        questions=questions,
        clean=clean,
        shown_orders={"main_reason": codes, "other_reasons": codes},
        lang=lang,
        has_progress=False,
    )
    _db.session.commit()


def _answers(reason, text, phone=None):
    clean = {
        "main_reason": reason,
        "other_reasons": ["price"],
        "ratings": {"service": 2, "quality": 3, "value": 4},
        "keep_you": text,
        "come_back": 4,
        "callback": phone is not None,
    }
    if phone:
        clean["callback_phone"] = {"phone": phone, "time": "after six, ask for Jan"}
    return clean


def seed_world(create_customer, create_user):
    """One person with data in every table, and a bystander who stays as is."""
    from karn.accounts import audit
    from karn.callbacks.models import CallNote, CallNoteReason
    from karn.customers.models import ImportRun
    from karn.enums import CallOutcome, InvitationStatus, OutboxStatus
    from karn.surveys import delivery
    from karn.surveys.editing import ensure_default_survey
    from karn.surveys.models import Invitation, OutboxMessage

    staff = create_user("admin", email="boss@example.com")
    ensure_default_survey()
    _db.session.commit()
    person = create_customer(
        email=EMAIL,
        name=NAME,
        phone=PHONE,
        external_id=EXTERNAL_ID,
        segment="smb",
        plan="pro",
        region="Utrecht",
        tenure_months=30,
        monthly_revenue=Decimal("49.00"),
        extra={"contact": NAME, "city": "Utrecht"},
        stated_reason="service",
        stated_comment=f"{NAME} says the helpdesk never answered",
    )
    other = create_customer(
        email="piet@example.nl",
        name="Piet Jansen",
        segment="smb",
        plan="basic",
        monthly_revenue=Decimal("19.00"),
    )
    delivery.schedule_invitations([person.id, other.id])
    _db.session.commit()
    delivery.run_due(clock.now() + timedelta(days=3))
    for message in _db.session.scalars(sa.select(OutboxMessage)):
        message.status, message.sent_at = OutboxStatus.SENT, clock.now()
    # A pending note nobody sent yet, with the name in it.
    _db.session.add(
        OutboxMessage(
            kind="note",
            customer_id=person.id,
            to_address=EMAIL,
            language="nl",
            subject=f"Voor {NAME}",
            body_text=f"Beste {NAME}, bel ons op {PHONE}.",
            body_html=f"<p>Beste {NAME}</p>",
            headers={"To": f"{NAME} <{EMAIL}>"},
            message_id="<note-1@karn.example>",
            status=OutboxStatus.PENDING,
        )
    )
    for invitation in _db.session.scalars(sa.select(Invitation)):
        invitation.status = InvitationStatus.SENT
        invitation.sent_at = clock.now()
    _db.session.commit()
    invitations = {i.customer_id: i for i in _db.session.scalars(sa.select(Invitation))}
    _submit(
        person,
        invitations[person.id],
        _answers("service", f"Ik ben {NAME}, mail me op {EMAIL}", ANSWER_PHONE),
    )
    _submit(
        other,
        invitations[other.id],
        _answers("price", "Te duur voor wat het deed"),
        lang="nl",
    )
    note = CallNote(
        customer_id=person.id,
        author_id=staff.id,
        outcome=CallOutcome.REACHED,
        text=f"Spoke with {NAME} on {PHONE}; unhappy with support.",
    )
    note.reasons.append(CallNoteReason(reason="service"))
    _db.session.add(note)
    # The person asked to be called; staff noted why on the task.
    from karn.callbacks.operations import open_task_for

    task = open_task_for(person.id)
    task.note = f"{NAME} rang the helpdesk angry, call back on {PHONE}"
    # A second invitation still open (scheduled) for the person.
    audit.record("customer.update", person, user=staff, email=EMAIL, name=NAME)
    audit.record(
        "mail.bounce",
        None,
        user=None,
        recipients=[EMAIL],
        reason=f"550 5.1.1 <{EMAIL}>: user unknown",
    )
    audit.record("mail.unsubscribe", person, channel="web")
    audit.record("customer.update", other, user=staff, email="piet@example.nl")
    header = "external_id,email,name,phone,departed_at\r\n"
    _db.session.add(
        ImportRun(
            filename="export.csv",
            status="done",
            rejected_csv=_csv_gz(
                "line,row,columns,reasons," + header.replace("\r\n", "") + "\r\n"
                f"3,4,departed_at,bad date,{EXTERNAL_ID},{EMAIL},{NAME},{PHONE},x\r\n"
                "4,5,email,bad,P2,piet@,Piet Jansen,,2024-01-01\r\n"
            ),
        )
    )
    _db.session.add(
        ImportRun(
            filename="pending.csv",
            status="pending",
            upload=_csv_gz(
                header + f'{EXTERNAL_ID},{EMAIL},"{NAME}",0612345678,2024-01-01\r\n'
                "P3,klaas@example.nl,Klaas,,2024-01-01\r\n"
            ),
        )
    )
    _db.session.commit()
    from karn.customers.models import Customer

    return _db.session.get(Customer, person.id), _db.session.get(Customer, other.id)


def _text_columns():
    for table in _db.metadata.sorted_tables:
        for column in table.columns:
            kind = column.type
            if isinstance(kind, sa.types.TypeDecorator):
                kind = kind.impl_instance
            if isinstance(kind, sa.String | sa.JSON):
                yield table, column, "text"
            elif isinstance(kind, sa.LargeBinary):
                yield table, column, "blob"


def find_everywhere(*needles: str) -> list[str]:
    """Every table.column holding one of the values, as text, JSON or gzip CSV."""
    hits = []
    lowered = [n.lower() for n in needles]
    with _db.engine.connect() as conn:
        for table, column, kind in _text_columns():
            if kind == "text":
                as_text = sa.func.lower(sa.cast(column, sa.Text))
                for needle in lowered:
                    count = conn.scalar(
                        sa.select(sa.func.count())
                        .select_from(table)
                        .where(as_text.contains(needle, autoescape=True))
                    )
                    if count:
                        hits.append(f"{table.name}.{column.name}: {needle}")
            else:
                for (blob,) in conn.execute(
                    sa.select(column).where(column.is_not(None))
                ):
                    data = bytes(blob)
                    try:
                        data = gzip.decompress(data)
                    except OSError:
                        pass
                    text = data.decode("utf-8", "replace").lower()
                    hits += [
                        f"{table.name}.{column.name}: {n}" for n in lowered if n in text
                    ]
    return hits


PERSONAL = (EMAIL, NAME, PHONE, "0612345678", ANSWER_PHONE, EXTERNAL_ID)


def _rankings():
    from dataclasses import asdict

    from karn.analysis import report
    from karn.analysis.queries import Filters, reason_counts

    # Filtered by customer fields, without the secondary reasons (their query
    # does not run on PostgreSQL with a customer filter; reported separately).
    return [
        report.ranking_json(Filters(), "count"),
        report.ranking_json(Filters(), "revenue"),
        asdict(reason_counts(Filters(segment="smb"), secondary=False)),
        asdict(reason_counts(Filters(period_by="departure", plan="pro"), False)),
    ]


def test_erasure_leaves_nothing_of_the_person_and_keeps_the_ranking(
    privacy_app, create_customer, create_user
):
    from karn.accounts.models import AuditEntry
    from karn.callbacks.models import CallNote, CallTask
    from karn.customers.erased import identifier_hash
    from karn.customers.models import ErasedPerson, Suppression
    from karn.enums import InvitationStatus, OutboxStatus
    from karn.privacy.operations import erase_customer
    from karn.surveys.delivery import email_hash
    from karn.surveys.models import Answer, Invitation, OutboxMessage, Response

    person, other = seed_world(create_customer, create_user)
    # The seed reaches every place the scan looks at.
    seeded = find_everywhere(*PERSONAL)
    for place in (
        "customers.email",
        "customers.name",
        "customers.extra",
        "customers.stated_comment",
        "outbox.body_text",
        "outbox.body_html",
        "outbox.to_address",
        "outbox.headers",
        "answers.text",
        "answers.value",
        "call_tasks.phone",
        "call_tasks.note",
        "call_notes.text",
        "audit_log.details",
        "import_runs.upload",
        "import_runs.rejected_csv",
    ):
        assert any(h.startswith(place + ":") for h in seeded), place
    before = _rankings()
    assert before[0]["n"] == 2
    bystander_before = find_everywhere("piet@example.nl", "Piet Jansen")

    report = erase_customer(person)
    _db.session.commit()

    assert find_everywhere(*PERSONAL) == []
    assert _rankings() == before
    # The bystander keeps everything, apart from the erased person's import rows.
    assert find_everywhere("piet@example.nl", "Piet Jansen") == bystander_before
    assert "klaas@example.nl" in str(find_everywhere("klaas@example.nl"))

    data = report.as_dict()
    assert data["removed"] == {
        "customer_fields": 5,
        "extra_attributes": 2,
        "answers": 2,  # keep_you and callback_phone
        "call_notes": 1,
        "call_tasks": 1,
        "mails": 2,
        "audit_entries": 2,
        "import_rows": 2,
        "import_files": 0,
        "feedback_items": 0,
        "experiment_assignments": 0,
        "webhook_payloads": 0,
    }
    assert data["closed"] == {
        "invitations_cancelled": 0,  # answered already
        "mails_cancelled": 1,
        "call_tasks_closed": 1,
        "addresses_suppressed": 1,
        "identifiers_hashed": 1,
    }
    assert data["kept"]["responses"] == 1
    assert data["kept"]["shown_reasons"] == 6
    assert data["kept"]["answers"] == 5  # reasons, ratings, come back, callback
    assert data["kept"]["customer_attributes"] >= 8

    person = _db.session.get(type(person), person.id)
    assert person.erased_at is not None
    assert (person.segment, person.plan, person.region) == ("smb", "pro", "Utrecht")
    assert person.monthly_revenue == Decimal("49.00")
    assert person.extra == {}
    response = _db.session.scalars(
        sa.select(Response).where(Response.customer_id == person.id)
    ).one()
    assert response.primary_reason.value == "service"
    answers = {a.question_key: a for a in response.answers}
    assert answers["keep_you"].text is None and answers["keep_you"].value is None
    assert answers["keep_you"].sentiment is not None  # the tag stays
    assert answers["callback_phone"].value is None
    assert answers["ratings"].value == {"service": 2, "quality": 3, "value": 4}
    note = _db.session.scalars(sa.select(CallNote)).one()
    assert note.text is None and [r.reason.value for r in note.reasons] == ["service"]
    task = _db.session.scalars(
        sa.select(CallTask).where(CallTask.customer_id == person.id)
    ).one()
    assert task.status.value == "closed"
    mails = _db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.customer_id == person.id)
    ).all()
    assert {m.status for m in mails} == {OutboxStatus.SENT, OutboxStatus.CANCELLED}
    suppression = _db.session.get(Suppression, email_hash(EMAIL))
    assert suppression.email is None and suppression.reason == "erased"
    # Email and number stay as hashes only, with the day, for intake to refuse.
    kept = _db.session.scalars(sa.select(ErasedPerson)).one()
    assert kept.email_hash == email_hash(EMAIL)
    assert kept.external_id_hash == identifier_hash(f"  {EXTERNAL_ID.lower()} ")
    assert kept.erased_on == person.erased_at.astimezone(AMSTERDAM).date()
    entry = _db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "privacy.erase")
    ).one()
    assert entry.target_id == str(person.id)
    assert entry.details == {"reason": "request"}
    unsubscribe = _db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "mail.unsubscribe")
    ).one()
    assert unsubscribe.details == {"channel": "web"}  # not about identity: kept
    assert (
        _db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Invitation)
            .where(Invitation.status == InvitationStatus.CANCELLED)
        )
        == 0
    )
    assert (
        _db.session.scalar(sa.select(sa.func.count()).select_from(Answer)) == 13
    )  # no row deleted


def test_reimport_of_an_erased_person_stores_nothing_and_sends_no_mail(
    privacy_app, create_customer, create_user
):
    from karn.customers.operations import import_csv
    from karn.privacy.operations import erase_customer
    from karn.surveys import delivery
    from karn.surveys.models import OutboxMessage

    person, _other = seed_world(create_customer, create_user)
    erase_customer(person)
    _db.session.commit()
    left = (clock.now() - timedelta(days=3)).strftime("%d-%m-%Y")
    csv_bytes = (
        "external_id,email,name,phone,departed_at\n"
        f"{EXTERNAL_ID},{EMAIL},{NAME},{PHONE},{left}\n"
        f"N1,new.person@example.nl,New Person,,{left}\n"
    ).encode()
    report = import_csv(io.BytesIO(csv_bytes))
    assert (report.rows, report.created, report.rejected) == (2, 1, 1)
    (error,) = report.errors
    assert error.line == 2
    assert "erased on" in error.errors[0].message("en")
    assert "gewist op" in error.errors[0].message("nl")
    # The row is rejected, not stored: nothing of the person anywhere.
    assert find_everywhere(*PERSONAL) == []
    delivery.run_due(clock.now() + timedelta(days=3))

    to_person = _db.session.scalars(
        sa.select(OutboxMessage).where(sa.func.lower(OutboxMessage.to_address) == EMAIL)
    ).all()
    assert to_person == []
    to_new = _db.session.scalars(
        sa.select(OutboxMessage).where(
            OutboxMessage.to_address == "new.person@example.nl"
        )
    ).all()
    assert len(to_new) == 1  # the schedule ran, and skipped only the erased person


def test_preview_changes_nothing_and_matches_the_erasure(
    privacy_app, create_customer, create_user
):
    from karn.privacy.operations import erase_customer, preview_erasure

    person, _ = seed_world(create_customer, create_user)
    before = find_everywhere(*PERSONAL)
    preview = preview_erasure(person)
    _db.session.commit()
    assert find_everywhere(*PERSONAL) == before
    report = erase_customer(person)
    _db.session.commit()
    expected = preview.as_dict()
    expected["dry_run"] = False
    assert report.as_dict() == expected


def test_an_existing_suppression_loses_its_readable_address(
    privacy_app, create_customer
):
    from karn.customers.models import Suppression
    from karn.privacy.operations import erase_customer
    from karn.surveys.delivery import email_hash, suppress

    customer = create_customer(email="ann@example.nl")
    suppress("ann@example.nl", "unsubscribed")
    _db.session.commit()
    report = erase_customer(customer)
    _db.session.commit()
    entry = _db.session.get(Suppression, email_hash("ann@example.nl"))
    assert (entry.email, entry.reason) == (None, "unsubscribed")
    assert report.closed["addresses_suppressed"] == 1
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(Suppression)) == 1


def _admin_client(client, create_user, login):
    admin = create_user("admin")
    login(admin)
    return admin


def test_admin_page_shows_what_goes_and_what_stays_then_erases(
    privacy_app, client, create_customer, create_user, login, post_form
):
    person, _ = seed_world(create_customer, create_user)
    _admin_client(client, create_user, login)
    url = f"/privacy/customers/{person.id}/erase"
    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Will be removed" in html and "Will be kept" in html
    assert "Free-text and phone answers" in html
    done = post_form(url, {})
    assert done.status_code == 200
    assert "Personal data erased" in done.get_data(as_text=True)
    assert find_everywhere(*PERSONAL) == []
    again = client.get(url).get_data(as_text=True)
    assert "was erased on" in again


def test_erasure_page_is_for_admins_only(
    privacy_app, client, create_customer, create_user, login
):
    customer = create_customer()
    login(create_user("manager"))
    assert client.get(f"/privacy/customers/{customer.id}/erase").status_code == 403


def test_api_delete_erases_and_returns_the_report(
    privacy_app, client, create_customer, create_user
):
    from karn.accounts.models import AuditEntry
    from karn.accounts.operations import create_api_key

    person, _ = seed_world(create_customer, create_user)
    key, secret = create_api_key("crm")
    _db.session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.delete(f"/api/v1/departures/{EXTERNAL_ID}").status_code == 401
    response = client.delete(f"/api/v1/departures/{EXTERNAL_ID}", headers=headers)
    assert response.status_code == 200
    body = response.json
    assert body["customer_ids"] == [person.id]
    assert body["removed"]["customer_fields"] == 5
    assert find_everywhere(*PERSONAL) == []
    entry = _db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "privacy.erase")
    ).one()
    assert entry.api_key_id == key.id
    again = client.delete(f"/api/v1/departures/{EXTERNAL_ID}", headers=headers)
    assert again.status_code == 404 and again.json["error"] == "not_found"


def test_cli_erase_by_email_and_by_external_id(privacy_app, create_customer, runner):
    from karn.customers.models import Customer

    first = create_customer(email="one@example.nl", name="One Person")
    second = create_customer(external_id="EXT-2", email="two@example.nl")
    result = runner.invoke(args=["customers", "erase", "--email", "one@example.nl"])
    assert result.exit_code == 1  # asks, and standard input is empty
    assert _db.session.get(Customer, first.id).erased_at is None
    dry = runner.invoke(
        args=["customers", "erase", "--email", "ONE@example.nl", "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    _db.session.expire_all()
    assert _db.session.get(Customer, first.id).erased_at is None
    done = runner.invoke(
        args=["customers", "erase", "--email", "one@example.nl", "--yes", "--json"]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["removed"]["customer_fields"] == 3
    done = runner.invoke(args=["customers", "erase", "--external-id", "EXT-2", "--yes"])
    assert done.exit_code == 0, done.output
    _db.session.expire_all()
    assert _db.session.get(Customer, first.id).erased_at is not None
    assert _db.session.get(Customer, second.id).email is None
    missing = runner.invoke(args=["customers", "erase", "--external-id", "nobody"])
    assert missing.exit_code == 1
    both = runner.invoke(
        args=["customers", "erase", "--external-id", "x", "--email", "y@z.nl"]
    )
    assert both.exit_code == 2


# --- Erased people stay erased: intake refuses their old departures -----------


def _erase_at(moment: datetime, **fields):
    """A customer erased at a set moment; returns the day intake keeps."""
    from karn.customers.models import Customer
    from karn.privacy.operations import erase_customer

    customer = Customer(source="csv", departed_at=moment - timedelta(days=40), **fields)
    _db.session.add(customer)
    _db.session.commit()
    clock.freeze(moment)
    try:
        erase_customer(customer)
        _db.session.commit()
    finally:
        clock.freeze(None)
    return customer


def _import(text: str):
    from karn.customers.operations import import_csv

    return import_csv(io.BytesIO(text.encode()))


def _customers_with(**where):
    from karn.customers.models import Customer

    _db.session.expire_all()
    query = sa.select(Customer).filter_by(**where)
    return _db.session.scalars(query).all()


def test_the_import_page_rejects_the_erased_row_and_keeps_none_of_it(
    privacy_app, client, create_customer, create_user, login
):
    from babel.dates import format_date

    from karn.customers.models import ImportRun
    from karn.privacy.operations import erase_customer
    from tests.test_customers_import import confirm, upload

    person, _ = seed_world(create_customer, create_user)
    erase_customer(person)
    _db.session.commit()
    today = clock.now().astimezone(AMSTERDAM).date()
    login(create_user("manager", language="nl"))
    left = (clock.now() - timedelta(days=3)).strftime("%d-%m-%Y")
    data = (
        "Klantnummer;E-mailadres;Naam;Telefoon;Opzegdatum\r\n"
        f"{EXTERNAL_ID};{EMAIL};{NAME};{PHONE};{left}\r\n"
        f"N1;nieuw@example.nl;Nieuwe Klant;;{left}\r\n"
        # A bad row of the person: rejected for its date, and kept without values.
        f"X9;{EMAIL.upper()};{NAME};{PHONE};31-02-2026\r\n"
    ).encode()
    url, preview = upload(client, data)
    result = client.get(confirm(client, url, preview).location).get_data(as_text=True)
    # Three rows read, one new customer, two rejected.
    assert re.findall(r'class="figure">([^<]*)', result) == ["3", "1", "0", "0", "2"]
    run = _db.session.scalars(
        sa.select(ImportRun).where(ImportRun.filename == "export.csv")
    ).all()[-1]
    rejected = client.get(f"/customers/import/{run.id}/rejected.csv")
    lines = rejected.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert len(lines) == 3
    erased_on = f"gewist op {format_date(today, 'medium', locale='nl')}"
    # Written as the upload was: semicolons; the line, then the reason.
    assert lines[1].startswith("2;") and erased_on in lines[1]
    assert lines[2].startswith("4;") and erased_on in lines[2]
    assert "Opzegdatum" in lines[2]  # its own fault is still named
    assert [c.name for c in _customers_with(external_id="N1")] == ["Nieuwe Klant"]
    assert find_everywhere(*PERSONAL) == []


def test_a_departure_after_the_day_of_the_erasure_is_a_new_customer(privacy_app):
    from karn.customers.models import Customer

    # 23:30 UTC is 00:30 the next day in Amsterdam: the erasure's day is 2 Nov.
    old = _erase_at(
        datetime(2026, 11, 1, 23, 30, tzinfo=UTC), external_id="K7", email="k@x.nl"
    )
    header = "external_id,email,name,departed_at\n"
    for day in ("01-11-2026", "02-11-2026"):
        report = _import(header + f"K7,k@x.nl,Kim,{day}\n")
        assert (report.created, report.rejected) == (0, 1)
        (problem,) = report.errors[0].errors
        assert "erased on 2 Nov 2026" in problem.message("en")
        assert "gewist op 2 nov 2026" in problem.message("nl")
    assert _customers_with(external_id="K7") == []
    report = _import(header + "K7,k@x.nl,Kim Again,03-11-2026\n")
    assert (report.created, report.rejected) == (1, 0)
    (new,) = _customers_with(external_id="K7")
    assert (new.name, new.email, new.erased_at) == ("Kim Again", "k@x.nl", None)
    assert new.departed_at.date() == date(2026, 11, 3)
    erased = _db.session.get(Customer, old.id)
    assert erased.erased_at is not None and erased.name is None
    # The old export still cannot bring the old departure back.
    again = _import(header + "K7,k@x.nl,Kim,01-11-2026\n")
    assert (again.created, again.updated, again.rejected) == (0, 0, 1)
    assert _db.session.get(Customer, new.id).name == "Kim Again"


def test_an_undated_row_of_an_erased_person_is_rejected(privacy_app):
    _erase_at(clock.now() - timedelta(days=10), external_id="U1", email="u@x.nl")
    report = _import("external_id,email,name\nU1,,Uma\n,U@X.NL,Uma\nU2,,Ugo\n")
    assert (report.created, report.rejected) == (1, 2)
    assert _customers_with(name="Uma") == []


def test_one_address_under_two_customer_numbers_is_two_people(privacy_app):
    _erase_at(clock.now() - timedelta(days=1), external_id="F1", email="gezin@x.nl")
    left = (clock.now() - timedelta(days=5)).strftime("%d-%m-%Y")
    report = _import(
        "external_id,email,name,departed_at\n"
        f"F2,gezin@x.nl,Partner,{left}\n"  # another customer number: someone else
        f",gezin@x.nl,Unknown,{left}\n"  # no number: the erased person
    )
    assert (report.created, report.rejected) == (1, 1)
    assert [c.external_id for c in _customers_with(email="gezin@x.nl")] == ["F2"]


def test_people_erased_by_retention_are_not_imported_again(privacy_app, app):
    from karn.customers.models import Customer, ErasedPerson
    from karn.privacy.operations import enforce_retention

    long_ago = clock.now() - timedelta(days=800)
    _db.session.add_all(
        [
            Customer(
                external_id=f"R{i}",
                email=f"r{i}@x.nl",
                name=f"Old {i}",
                departed_at=long_ago,
                source="csv",
            )
            for i in range(3)
        ]
    )
    _db.session.commit()
    assert enforce_retention().customers == 3
    assert _db.session.scalar(sa.select(sa.func.count(ErasedPerson.id))) == 3
    left = long_ago.strftime("%d-%m-%Y")
    rows = "".join(f"R{i},r{i}@x.nl,Old {i},{left}\n" for i in range(3))
    report = _import("external_id,email,name,departed_at\n" + rows)
    assert (report.created, report.rejected) == (0, 3)
    assert find_everywhere("Old 0", "r1@x.nl", "R2") == []


def test_an_administrator_adds_an_erased_person_again_on_the_form(
    privacy_app, client, create_user, login, post_form
):
    from karn.accounts.models import AuditEntry
    from karn.customers.models import ErasedPerson

    _erase_at(clock.now() - timedelta(days=2), external_id="E1", email="e@x.nl")
    left = (clock.now() - timedelta(days=5)).strftime("%d-%m-%Y")
    form = {"external_id": "E1", "email": "e@x.nl", "name": "Eva", "departed_at": left}

    login(create_user("manager"))
    page = post_form("/customers/new", {**form, "add_again": "y"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "was erased on" in html and "Only an administrator" in html
    assert 'name="add_again"' not in html
    assert _customers_with(name="Eva") == []

    client.post("/logout", data={"csrf_token": csrf_token(client, "/customers/")})
    login(create_user("admin"))
    page = post_form("/customers/new", form)
    html = page.get_data(as_text=True)
    assert "was erased on" in html and 'name="add_again"' in html
    assert _customers_with(name="Eva") == []
    done = post_form("/customers/new", {**form, "add_again": "y"})
    assert done.status_code == 302
    (eva,) = _customers_with(name="Eva")
    assert (eva.external_id, eva.email) == ("E1", "e@x.nl")
    assert _db.session.scalar(sa.select(sa.func.count(ErasedPerson.id))) == 0
    entry = _db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "customer.add_erased_again")
    ).one()
    assert entry.target_id == str(eva.id) and entry.user_id is not None
    # Later imports of the person work again.
    report = _import(f"external_id,email,name,departed_at\nE1,e@x.nl,Eva B,{left}\n")
    assert (report.updated, report.rejected) == (1, 0)


def test_editing_a_customer_to_an_erased_address_asks_first(
    privacy_app, client, create_customer, create_user, login, post_form
):
    _erase_at(clock.now() - timedelta(days=2), external_id="E2", email="gone@x.nl")
    other = create_customer(external_id="L1", email="live@x.nl")
    login(create_user("manager"))
    left = other.departed_at.strftime("%d-%m-%Y")
    page = post_form(
        f"/customers/{other.id}/edit",
        {"external_id": "E2", "email": "live@x.nl", "departed_at": left},
    )
    assert page.status_code == 200 and "was erased on" in page.get_data(as_text=True)
    assert _customers_with(external_id="E2") == []
    # The same address under its own customer number is someone else.
    page = post_form(
        f"/customers/{other.id}/edit",
        {"external_id": "L1", "email": "gone@x.nl", "departed_at": left},
    )
    assert page.status_code == 302
    assert [c.external_id for c in _customers_with(email="gone@x.nl")] == ["L1"]
