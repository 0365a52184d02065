"""What customers said when cancelling, read like every other text; the
departures where paying failed, shown apart; and active customers edited by
hand."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.analysis import queries, stated
from karn.analysis.filters import Filters
from karn.callbacks.models import WinBack
from karn.customers import comments
from karn.customers.comments import CommentTags
from karn.customers.models import Customer
from karn.customers.operations import upsert_departures
from karn.enums import CustomerStatus, Reason, Source
from karn.privacy.erasure import erase_customer
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Invitation

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock():
    clock.freeze(START)
    yield
    clock.freeze(None)


def put(db, *records):
    result = upsert_departures([(r, {}) for r in records], Source.CSV)
    db.session.commit()
    return result


def by_number(db, external_id):
    db.session.expire_all()
    return db.session.scalars(
        sa.select(Customer).where(Customer.external_id == external_id)
    ).one()


def left(days_ago):
    return clock.now() - timedelta(days=days_ago)


COMMENTS = {
    "K1": ("Veel te duur geworden, de prijs is twee keer verhoogd.", "nl"),
    "K2": ("The helpdesk never answered my emails and was rude on the phone.", "en"),
    "K3": ("Too expensive for what it offers, the price went up again.", "en"),
}


def test_crm_comments_are_tagged_and_counted_where_no_reason_was_stated(app, db):
    put(
        db,
        *(
            {
                "external_id": number,
                "email": f"{number.lower()}@example.nl",
                "departed_at": left(5),
                "stated_comment": text,
                "language": lang,
            }
            for number, (text, lang) in COMMENTS.items()
        ),
        # A stated reason wins over what its comment says.
        {
            "external_id": "K4",
            "email": "k4@example.nl",
            "departed_at": left(5),
            "stated_reason": Reason.NEED,
            "stated_comment": "Too expensive.",
        },
    )
    # Stored at once, read later: nothing counts before the worker ran.
    assert comments.waiting() == 4
    assert queries.reason_counts(Filters(channel="stated")).counts == {"need": 1}

    assert comments.tag_waiting() == 4
    assert comments.waiting() == 0
    counts = queries.reason_counts(Filters(channel="stated"))
    assert counts.n == 4
    assert counts.counts == {"price": 2, "service": 1, "need": 1}
    tags = db.session.get(CommentTags, by_number(db, "K2").id)
    assert tags.sentiment.value == "negative"
    # Tagging again finds nothing left to do.
    assert comments.tag_waiting() == 0


def test_a_changed_comment_is_read_again_and_an_erased_one_forgotten(app, db):
    put(
        db,
        {
            "external_id": "K1",
            "email": "k1@example.nl",
            "departed_at": left(5),
            "stated_comment": "Far too expensive, the price doubled.",
        },
    )
    comments.tag_waiting()
    customer = by_number(db, "K1")
    assert db.session.get(CommentTags, customer.id).tag_reason == Reason.PRICE

    put(
        db,
        {
            "external_id": "K1",
            "stated_comment": "The support staff were rude and never called back.",
        },
    )
    assert comments.waiting() == 1
    comments.tag_waiting()
    db.session.expire_all()
    assert db.session.get(CommentTags, customer.id).tag_reason == Reason.SERVICE

    erase_customer(by_number(db, "K1"))
    db.session.commit()
    assert db.session.get(CommentTags, customer.id) is None
    assert queries.reason_counts(Filters(channel="stated")).n == 0


def test_the_dashboard_says_how_many_comments_wait(app, db, create_user, login, client):
    put(
        db,
        {
            "external_id": "K1",
            "email": "k1@example.nl",
            "departed_at": left(5),
            "stated_comment": "Too expensive.",
        },
    )
    login(create_user("manager"))
    page = client.get("/analysis/?channel=stated").get_data(as_text=True)
    assert "1 comment is not yet read" in page
    comments.tag_waiting()
    page = client.get("/analysis/?channel=stated").get_data(as_text=True)
    assert "not yet read" not in page
    shown = client.get(f"/customers/{by_number(db, 'K1').id}").get_data(as_text=True)
    assert "Read in the comment: Price" in shown


def test_involuntary_departures_are_shown_apart(app, db, create_user, login, client):
    ensure_default_survey()
    put(
        db,
        {
            "external_id": "P1",
            "email": "p1@example.nl",
            "departed_at": left(3),
            "involuntary": True,
            "monthly_revenue": 30,
        },
        {
            "external_id": "P2",
            "email": "p2@example.nl",
            "departed_at": left(3),
            "involuntary": True,
            "monthly_revenue": 12.5,
        },
        {"external_id": "V1", "email": "v1@example.nl", "departed_at": left(3)},
    )
    found = stated.involuntary(Filters())
    assert (found["count"], found["revenue"]) == (2, 42.5)
    # A period before they left has none.
    assert stated.involuntary(Filters.from_args({"until": "2026-02-01"}))["count"] == 0
    # Not invited by default; the one who chose to leave is.
    invited = db.session.scalars(
        sa.select(Customer.external_id).join(
            Invitation, Invitation.customer_id == Customer.id
        )
    ).all()
    assert invited == ["V1"]

    login(create_user("manager"))
    page = client.get("/analysis/").get_data(as_text=True)
    assert "2 customers left because paying failed" in page
    listed = client.get("/customers/?state=involuntary").get_data(as_text=True)
    assert "p1@example.nl" in listed and "p2@example.nl" in listed
    assert "v1@example.nl" not in listed


def test_an_active_customer_can_be_added_and_edited_by_hand(
    app, db, create_user, login, post_form, client
):
    ensure_default_survey()
    login(create_user("manager"))
    form = {
        "external_id": "A1",
        "email": "a1@example.nl",
        "name": "Active One",
        "status": "active",
        "departed_at": "",
        "language": "",
    }
    response = post_form("/customers/new", form)
    assert response.status_code == 302, response.get_data(as_text=True)
    customer = by_number(db, "A1")
    assert customer.status == CustomerStatus.ACTIVE
    assert customer.departed_at is None
    assert db.session.scalars(sa.select(Invitation)).all() == []

    # Editing keeps the status; a departed customer without a date is refused.
    url = f"/customers/{customer.id}/edit"
    response = post_form(url, {**form, "name": "Still Active"})
    assert response.status_code == 302
    assert by_number(db, "A1").name == "Still Active"
    response = post_form(url, {**form, "status": "departed"})
    assert response.status_code == 200
    assert "Give the date the customer left." in response.get_data(as_text=True)
    assert by_number(db, "A1").status == CustomerStatus.ACTIVE

    # Departed on a date: invited like every departure.
    response = post_form(
        url, {**form, "status": "departed", "departed_at": "01-03-2026"}
    )
    assert response.status_code == 302
    customer = by_number(db, "A1")
    assert customer.status == CustomerStatus.DEPARTED
    assert customer.departed_at.date().isoformat() == "2026-03-01"
    assert len(db.session.scalars(sa.select(Invitation)).all()) == 1

    # Back again: a win-back, and the departure date is kept.
    response = post_form(url, {**form, "departed_at": "01-03-2026"})
    assert response.status_code == 302
    assert by_number(db, "A1").status == CustomerStatus.ACTIVE
    win = db.session.scalars(sa.select(WinBack)).one()
    assert win.customer_id == customer.id


def test_a_revenue_band_leaves_amounts_in_other_currencies_out(app, db):
    from karn.analysis import totals
    from karn.surveys.models import Response, SurveyVersion

    put(
        db,
        {"external_id": "E1", "email": "e1@example.nl", "departed_at": left(3)},
        {"external_id": "Y1", "email": "y1@example.jp", "departed_at": left(3)},
    )
    eur, yen = by_number(db, "E1"), by_number(db, "Y1")
    eur.monthly_revenue, yen.monthly_revenue, yen.currency = 300, 30000, "JPY"
    survey, _ = ensure_default_survey()
    version = db.session.scalars(
        sa.select(SurveyVersion).where(SurveyVersion.survey_id == survey.id)
    ).one()
    for customer in (eur, yen):
        db.session.add(
            Response(
                customer_id=customer.id,
                survey_version_id=version.id,
                language="en",
                started_at=clock.now(),
                submitted_at=clock.now(),
                primary_reason="price",
            )
        )
    db.session.commit()
    totals.rebuild(db.session.connection())
    db.session.commit()
    everyone = queries.reason_counts(Filters())
    assert everyone.n == 2
    top = queries.reason_counts(Filters.from_args({"revenue": "250+"}))
    assert top.n == 1
    assert top.monthly_revenue == {"price": 300.0}
