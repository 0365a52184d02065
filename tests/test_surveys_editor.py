"""The survey editor: drafts, preview in both languages, publishing versions."""

import re

import pytest
import sqlalchemy as sa

from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Survey, SurveyVersion
from tests.conftest import csrf_token


@pytest.fixture
def survey(db):
    survey, _ = ensure_default_survey()
    db.session.commit()
    return survey


def editor_form(client, url):
    """Every field of the editor as the page fills it in."""
    html = client.get(url).get_data(as_text=True)
    form = {"csrf_token": csrf_token(client, url)}
    for name, value in re.findall(
        r'<input type="(?:text|number)" id="[^"]+" name="([^"]+)"'
        r'(?: lang="\w+")? value="([^"]*)"',
        html,
    ):
        form[name] = value
    for name, value in re.findall(
        r'<textarea id="[^"]+" name="([^"]+)"[^>]*>([^<]*)</textarea>', html
    ):
        form[name] = value
    for name in re.findall(
        r'<input type="checkbox" id="[^"]+" name="([^"]+)" value="1" checked', html
    ):
        form[name] = "1"
    return form


@pytest.fixture
def manager(create_user, login):
    user = create_user("manager", language="en")
    login(user)
    return user


def versions(db):
    db.session.expire_all()
    return db.session.scalars(
        sa.select(SurveyVersion).order_by(SurveyVersion.number)
    ).all()


def test_editing_texts_makes_a_draft_until_published(client, db, survey, manager):
    url = f"/surveys/{survey.id}/edit"
    form = editor_form(client, url)
    form["q-0-text-en"] = "What was the main reason you left?"
    form["action"] = "save"
    assert client.post(url, data=form).status_code == 302
    assert len(versions(db)) == 1  # nothing published yet
    assert (
        versions(db)[0].questions[0]["text"]["en"]
        != "What was the main reason you left?"
    )
    # The preview shows the draft, in each language.
    preview = client.get(f"/surveys/{survey.id}/preview?lang=en").get_data(as_text=True)
    assert "What was the main reason you left?" in preview and 'lang="en"' in preview
    dutch = client.get(f"/surveys/{survey.id}/preview?lang=nl").get_data(as_text=True)
    assert 'lang="nl"' in dutch and "Waarom bent u vertrokken" in dutch

    form = editor_form(client, url)
    form["action"] = "publish"
    client.post(url, data=form)
    first, second = versions(db)
    assert second.number == 2
    assert second.questions[0]["text"]["en"] == "What was the main reason you left?"
    assert first.questions[0]["text"]["en"] != second.questions[0]["text"]["en"]
    db.session.expire_all()
    assert db.session.get(Survey, survey.id).draft is None


def test_reorder_hide_and_add_a_question(client, db, survey, manager):
    url = f"/surveys/{survey.id}/edit"
    form = editor_form(client, url)
    keys = [q["key"] for q in versions(db)[0].questions]
    # Move "keep_you" to the front, hide "come_back", add a new question.
    form[f"q-{keys.index('keep_you')}-position"] = "0"
    form[f"q-{keys.index('come_back')}-hidden"] = "1"
    form.update(
        {
            "new-key": "contact_channel",
            "new-type": "single_choice",
            "new-text-nl": "Hoe nam u meestal contact op?",
            "new-text-en": "How did you usually contact us?",
            "new-options": "phone; Telefoon; Phone\nmail; E-mail; Email",
            "action": "publish",
        }
    )
    client.post(url, data=form)
    latest = versions(db)[-1].questions
    assert latest[0]["key"] == "keep_you"
    assert next(q for q in latest if q["key"] == "come_back")["hidden"] is True
    assert latest[-1]["key"] == "contact_channel"
    assert [o["value"] for o in latest[-1]["options"]] == ["phone", "mail"]


def test_an_invalid_draft_is_not_published_and_says_why(client, db, survey, manager):
    url = f"/surveys/{survey.id}/edit"
    form = editor_form(client, url)
    form["q-0-text-nl"] = ""
    form["action"] = "publish"
    response = client.post(url, data=form)
    assert response.status_code == 200
    assert 'class="flash flash-error"' in response.get_data(as_text=True)
    assert len(versions(db)) == 1
    db.session.expire_all()
    assert db.session.get(Survey, survey.id).draft is not None  # nothing typed is lost


def test_the_survey_list_says_which_version_invitations_get(client, survey, manager):
    html = client.get("/surveys/").get_data(as_text=True)
    assert "New invitations get version 1." in html
    assert f"/a/{survey.public_token}" in html


def test_staff_cannot_edit(client, survey, create_user, login):
    login(create_user("staff"))
    assert client.get(f"/surveys/{survey.id}/edit").status_code == 403


@pytest.mark.parametrize(
    ("language", "heading", "brand", "scope"),
    [
        (
            "en",
            "What the reason codes mean",
            "Preferred another brand",
            "lost or damaged goods",
        ),
        (
            "nl",
            "Wat de redencodes betekenen",
            "Voorkeur voor een ander merk",
            "verloren of beschadigde goederen",
        ),
    ],
)
def test_the_editor_explains_the_reason_codes_in_the_editors_language(
    client, survey, create_user, login, language, heading, brand, scope
):
    login(create_user("manager", language=language))
    html = client.get(f"/surveys/{survey.id}/edit").get_data(as_text=True)
    explanation = html[html.index('class="reason-scope"') :]
    explanation = explanation[: explanation.index("</details>")]
    assert heading in explanation
    # the five codes, each beside its name and what it covers
    for code in ("service", "quality", "brand", "price", "need"):
        assert f"<code>{code}</code>" in explanation
    assert brand in explanation
    assert scope in explanation


@pytest.mark.parametrize(
    ("language", "types", "code_shown"),
    [
        ("nl", ["Eén keuze", "Ja of nee", "Lange tekst"], "single_choice"),
        ("en", ["One choice", "Yes or no", "Long text"], "single_choice"),
    ],
)
def test_question_types_are_named_in_words(
    client, survey, create_user, login, language, types, code_shown
):
    login(create_user("manager", language=language))
    html = client.get(f"/surveys/{survey.id}/edit").get_data(as_text=True)
    legends = " ".join(re.findall(r"<legend>(.*?)</legend>", html, re.S))
    choices = re.findall(r'<option value="(\w+)">([^<]+)</option>', html)
    for name in types:
        assert name in legends or name in [label for _, label in choices]
    assert f"· {code_shown}" not in legends
    # The form still sends the type's code.
    assert ("single_choice", types[0]) in choices
    version = client.get(f"/surveys/{survey.id}/versions/1").get_data(as_text=True)
    assert f"· {code_shown}" not in version and f"· {types[0]}" in version
