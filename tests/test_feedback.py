"""Feedback from other channels: CSV import, API, form, tagging by the worker,
the analysis source and the channel comparison, erasure and retention."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.accounts.operations import create_api_key
from karn.analysis import report
from karn.analysis.filters import Filters
from karn.customers.models import Customer
from karn.feedback import intake, tagging
from karn.feedback.models import FeedbackItem
from karn.privacy.erasure import erase_customer
from karn.privacy.export import export_person
from karn.privacy.operations import enforce_retention
from karn.worker import Worker
from tests.conftest import csrf_token

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock():
    clock.freeze(START)
    yield
    clock.freeze(None)


@pytest.fixture
def manager(create_user, login):
    user = create_user("manager")
    login(user)
    return user


@pytest.fixture
def api(client, db):
    _key, secret = create_api_key("helpdesk")
    db.session.commit()
    headers = {"Authorization": f"Bearer {secret}"}

    def post(body):
        return client.post("/api/v1/feedback", json=body, headers=headers)

    return post


def items(db):
    db.session.expire_all()
    return db.session.scalars(sa.select(FeedbackItem).order_by(FeedbackItem.id)).all()


def upload(client, data: bytes, name="tickets.csv"):
    from io import BytesIO

    token = csrf_token(client, "/feedback/import")
    return client.post(
        "/feedback/import",
        data={"file": (BytesIO(data), name), "csrf_token": token},
        content_type="multipart/form-data",
    )


def confirm(client, preview_url, mapping: dict[int, str], **extra):
    token = csrf_token(client, preview_url)
    form = {f"map-{i}": target for i, target in mapping.items()}
    return client.post(preview_url, data={**form, **extra, "csrf_token": token})


CSV = (
    b"Ticket;Datum;Klantnummer;Tekst;Cijfer\n"
    b"T-1;02-02-2026;C00001;Klantenservice reageerde nooit op mijn ticket;2\n"
    b'T-2;03-02-2026;;"Veel te duur\nvoor wat je krijgt";3\n'
    b"T-3;31-02-2026;;Datum bestaat niet;1\n"
    b"T-4;04-02-2026;;;4\n"
    b"T-5;05-02-2026;C99999;The app crashes all the time and loses my data;11x\n"
    b"T-6;06-02-2026;C99999;The app crashes all the time and loses my data;1\n"
)


def test_csv_import_reports_bad_rows_by_line_and_a_second_import_changes_nothing(
    client, db, manager, create_customer
):
    customer = create_customer(external_id="C00001")
    page = upload(client, CSV)
    assert page.status_code == 302
    preview_url = page.location
    preview = client.get(preview_url).get_data(as_text=True)
    # The columns are recognised from their Dutch names.
    assert 'value="source_id" selected' in preview
    assert 'value="received_at" selected' in preview
    assert 'value="customer_number" selected' in preview
    assert 'value="text" selected' in preview
    assert 'value="rating" selected' in preview
    assert "Nothing has been imported yet" in preview
    assert items(db) == []

    mapping = {
        0: "source_id",
        1: "received_at",
        2: "customer_number",
        3: "text",
        4: "rating",
    }
    done = confirm(client, preview_url, mapping, channel="support")
    assert done.status_code == 302
    result = client.get(done.location).get_data(as_text=True)
    stored = items(db)
    assert [i.source_id for i in stored] == ["T-1", "T-2", "T-6"]
    assert 'id="created">3<' in result
    assert 'id="rejected">3<' in result
    # Lines, not rows: T-2's text spans two lines, so T-3 starts on line 5.
    assert '<td class="num">5</td><td>The date cannot be read' in result
    assert '<td class="num">6</td><td>The text is empty.' in result
    assert '<td class="num">7</td><td>The rating must be a number' in result
    first, second, third = stored
    assert first.customer_id == customer.id
    assert first.rating == 2 and first.channel == "support"
    # Stored untagged; the worker reads the language with the tags.
    assert all(i.tagged_at is None for i in stored)
    assert first.language is None
    tagging.tag_waiting()
    db.session.expire_all()
    assert first.language.value == "nl" and third.language.value == "en"
    # A customer number Karn does not know: anonymous, and no customer made.
    assert third.customer_id is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1
    assert second.text == "Veel te duur\nvoor wat je krijgt"

    again = confirm(client, upload(client, CSV).location, mapping, channel="support")
    result = client.get(again.location).get_data(as_text=True)
    assert 'id="created">0<' in result and 'id="unchanged">3<' in result
    assert [i.id for i in items(db)] == [i.id for i in stored]


def test_a_file_without_id_column_is_recognised_by_its_content(client, db, manager):
    data = (
        b"text,date,channel\n"
        b"Too expensive,2026-02-01,review\n"
        b"Slow support,2026-02-02,support\n"
    )
    for _ in range(2):
        page = upload(client, data)
        confirm(client, page.location, {0: "text", 1: "received_at", 2: "channel"})
    stored = items(db)
    assert [(i.channel, i.text) for i in stored] == [
        ("review", "Too expensive"),
        ("support", "Slow support"),
    ]


def test_the_mapping_needs_a_text_and_a_date(client, db, manager):
    page = upload(client, b"a,b\nx,y\n")
    response = confirm(client, page.location, {0: "", 1: ""}, channel="support")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Choose the column that holds the text." in body
    assert "Choose the column that holds the date." in body


def test_api_stores_one_or_a_list_and_a_repeat_changes_nothing(
    api, db, create_customer
):
    customer = create_customer(email="anna@example.com")
    one = {
        "text": "Customer service never answered my emails",
        "received_at": "2026-02-10T09:00:00Z",
        "channel": "complaint",
        "source_id": "Z-100",
        "email": "Anna@Example.com",
    }
    first = api(one)
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["created"] == 1
    assert body["items"][0]["status"] == "created"
    assert body["items"][0]["customer_linked"] is True
    assert body["items"][0]["tagged"] is False

    batch = [
        {**one, "text": "changed text, same ticket"},
        {
            "text": "Way too expensive for what you get",
            "received_at": "2026-02-11",
            "channel": "review",
            "rating": 1,
            "source_id": "R-1",
            "email": "nobody@example.com",
        },
    ]
    second = api(batch).get_json()
    assert second["created"] == 1 and second["unchanged"] == 1
    assert [i["status"] for i in second["items"]] == ["unchanged", "created"]
    assert second["items"][0]["id"] == body["items"][0]["id"]
    assert api(batch).get_json()["created"] == 0
    stored = items(db)
    assert len(stored) == 2
    assert stored[0].text == one["text"] and stored[0].customer_id == customer.id
    # An address that matches no customer leaves the item anonymous.
    assert stored[1].customer_id is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1


def test_api_refuses_a_list_with_a_bad_item_and_stores_nothing(api, db):
    response = api(
        [
            {"text": "ok", "received_at": "2026-02-01", "channel": "review"},
            {"text": "", "received_at": "morgen", "channel": "fax", "colour": "x"},
        ]
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert {(e["index"], e["field"], e["code"]) for e in errors} == {
        (1, "colour", "unknown_field"),
        (1, "text", "text_missing"),
        (1, "received_at", "bad_date"),
        (1, "channel", "channel_unknown"),
    }
    assert any(e["message_nl"].startswith("De datum") for e in errors)
    assert items(db) == []


def test_the_openapi_document_describes_feedback(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "post" in paths["/feedback"]


def test_the_form_adds_one_item_and_an_unknown_email_stays_anonymous(
    client, db, create_user, login
):
    login(create_user("staff"))
    token = csrf_token(client, "/feedback/new")
    bad = client.post(
        "/feedback/new",
        data={"csrf_token": token, "text": "", "received_at": "2026-03-01"},
    )
    assert bad.status_code == 422
    assert "The text is empty." in bad.get_data(as_text=True)
    response = client.post(
        "/feedback/new",
        data={
            "csrf_token": token,
            "text": "Jullie app crasht steeds",
            "received_at": "2026-03-01",
            "channel": "social",
            "email": "onbekend@example.com",
            "rating": "",
            "language": "",
        },
    )
    assert response.status_code == 302
    (item,) = items(db)
    assert (item.channel, item.via, item.customer_id) == ("social", "form", None)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0
    page = client.get("/feedback/").get_data(as_text=True)
    assert "Jullie app crasht steeds" in page
    assert "1 item is not yet tagged" in page


def _store(db, *rows):
    from karn.feedback import intake

    cleaned = []
    for text, channel, day in rows:
        clean, problems = intake.validate(
            {"text": text, "received_at": day, "channel": channel},
            intake.channel_codes(),
        )
        assert not problems
        cleaned.append(clean)
    intake.store(cleaned, "api")
    db.session.commit()


def test_the_worker_tags_items_in_batches_and_leaves_a_correction_alone(
    app, db, client, manager
):
    _store(
        db,
        ("Klantenservice reageerde nooit op mijn ticket", "support", "2026-02-01"),
        ("Veel te duur voor wat je krijgt", "review", "2026-02-02"),
        ("The app crashes all the time and loses my data", "review", "2026-02-03"),
    )
    assert tagging.waiting() == 3
    assert tagging.tag_waiting(batch=2, batches=1) == 2
    assert tagging.waiting() == 1
    assert tagging.run_tagging_job in Worker(app, name="test").jobs
    tagging.run_tagging_job(app)
    stored = items(db)
    assert [i.tag_reason.value for i in stored] == ["service", "price", "quality"]
    assert all(i.sentiment is not None for i in stored)

    review = stored[1]
    token = csrf_token(client, "/feedback/")
    response = client.post(
        f"/feedback/{review.id}/tags",
        data={"csrf_token": token, "reason": "quality", "next": "/feedback/"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    corrected = db.session.get(FeedbackItem, review.id)
    assert corrected.tag_reason.value == "quality"
    assert corrected.tags["corrected"]["by"] == manager.id
    assert "corrected by" in client.get("/feedback/").get_data(as_text=True)
    # Nothing tags a corrected item again.
    assert tagging.tag_waiting() == 0
    db.session.expire_all()
    assert db.session.get(FeedbackItem, review.id).tag_reason.value == "quality"


def test_feedback_is_a_source_of_its_own_ranked_per_channel(app, db, client, manager):
    _store(
        db,
        ("Veel te duur voor wat je krijgt", "review", "2026-02-01"),
        ("Way too expensive for what you get", "review", "2026-02-02"),
        ("Customer service never answered my emails", "review", "2026-02-03"),
        ("Klantenservice reageerde nooit op mijn ticket", "support", "2026-02-04"),
        ("Customer service never answered my emails", "support", "2026-02-05"),
        ("Way too expensive for what you get", "support", "2026-02-06"),
        ("Klantenservice reageerde nooit op mijn ticket", "support", "2026-02-07"),
    )
    tagging.tag_waiting()

    reviews, _ = report.ranking(Filters(channel="feedback.review"))
    assert reviews.n == 3
    assert [(r.reason, r.count) for r in reviews.reasons[:2]] == [
        ("price", 2),
        ("service", 1),
    ]
    support, _ = report.ranking(Filters(channel="feedback.support"))
    assert [(r.reason, r.count) for r in support.reasons[:2]] == [
        ("service", 3),
        ("price", 1),
    ]
    everything, _ = report.ranking(Filters(channel="feedback"))
    assert everything.n == 7
    # Survey answers: none, and none of the feedback counted among them.
    assert report.ranking(Filters())[0].n == 0
    trend = report.trend(Filters(channel="feedback.support"))
    assert trend is not None

    page = client.get("/analysis/?channel=feedback.review").get_data(as_text=True)
    assert 'value="feedback.review" selected' in page
    assert "Reasons in feedback: reviews" in page
    assert "3 respondents" in page
    assert client.get("/analysis/?channel=feedback.fax").status_code == 400
    # The comments of a feedback channel are its items, not survey answers.
    comments = client.get("/analysis/text?channel=feedback.review")
    assert comments.status_code == 302
    assert comments.location == "/feedback/?channel=review"

    mix = client.get("/feedback/channels").get_data(as_text=True)
    assert "reviews" in mix and "support tickets" in mix
    assert 'data-reason="price" data-label="Price">67%</td>' in mix
    assert 'data-reason="service" data-label="Service">75%</td>' in mix


def test_an_added_channel_has_a_dutch_and_an_english_name(
    client, db, create_user, login
):
    login(create_user("admin", language="nl"))
    token = csrf_token(client, "/feedback/channels/manage")
    response = client.post(
        "/feedback/channels/manage",
        data={
            "csrf_token": token,
            "code": "chat",
            "name_nl": "Chatgesprekken",
            "name_en": "Chat conversations",
        },
    )
    assert response.status_code == 302
    assert "Chatgesprekken" in client.get("/feedback/new").get_data(as_text=True)
    # The list gives every channel's two names, the built-in ones too.
    listing = client.get("/feedback/channels/manage").get_data(as_text=True)
    assert '<td lang="nl">supporttickets</td>' in listing
    assert '<td lang="en">support tickets</td>' in listing
    assert '<td lang="en">Chat conversations</td>' in listing
    _store(db, ("Veel te duur voor wat je krijgt", "chat", "2026-02-01"))
    assert items(db)[0].channel == "chat"


def test_erasure_removes_the_texts_keeps_the_counts_and_a_resend_brings_nothing_back(
    api, db, create_customer
):
    customer = create_customer(external_id="K-7", email="kees@example.com")
    item = {
        "text": "Klantenservice reageerde nooit, groet Kees",
        "received_at": "2026-02-01",
        "channel": "complaint",
        "customer_number": "K-7",
        "source_id": "Z-7",
    }
    api(item)
    tagging.tag_waiting()
    exported = export_person(db.session.get(Customer, customer.id))
    assert [i["text"] for i in exported["feedback_items"]] == [item["text"]]

    report_ = erase_customer(db.session.get(Customer, customer.id))
    db.session.commit()
    assert report_.as_dict()["removed"]["feedback_items"] == 1
    (stored,) = items(db)
    assert stored.text is None
    # The ticket number links to the person in the sending system: gone too.
    assert stored.source_id is None
    assert stored.tag_reason.value == "service"
    assert report.ranking(Filters(channel="feedback"))[0].n == 1
    assert api(item).get_json()["unchanged"] == 1
    assert items(db)[0].text is None


def test_retention_strips_old_texts_also_of_anonymous_items(app, db):
    app.config["RETENTION_PERSONAL_MONTHS"] = 12
    _store(
        db,
        ("Oud bericht van lang geleden", "review", "2024-01-05"),
        ("Recent bericht", "review", "2026-02-05"),
    )
    result = enforce_retention(now=START)
    assert result.feedback_texts == 1
    assert [i.text for i in items(db)] == [None, "Recent bericht"]


def test_a_date_ahead_is_refused(api, db):
    ahead = (START + timedelta(days=3)).date().isoformat()
    response = api({"text": "x", "received_at": ahead, "channel": "review"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["code"] == "future_date"


def test_a_retry_that_overtakes_its_first_request_gets_unchanged_not_an_error(
    api, db, monkeypatch
):
    """The first request stores the item between the retry's look and its
    insert: the retry hits the unique key, and answers as a repeat does."""
    from sqlalchemy.exc import IntegrityError

    item = {
        "text": "Klantenservice belde nooit terug",
        "received_at": "2026-02-01",
        "channel": "support",
        "source_id": "R-1",
    }
    assert api(item).get_json()["created"] == 1
    real, calls = intake.store, []

    def racing(items_, via):
        calls.append(via)
        if len(calls) == 1:
            raise IntegrityError(
                "INSERT", {}, Exception("uq_feedback_items_dedupe_key")
            )
        return real(items_, via)

    monkeypatch.setattr(intake, "store", racing)
    again = api(item)
    assert again.status_code == 200
    assert again.get_json()["unchanged"] == 1
    assert len(items(db)) == 1
