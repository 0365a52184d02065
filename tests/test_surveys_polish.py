"""The survey as an ex-customer meets it: the thanks, the "other" text box, the
main reason not offered twice, progress, saving after sending, and the
question whether we may contact them again (with the update that brings it)."""

import re
import secrets
from datetime import timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.customers.operations import upsert_departures
from karn.enums import Source
from karn.surveys import default_survey, definition, delivery, editing, links
from karn.surveys.consent import consented, consenting_responses, contact_consent
from karn.surveys.models import Answer, Invitation, Response, Survey
from tests.conftest import csrf_token

GOOD = {
    "q_main_reason": "price",
    "q_ratings__service": "2",
    "q_ratings__quality": "4",
    "q_ratings__value": "3",
    "q_come_back": "5",
    "q_callback": "no",
}


@pytest.fixture
def survey(db):
    survey, _ = editing.ensure_default_survey()
    db.session.commit()
    return survey


def invite(db, external_id="P1", language="nl") -> str:
    upsert_departures(
        [
            (
                {
                    "external_id": external_id,
                    "email": f"{external_id.lower()}@example.nl",
                    "language": language,
                    "departed_at": clock.now() - timedelta(days=3),
                },
                {},
            )
        ],
        Source.API,
    )
    db.session.commit()
    delivery.run_due()
    invitation = db.session.scalars(
        sa.select(Invitation).order_by(Invitation.id.desc())
    ).first()
    return f"/s/{links.invitation_token(invitation.id)}"


@pytest.fixture
def link(db, survey):
    return invite(db)


def send(client, link, data):
    return client.post(link, data={**data, "csrf_token": csrf_token(client, link)})


def answers(db) -> dict[str, Answer]:
    db.session.expire_all()
    return {a.question_key: a for a in db.session.scalars(sa.select(Answer))}


# --- the thanks -------------------------------------------------------------------


def test_first_submission_is_thanked_warmly_and_a_later_visit_says_it_is_done(
    client, link, app
):
    sent = send(client, link, GOOD)
    assert sent.status_code == 302
    thanks = client.get(sent.location).get_data(as_text=True)
    assert "Bedankt voor uw antwoorden" in thanks
    assert "we lezen elk antwoord" in thanks
    assert "al bij ons binnen" not in thanks
    assert "bellen" not in thanks  # no call was asked for
    # Opening the link again, now or later from the mail, says it is done.
    assert "al bij ons binnen" in client.get(link).get_data(as_text=True)
    later = app.test_client().get(link).get_data(as_text=True)
    assert "al bij ons binnen" in later and "Bedankt voor uw antwoorden" not in later


def test_a_call_request_is_acknowledged_on_the_thanks_page(client, link):
    sent = send(
        client,
        link + "?lang=en",
        {**GOOD, "q_callback": "yes", "q_callback_phone__phone": "06-12345678"},
    )
    thanks = client.get(sent.location).get_data(as_text=True)
    assert "Thank you for your answers" in thanks
    assert "You asked us to call you" in thanks


def test_the_public_link_thanks_warmly_too(client, survey):
    url = f"/a/{survey.public_token}?lang=en"
    thanks = send(
        client,
        url,
        {**GOOD, "q_callback": "yes", "q_callback_phone__phone": "0201234567"},
    ).get_data(as_text=True)
    assert "Thank you for your answers" in thanks
    assert "You asked us to call you" in thanks


# --- saving in the background after sending ---------------------------------------


def test_saving_after_sending_answers_409_with_a_message_not_404(client, link):
    token = csrf_token(client, link)
    send(client, link, GOOD)
    late = client.post(link + "/save?lang=en", data={"csrf_token": token})
    assert late.status_code == 409
    assert late.get_json()["message"] == (
        "Your answers were already sent, so nothing more is saved."
    )


def test_saving_on_an_expired_link_answers_410_with_a_message(client, link, db):
    token = csrf_token(client, link)
    db.session.execute(
        sa.update(Invitation).values(expires_at=clock.now() - timedelta(minutes=1))
    )
    db.session.commit()
    late = client.post(link + "/save", data={"csrf_token": token})
    assert late.status_code == 410
    assert "verlopen" in late.get_json()["message"]


# --- the page ---------------------------------------------------------------------


def test_each_scale_is_explained_once_and_required_stays_with_the_question(
    client, link
):
    html = client.get(link).get_data(as_text=True)
    ratings = html.split('id="q-ratings"')[1].split("</fieldset>")[0]
    assert ratings.count("1 = ") == 1  # the question's own explanation only
    assert "zeer goed" in ratings and "uitstekend" not in ratings
    come_back = html.split('id="q-come_back"')[1].split("</fieldset>")[0]
    assert "zeer onwaarschijnlijk" in come_back
    assert "scale-ends" not in come_back  # no second, different explanation
    # "(verplicht)" never starts a line on its own: it is bound to the last word.
    assert re.search(
        r'vertrekken\?&nbsp;<span class="required">\(verplicht\)</span>', html
    )


def test_questions_are_numbered_and_progress_is_shown(client, link):
    html = client.get(link + "?lang=en").get_data(as_text=True)
    total = len(definition.default_questions())
    assert f"Question 1 of {total}" in html and f"Question {total} of {total}" in html
    assert f"0 of {total} questions answered" in html
    assert re.search(rf'<progress[^>]*max="{total}" value="0"', html)
    resumed = send(client, link + "?lang=en", {"q_main_reason": "price"})
    assert resumed.status_code == 422
    assert f"1 of {total} questions answered" in resumed.get_data(as_text=True)


# --- "other, namely" --------------------------------------------------------------


def test_other_text_is_stored_with_the_answer_and_read_as_a_comment(client, link, db):
    send(
        client,
        link,
        {
            **GOOD,
            "q_main_reason": "other",
            "q_main_reason__other": "Ik ben verhuisd naar het buitenland.",
        },
    )
    main = answers(db)["main_reason"]
    assert main.value == "other"
    assert main.text == "Ik ben verhuisd naar het buitenland."
    assert main.tagged_at is not None  # tagged like any comment
    assert "main_reason__other" not in answers(db)


def test_other_text_is_dropped_when_other_is_not_chosen(client, link, db):
    send(client, link, {**GOOD, "q_main_reason__other": "Iets anders"})
    assert answers(db)["main_reason"].text is None


def test_other_text_survives_closing_the_page(client, link, app):
    token = csrf_token(client, link)
    saved = client.post(
        link + "/save",
        data={
            "csrf_token": token,
            "q_main_reason": "price",
            "q_other_reasons": ["other"],
            "q_other_reasons__other": "De app werkte slecht",
        },
    )
    assert saved.status_code == 204
    html = app.test_client().get(link).get_data(as_text=True)
    assert (
        'name="q_other_reasons__other" maxlength="500" value="De app werkte slecht"'
        in html
    )


def test_an_overlong_other_text_is_explained(client, link, db):
    html = send(
        client,
        link + "?lang=en",
        {**GOOD, "q_main_reason": "other", "q_main_reason__other": "x" * 501},
    ).get_data(as_text=True)
    assert "at most 500 characters" in html
    assert db.session.scalar(sa.select(sa.func.count(Response.submitted_at))) == 0


# --- the main reason is not offered again -----------------------------------------


def test_the_main_reason_posted_again_as_other_reason_is_dropped(client, link, db):
    send(client, link, {**GOOD, "q_other_reasons": ["price", "service"]})
    assert answers(db)["other_reasons"].value == ["service"]


def test_a_page_shown_again_hides_the_main_reason_among_the_other_reasons(client, link):
    html = send(client, link, {"q_main_reason": "price"}).get_data(as_text=True)
    others = html.split('id="q-other_reasons"')[1].split("</fieldset>")[0]
    assert re.search(r'<label class="option" hidden><input[^>]*value="price"', others)
    assert re.search(r'<label class="option"><input[^>]*value="service"', others)


# --- contact consent --------------------------------------------------------------


def response_of(db) -> Response:
    db.session.expire_all()
    return db.session.scalars(sa.select(Response).order_by(Response.id.desc())).first()


@pytest.mark.parametrize(
    ("posted", "expected"), [("yes", True), ("no", False), (None, None)]
)
def test_contact_consent_reads_the_answer(client, link, db, posted, expected):
    data = dict(GOOD)
    if posted:
        data["q_contact_consent"] = posted
    send(client, link, data)
    response = response_of(db)
    assert contact_consent(response) is expected
    ids = db.session.scalars(consenting_responses()).all()
    assert ids == ([response.id] if expected else [])


def test_consent_is_not_asked_in_older_versions(client, db):
    old = old_install(db)
    sent = send(client, f"/a/{old.public_token}", {**GOOD, "q_contact_consent": "yes"})
    assert sent.status_code == 200
    response = response_of(db)
    assert response.submitted_at is not None
    assert contact_consent(response) is None  # never asked, so nothing kept
    assert db.session.scalars(consenting_responses()).all() == []


def test_consent_in_answers_not_sent_does_not_count(client, link, db):
    client.post(
        link + "/save",
        data={"csrf_token": csrf_token(client, link), "q_contact_consent": "yes"},
    )
    unsent = response_of(db)
    assert unsent.submitted_at is None
    assert answers(db)["contact_consent"].value == "yes"
    assert contact_consent(unsent) is None
    assert db.session.scalar(sa.select(sa.func.count()).where(consented())) == 0


def test_consent_question_in_both_languages(client, link):
    nl = client.get(link).get_data(as_text=True)
    en = client.get(link + "?lang=en").get_data(as_text=True)
    assert "contact met u opnemen over uw antwoorden" in nl
    assert "May we contact you again later about your answers?" in en
    assert 'name="q_contact_consent" value="yes"' in en
    assert 'name="q_contact_consent" value="no"' in en


# --- the default survey's new edition ---------------------------------------------


def old_install(db) -> Survey:
    """An install from before the second edition, with its survey as it was."""
    survey = Survey(name="Exit survey", public_token=secrets.token_urlsafe(8))
    db.session.add(survey)
    db.session.flush()
    editing.publish(survey, default_survey.first_edition())
    db.session.commit()
    return survey


def test_new_installs_get_the_new_edition_directly(db, survey):
    assert survey.versions[-1].questions == definition.default_questions()
    assert editing.default_update(survey) is None


def test_an_unedited_old_survey_is_offered_the_update_and_publishes_it(
    db, client, create_user, login
):
    survey = old_install(db)
    login(create_user("admin", language="en"))
    page = client.get("/surveys/").get_data(as_text=True)
    assert "A new edition of the default survey is available." in page
    response = client.post(
        f"/surveys/{survey.id}/default-update",
        data={"csrf_token": csrf_token(client, "/surveys/")},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert [v.number for v in survey.versions] == [1, 2]
    assert survey.versions[-1].questions == definition.default_questions()
    page = client.get("/surveys/").get_data(as_text=True)
    assert "Version 2 is published" in page
    assert "A new edition of the default survey is available." not in page


def test_an_edited_survey_is_never_offered_the_update(db, client, create_user, login):
    survey = old_install(db)
    edited = definition.with_changes(
        default_survey.first_edition(),
        texts={("keep_you", "text", "en"): "What would have kept you?"},
    )
    editing.publish(survey, edited)
    db.session.commit()
    login(create_user("manager", language="en"))
    assert "new edition" not in client.get("/surveys/").get_data(as_text=True)
    response = client.post(
        f"/surveys/{survey.id}/default-update",
        data={"csrf_token": csrf_token(client, "/surveys/")},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert [v.number for v in survey.versions] == [1, 2]
    assert survey.versions[-1].questions == edited
    # A draft being edited is someone's work too.
    unedited = old_install(db)
    unedited.draft = default_survey.first_edition()
    db.session.commit()
    assert editing.default_update(unedited) is None


def test_erasing_the_person_removes_the_other_text_but_keeps_the_reason(
    client, link, db
):
    from karn.customers.models import Customer
    from karn.privacy.erasure import erase_customer

    send(
        client,
        link,
        {**GOOD, "q_main_reason": "other", "q_main_reason__other": "Verhuisd"},
    )
    erase_customer(db.session.scalars(sa.select(Customer)).one())
    db.session.commit()
    main = answers(db)["main_reason"]
    assert main.text is None and main.value == "other"
