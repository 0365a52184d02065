"""Correcting tags: through the real form, kept, shown, audited, and refused well."""

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from karn import clock
from tests.conftest import csrf_token

CODES = ["service", "quality", "brand", "price", "need", "other"]


def submit(db, customer, reason, text, lang="nl"):
    """A response submitted the way the survey page stores one."""
    from karn.surveys import responses
    from karn.surveys.editing import ensure_default_survey

    survey, _new = ensure_default_survey()
    version = survey.versions[-1]
    response_id = responses.submit_anonymous(
        version_id=version.id,
        customer_id=customer.id if customer is not None else None,
        questions=version.questions,
        clean={"main_reason": reason, "keep_you": text},
        shown_orders={"main_reason": CODES, "other_reasons": CODES},
        lang=lang,
    )
    db.session.commit()
    return response_id


def comment(db, response_id):
    from karn.surveys.models import Answer

    return db.session.scalars(
        sa.select(Answer).where(
            Answer.response_id == response_id, Answer.question_key == "keep_you"
        )
    ).one()


def note(db, customer, author, text, lang="nl"):
    """A call note tagged as the call pages tag one."""
    from karn.callbacks.models import CallNote
    from karn.enums import CallOutcome
    from karn.text import tags_for

    row = CallNote(
        customer_id=customer.id,
        author_id=author.id if author else None,
        outcome=CallOutcome.REACHED,
        text=text,
        language=lang,
        **tags_for(text, lang, clock.now()),
    )
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def world(db, create_customer, create_user):
    customer = create_customer(name="Anna Smit")
    response_id = submit(db, customer, "price", "Veel te duur geworden, jammer.")
    staff = create_user("staff", name="Sam Staff")
    return customer, comment(db, response_id), staff


def post_correction(client, url, page, **fields):
    return client.post(url, data={"csrf_token": csrf_token(client, page), **fields})


def test_staff_correct_an_answer_on_the_customer_page(world, client, login, db):
    from karn.accounts.models import AuditEntry
    from karn.text.models import TagCorrection

    customer, answer, staff = world
    assert answer.sentiment.value == "negative"
    assert answer.tag_reason.value == "price"
    old_score = answer.sentiment_score
    login(staff)
    page_url = f"/customers/{customer.id}"
    page = client.get(page_url).get_data(as_text=True)
    # The form of the include, with the current tags selected.
    action = f"/analysis/tags/answer/{answer.id}"
    assert f'action="{action}"' in page
    assert re.search(r'<option value="negative" selected>', page)
    assert re.search(r'<option value="price" selected>', page)

    clock.freeze(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    try:
        response = post_correction(
            client,
            action,
            page_url,
            sentiment="neutral",
            reason="service",
            next=f"{page_url}#tags-answer-{answer.id}",
        )
    finally:
        clock.freeze(None)
    assert response.status_code == 302
    assert response.location == f"{page_url}#tags-answer-{answer.id}"

    page = client.get(page_url).get_data(as_text=True)
    assert "Tags corrected." in page
    assert "corrected by Sam Staff on 20 Nov 2026" in page
    assert re.search(r'<option value="neutral" selected>', page)
    assert re.search(r'<option value="service" selected>', page)

    db.session.expire_all()
    answer = db.session.merge(answer)
    assert (answer.sentiment.value, answer.tag_reason.value) == ("neutral", "service")
    assert answer.sentiment_score == 0.0  # neutral: out of the quotes
    assert answer.tags["corrected"]["by"] == staff.id
    assert answer.tags["reasons"]  # what the tagger found stays known
    correction = db.session.scalars(sa.select(TagCorrection)).one()
    assert correction.answer_id == answer.id and correction.note_id is None
    assert correction.user_id == staff.id
    assert (correction.old_sentiment.value, correction.new_sentiment.value) == (
        "negative",
        "neutral",
    )
    assert (correction.old_reason.value, correction.new_reason.value) == (
        "price",
        "service",
    )
    assert correction.old_score == old_score
    entry = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "tags.correct")
    ).one()
    assert entry.user_id == staff.id
    assert (entry.target_type, entry.target_id) == ("answers", str(answer.id))
    assert entry.details == {
        "kind": "answer",
        "sentiment_from": "negative",
        "sentiment_to": "neutral",
        "reason_from": "price",
        "reason_to": "service",
    }
    # The comments page counts the corrected tone.
    from karn.analysis.queries import Filters, sentiment_by_reason

    assert sentiment_by_reason(Filters()) == {"price": {"neutral": 1}}


def test_the_same_values_again_change_nothing(world, client, login, db):
    from karn.text.models import TagCorrection

    customer, answer, staff = world
    login(staff)
    response = post_correction(
        client,
        f"/analysis/tags/answer/{answer.id}",
        f"/customers/{customer.id}",
        sentiment="negative",
        reason="price",
        next=f"/customers/{customer.id}",
    )
    assert response.status_code == 302
    assert "Nothing changed." in client.get(response.location).get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(TagCorrection.id))) == 0


def test_wrong_kind_id_or_label_is_refused_clearly(world, client, login, db):
    from karn.text.models import TagCorrection

    customer, answer, staff = world
    login(staff)
    page = f"/customers/{customer.id}"
    assert (
        post_correction(client, f"/analysis/tags/reply/{answer.id}", page).status_code
        == 404
    )
    assert (
        post_correction(client, "/analysis/tags/answer/999999", page).status_code == 404
    )
    assert (
        post_correction(client, "/analysis/tags/note/999999", page).status_code == 404
    )

    response = post_correction(
        client, f"/analysis/tags/answer/{answer.id}", page, sentiment="happy"
    )
    assert response.status_code == 302 and response.location == page
    text = client.get(page).get_data(as_text=True)
    assert "Choose a tone from the list: negative, neutral or positive." in text
    response = post_correction(
        client, f"/analysis/tags/answer/{answer.id}", page, reason="weather"
    )
    assert "Choose a reason from the list." in client.get(page).get_data(as_text=True)
    response = post_correction(client, f"/analysis/tags/answer/{answer.id}", page)
    assert "Choose a tone or a reason." in client.get(page).get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(TagCorrection.id))) == 0
    db.session.expire_all()
    assert db.session.merge(answer).tag_reason.value == "price"


def test_without_csrf_or_login_nothing_changes(world, client, db):
    from karn.text.models import TagCorrection

    customer, answer, _staff = world
    url = f"/analysis/tags/answer/{answer.id}"
    # Signed out: sent to the login page.
    response = post_correction(client, url, "/login", reason="service")
    assert response.status_code == 302 and response.location.startswith("/login")
    # No CSRF token: refused.
    assert client.post(url, data={"reason": "service"}).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(TagCorrection.id))) == 0


def test_next_must_be_a_local_path(world, client, login):
    customer, answer, staff = world
    login(staff)
    for bad in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = post_correction(
            client,
            f"/analysis/tags/answer/{answer.id}",
            f"/customers/{customer.id}",
            reason="quality",
            next=bad,
        )
        assert response.location == f"/customers/{customer.id}"


def test_notes_are_corrected_through_the_same_function_and_include(
    world, client, login, db, create_user
):
    from karn.learning import corrections
    from karn.learning.corrections import CorrectionError

    customer, _answer, staff = world
    manager = create_user("manager", name="Mia Manager")
    call = note(db, customer, staff, "Ze vond de app traag en vol fouten.")
    assert call.tag_reason.value == "quality"
    corrections.correct("note", call.id, manager, reason="service")
    db.session.commit()
    assert call.tag_reason.value == "service"
    assert call.sentiment.value == "negative"  # not given: as it was
    assert call.tags["corrected"]["by"] == manager.id
    login(staff)
    page = client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert f'action="/analysis/tags/note/{call.id}"' in page
    assert "corrected by Mia Manager" in page

    with pytest.raises(CorrectionError) as caught:
        corrections.correct("call", call.id, manager, reason="price")
    assert caught.value.code == "kind"
    with pytest.raises(CorrectionError) as caught:
        corrections.correct("note", call.id, manager, sentiment="furious")
    assert caught.value.code == "sentiment"
    empty = note(db, customer, staff, "")
    with pytest.raises(CorrectionError) as caught:
        corrections.correct("note", empty.id, manager, reason="price")
    assert caught.value.code == "no_text"


def test_a_correction_keeps_no_text_and_survives_an_erasure(world, db):
    from karn.learning import corrections
    from karn.privacy import operations as privacy
    from karn.text.models import TagCorrection

    customer, answer, staff = world
    corrections.correct("answer", answer.id, staff, reason="need")
    db.session.commit()
    text_columns = [
        c.name
        for c in TagCorrection.__table__.columns
        if isinstance(c.type, sa.String | sa.Text | sa.JSON)
        and not isinstance(c.type, sa.Enum)
    ]
    assert text_columns == []
    privacy.erase_customer(customer, user=staff)
    db.session.commit()
    db.session.expire_all()
    answer = db.session.merge(answer)
    assert answer.text is None
    correction = db.session.scalars(sa.select(TagCorrection)).one()
    assert correction.new_reason.value == "need"


def test_managers_correct_quotes_on_the_comments_page(
    world, client, login, db, create_user
):
    from karn.analysis import queries
    from karn.learning import corrections

    _customer, answer, _staff = world
    manager = create_user("manager", name="Mia Manager")
    login(manager)
    page = client.get("/analysis/text").get_data(as_text=True)
    assert "Veel te duur geworden" in page
    assert f'action="/analysis/tags/answer/{answer.id}"' in page
    # A correction expires the page's cached charts.
    before = queries.data_version()
    corrections.correct("answer", answer.id, manager, sentiment="positive")
    db.session.commit()
    assert queries.data_version() != before
    page = client.get("/analysis/text").get_data(as_text=True)
    assert "corrected by Mia Manager" in page
