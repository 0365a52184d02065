"""In Debian's Chromium, in English and in Dutch: a manager mails a “we fixed
it” campaign from an improvement action, checks who gets it and the mail in
both languages, and confirms with a double click. The outbox then holds one
mail for each person drawn to be mailed, in their language; those held back
are recorded and get none, nor do those who may not be mailed; confirming the
same preview again sends nothing more."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.actions.models import ImprovementAction
from karn.customers.models import Customer
from karn.enums import ExperimentGroup
from karn.experiments.models import Assignment
from karn.followups.campaign_models import Campaign
from karn.surveys.default_survey import CONSENT_KEY
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Answer, OutboxMessage, Response
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

WORDS = {
    "en": {
        "mail": "Mail a campaign",
        "preview": "Preview",
        "confirm": "Confirm and send",
        "sent": ("Campaign sent:", "This campaign was sent already"),
        "again": "This campaign was sent already; nothing more was sent.",
        "rules": {
            "unsubscribed": "unsubscribed",
            "no_consent": "did not agree to be contacted again",
            "recently_contacted": "contacted by Karn recently",
        },
        "verdict": "Too few people yet to tell",
    },
    "nl": {
        "mail": "Campagne mailen",
        "preview": "Voorbeeld bekijken",
        "confirm": "Bevestigen en versturen",
        "sent": ("Campagne verstuurd:", "Deze campagne was al verstuurd"),
        "again": "Deze campagne was al verstuurd; er is niets meer verstuurd.",
        "rules": {
            "unsubscribed": "afgemeld",
            "no_consent": "gaf geen toestemming om opnieuw benaderd te worden",
            "recently_contacted": "onlangs door Karn benaderd",
        },
        "verdict": "Nog te weinig mensen om iets te zeggen",
    },
}


def _sign_in(page, live_server, user, language):
    page.goto(live_server + "/login?lang=" + language)
    page.locator("input[name=email]").fill(user.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(lambda url: "/login" not in url)


def _person(db, survey, n, language, consent="yes", **fields) -> Customer:
    left = clock.now() - timedelta(days=40)
    customer = Customer(
        external_id=f"B{n:03d}",
        email=f"person{n}@example.nl",
        name=f"Person {n}",
        departed_at=left,
        source="manual",
        language=language,
        **fields,
    )
    db.session.add(customer)
    db.session.flush()
    response = Response(
        customer_id=customer.id,
        survey_version_id=survey.versions[-1].id,
        language=language,
        primary_reason="service",
        started_at=left + timedelta(days=1),
        submitted_at=left + timedelta(days=1),
    )
    db.session.add(response)
    db.session.flush()
    db.session.add(
        Answer(response_id=response.id, question_key=CONSENT_KEY, value=consent)
    )
    return customer


@pytest.mark.parametrize("language", ["en", "nl"])
def test_mailing_a_campaign_from_an_action(
    page, live_server, db, create_user, language
):
    words = WORDS[language]
    survey, _ = ensure_default_survey()
    action = ImprovementAction(
        title="Shorter waiting times",
        reason="service",
        started_on=clock.now().date() - timedelta(days=10),
    )
    db.session.add(action)
    eligible = [_person(db, survey, n, "nl" if n % 2 else "en") for n in range(1, 11)]
    unsubscribed = _person(db, survey, 11, "nl", unsubscribed_at=clock.now())
    refused = _person(db, survey, 12, "en", consent="no")
    contacted = _person(db, survey, 13, "nl")
    db.session.flush()
    db.session.add(
        OutboxMessage(
            kind="follow_up",
            customer_id=contacted.id,
            to_address=contacted.email,
            language="nl",
            subject="Eerder",
            body_text="Eerder",
            message_id="<earlier@karn.example>",
            created_at=clock.now() - timedelta(days=3),
        )
    )
    db.session.commit()
    _sign_in(page, live_server, create_user("manager", language=language), language)

    # From the action to the form.
    page.goto(live_server + f"/actions/{action.id}")
    page.get_by_role("link", name=words["mail"]).click()
    page.wait_for_url(re.compile(rf"/actions/{action.id}/campaign$"))
    page.locator("input[name=subject_nl]").fill("{name}, de wachttijd is weg")
    page.locator("textarea[name=body_nl]").fill(
        "Beste {name},\n\nU moest lang wachten. Dat is voorbij."
    )
    page.locator("input[name=subject_en]").fill("{name}, no more waiting")
    page.locator("textarea[name=body_en]").fill(
        "Dear {name},\n\nYou had to wait. No longer."
    )
    page.locator("input[name=held_back]").fill("50")
    page.get_by_role("button", name=words["preview"]).click()

    # The preview: who, why not, and the mail in both languages.
    page.wait_for_selector("#who")
    assert page.locator("#matched").inner_text() == "13"
    assert page.locator("#eligible").inner_text() == "10"
    for rule, label in words["rules"].items():
        row = page.locator(f'#excluded tr[data-rule="{rule}"]')
        assert label in row.inner_text()
        assert row.locator("td").inner_text() == "1"
    nl = page.locator('.mail-sample[data-lang="nl"]')
    en = page.locator('.mail-sample[data-lang="en"]')
    assert nl.locator(".subject").inner_text() == "Anna de Vries, de wachttijd is weg"
    assert "Beste Anna de Vries," in nl.locator(".body").inner_text()
    assert en.locator(".subject").inner_text() == "Anna Smith, no more waiting"
    assert db.session.scalar(sa.select(sa.func.count(Campaign.id))) == 0

    # Confirmed with a double click: sent once.
    fields = page.locator("form[action$='/campaign/send']").evaluate(
        "f => Object.fromEntries(new FormData(f))"
    )
    page.get_by_role("button", name=words["confirm"]).dblclick()
    page.wait_for_url(re.compile(r"/effect/\d+$"))
    flash = page.locator(".flash").first.inner_text()
    assert flash.startswith(words["sent"])
    assert words["verdict"] in page.locator("#verdict").inner_text()

    db.session.expire_all()
    campaign = db.session.scalars(sa.select(Campaign)).one()
    groups = dict(
        db.session.execute(
            sa.select(Assignment.customer_id, Assignment.group).where(
                Assignment.experiment_id == campaign.experiment_id
            )
        ).all()
    )
    assert set(groups) == {c.id for c in eligible}
    mails = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "campaign")
    ).all()
    mailed = {m.customer_id: m for m in mails}
    assert len(mails) == len(mailed)  # one each
    treated = {c for c, g in groups.items() if g == ExperimentGroup.TREATED}
    assert set(mailed) == treated
    assert campaign.mailed == len(treated)
    assert campaign.held_back == 10 - len(treated)
    for person in eligible:
        if person.id in mailed:
            mail = mailed[person.id]
            assert mail.language == person.language
            greeting = "Beste" if person.language.value == "nl" else "Dear"
            assert mail.body_text.startswith(f"{greeting} {person.name},")
    for person in (unsubscribed, refused, contacted):
        assert person.id not in groups and person.id not in mailed

    # The same preview confirmed once more (another tab, the back button).
    again = page.request.post(
        live_server + f"/actions/{action.id}/campaign/send", form=fields
    )
    assert words["again"] in again.text()
    db.session.expire_all()
    assert db.session.scalar(
        sa.select(sa.func.count()).where(OutboxMessage.kind == "campaign")
    ) == len(treated)
    assert db.session.scalar(sa.select(sa.func.count(Campaign.id))) == 1

    # The effect page lists it.
    page.goto(live_server + "/effect")
    assert "Shorter waiting times" in page.locator("#effect-experiments").inner_text()
