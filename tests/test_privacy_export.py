"""The access request: every record about the person, as JSON and as a page."""

import sqlalchemy as sa

from karn.extensions import db as _db
from tests.test_privacy_erasure import (  # noqa: F401
    EMAIL,
    NAME,
    privacy_app,
    seed_world,
)


def test_export_holds_every_record_about_the_person(
    privacy_app,  # noqa: F811
    create_customer,
    create_user,
):
    from karn.accounts.models import AuditEntry
    from karn.callbacks.models import CallNote, CallTask
    from karn.privacy.operations import export_person
    from karn.surveys.models import Answer, Invitation, OutboxMessage, Response

    person, other = seed_world(create_customer, create_user)
    data = export_person(person)

    def ids(model, *where):
        return sorted(_db.session.scalars(sa.select(model.id).where(*where)))

    assert data["customer"]["email"] == EMAIL
    assert data["customer"]["extra"] == {"contact": NAME, "city": "Utrecht"}
    assert [i["id"] for i in data["invitations"]] == ids(
        Invitation, Invitation.customer_id == person.id
    )
    assert [m["id"] for m in data["mails"]] == ids(
        OutboxMessage, OutboxMessage.customer_id == person.id
    )
    assert all(m["body_text"] for m in data["mails"])
    assert [r["id"] for r in data["responses"]] == ids(
        Response, Response.customer_id == person.id
    )
    response = data["responses"][0]
    answer_ids = ids(Answer, Answer.response_id == response["id"])
    assert sorted(a["id"] for a in response["answers"]) == answer_ids
    assert any(NAME in (a["text"] or "") for a in response["answers"])
    assert len(response["reasons_shown"]) == 6
    assert [t["id"] for t in data["call_tasks"]] == ids(
        CallTask, CallTask.customer_id == person.id
    )
    assert [n["id"] for n in data["call_notes"]] == ids(
        CallNote, CallNote.customer_id == person.id
    )
    assert data["call_notes"][0]["reasons"] == ["service"]
    about = {e["action"] for e in data["audit_log"]}
    assert about == {"customer.update", "mail.bounce", "mail.unsubscribe"}
    others = ids(
        AuditEntry,
        AuditEntry.target_type == "customers",
        AuditEntry.target_id == str(other.id),
    )
    assert not set(others) & {e["id"] for e in data["audit_log"]}
    files = sorted(r["file"] for r in data["import_rows"])
    assert files == ["rejected_csv", "upload"]
    assert all(EMAIL in r["row"].values() for r in data["import_rows"])
    # Nothing about the bystander.
    assert "piet@example.nl" not in str(data)


def test_export_pages_are_downloadable_printable_and_audited(
    privacy_app,  # noqa: F811
    client,
    create_customer,
    create_user,
    login,
):
    from karn.accounts.models import AuditEntry

    person, _ = seed_world(create_customer, create_user)
    login(create_user("admin"))
    download = client.get(f"/privacy/customers/{person.id}/export.json")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.json["customer"]["name"] == NAME
    page = client.get(f"/privacy/customers/{person.id}/export")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert EMAIL in html and "Beste" in html
    formats = _db.session.scalars(
        sa.select(AuditEntry.details).where(AuditEntry.action == "privacy.export")
    ).all()
    assert sorted(d["format"] for d in formats) == ["html", "json"]


def test_export_is_for_admins(privacy_app, client, create_customer, create_user, login):  # noqa: F811
    customer = create_customer()
    login(create_user("manager"))
    assert client.get(f"/privacy/customers/{customer.id}/export").status_code == 403
    assert (
        client.get(f"/privacy/customers/{customer.id}/export.json").status_code == 403
    )
