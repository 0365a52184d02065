"""Every way a departure arrives leads to the same invitation schedule."""

import io
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.accounts.operations import create_api_key
from karn.customers.models import Customer
from karn.customers.operations import import_csv
from karn.surveys.models import Invitation, Survey, SurveyVersion
from tests.test_api_stripe import SECRET, event, signed


@pytest.fixture
def app_settings():
    return {"STRIPE_WEBHOOK_SECRET": SECRET}


@pytest.fixture
def survey(db):
    survey = Survey(name="Exit survey")
    db.session.add(SurveyVersion(survey=survey, number=1, questions=[]))
    db.session.commit()
    return survey


def invitations(db):
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(
            Customer.external_id, Invitation.status, Invitation.scheduled_for
        ).join(Invitation, Invitation.customer_id == Customer.id)
    ).all()
    return {ext: (status.value, when) for ext, status, when in rows}


def test_each_intake_path_schedules_one_invitation(
    client, db, survey, create_user, login, post_form
):
    today = clock.now().strftime("%d-%m-%Y")
    import_csv(
        io.BytesIO(f"id,email,departed_at\ncsv1,a@example.com,{today}\n".encode())
    )
    _, secret = create_api_key("crm")
    db.session.commit()
    client.post(
        "/api/v1/departures",
        json={"external_id": "api1", "email": "b@example.com"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    recent = event()
    recent["data"]["object"]["ended_at"] = int(clock.now().timestamp())
    body = json.dumps(recent)
    client.post("/webhooks/stripe", data=body, headers=signed(body))
    login(create_user("manager"))
    post_form(
        "/customers/new",
        {"external_id": "man1", "email": "c@example.com", "departed_at": today},
    )
    found = invitations(db)
    assert set(found) == {"csv1", "api1", "cus_42", "man1"}
    assert {status for status, _ in found.values()} == {"scheduled"}
    # Sending the same departure again schedules nothing more.
    import_csv(
        io.BytesIO(f"id,email,departed_at\ncsv1,a@example.com,{today}\n".encode())
    )
    assert db.session.scalar(sa.select(sa.func.count(Invitation.id))) == 4


def test_invitation_waits_for_the_delay_after_departure(db, survey, app):
    departed = clock.now() - timedelta(hours=1)
    import_csv(
        io.BytesIO(
            f"id,email,departed_at\nx,x@example.com,{departed.isoformat()}\n".encode()
        )
    )
    ((status, when),) = invitations(db).values()
    delay = timedelta(hours=app.config["INVITATION_DELAY_HOURS"])
    assert abs((when - departed) - delay) < timedelta(seconds=1)


def test_nobody_is_invited_without_email_past_the_cutoff_or_unsubscribed(
    db, survey, create_customer
):
    long_ago = (clock.now() - timedelta(days=200)).strftime("%d-%m-%Y")
    today = clock.now().strftime("%d-%m-%Y")
    create_customer(
        external_id="unsub", email="u@example.com", unsubscribed_at=clock.now()
    )
    import_csv(
        io.BytesIO(
            f"id,email,departed_at\nnomail,,{today}\nold,o@example.com,{long_ago}\n"
            f"unsub,u@example.com,{today}\n".encode()
        )
    )
    assert invitations(db) == {}


def test_a_later_departure_of_an_answered_customer_is_invited_again(db, survey):
    first = (clock.now() - timedelta(days=40)).strftime("%d-%m-%Y")
    import_csv(io.BytesIO(f"id,email,departed_at\nr,r@example.com,{first}\n".encode()))
    invitation = db.session.scalars(sa.select(Invitation)).one()
    invitation.status = "responded"
    db.session.commit()
    today = clock.now().strftime("%d-%m-%Y")
    import_csv(io.BytesIO(f"id,email,departed_at\nr,r@example.com,{today}\n".encode()))
    assert db.session.scalar(sa.select(sa.func.count(Invitation.id))) == 2


def test_a_departure_years_ahead_is_refused_by_every_intake_path(
    client, db, survey, create_user, login, post_form
):
    far = (clock.now() + timedelta(days=365 * 73)).strftime("%d-%m-%Y")
    soon = (clock.now() + timedelta(days=5)).strftime("%d-%m-%Y")
    report = import_csv(
        io.BytesIO(
            f"id,email,departed_at\nfar,f@example.com,{far}\n"
            f"soon,s@example.com,{soon}\n".encode()
        )
    )
    assert (report.created, report.rejected) == (1, 1)
    assert report.errors[0].errors[0].code == "future_date"
    _, secret = create_api_key("crm")
    db.session.commit()
    response = client.post(
        "/api/v1/departures",
        json={
            "external_id": "api",
            "email": "a@example.com",
            "departed_at": "2099-01-15",
        },
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 422
    assert "more than a year in the future" in response.get_data(as_text=True)
    login(create_user("manager", language="en"))
    page = post_form(
        "/customers/new",
        {"external_id": "man", "email": "m@example.com", "departed_at": far},
    )
    assert "more than a year in the future" in page.get_data(as_text=True)
    stored = set(db.session.scalars(sa.select(Customer.external_id)))
    assert stored == {"soon"}
    assert set(invitations(db)) == {"soon"}


def test_no_intake_path_brings_an_erased_person_back(
    client, db, survey, create_user, login, post_form
):
    from karn.privacy.operations import erase_customer
    from tests.test_privacy_erasure import find_everywhere

    body = json.dumps(event())  # Kees Klant, cus_42, left on 24-11-2025
    client.post("/webhooks/stripe", data=body, headers=signed(body))
    erase_customer(db.session.scalars(sa.select(Customer)).one())
    db.session.commit()
    personal = ("klant@example.nl", "Kees Klant", "cus_42")
    left = "24-11-2025"

    report = import_csv(
        io.BytesIO(
            f"id,email,name,departed_at\ncus_42,,Kees Klant,{left}\n"
            f",klant@example.nl,Kees Klant,{left}\n".encode()
        )
    )
    assert (report.created, report.updated, report.rejected) == (0, 0, 2)
    _, secret = create_api_key("crm")
    db.session.commit()
    response = client.post(
        "/api/v1/departures",
        json={"external_id": "cus_42", "name": "Kees Klant", "departed_at": left},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.json["rejected"][0]["code"] == "erased"
    body = json.dumps(event("evt_2"))
    response = client.post("/webhooks/stripe", data=body, headers=signed(body))
    assert response.json["status"] == "rejected"
    login(create_user("manager"))
    page = post_form(
        "/customers/new",
        {"email": "klant@example.nl", "name": "Kees Klant", "departed_at": left},
    )
    assert "was erased on" in page.get_data(as_text=True)

    assert find_everywhere(*personal) == []
    assert db.session.scalar(sa.select(sa.func.count(Customer.id))) == 1
    assert db.session.scalar(sa.select(sa.func.count(Invitation.id))) == 0
