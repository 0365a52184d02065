"""The access request as a document the person can read: headed sections in
their own language, readable labels and dates, beside the complete JSON."""

import os
import re

import pytest
import sqlalchemy as sa

from karn.extensions import db as _db
from tests.conftest import PASSWORD
from tests.test_privacy_erasure import (  # noqa: F401
    EMAIL,
    NAME,
    privacy_app,
    seed_world,
)

HEADINGS = {
    "nl": [
        "Wie wij zijn",
        "Wat wij over u bewaren",
        "Uw antwoorden op onze enquête",
        "Gesprekken en gespreksnotities",
        "Mails die wij u stuurden",
        "Uw berichten aan ons",
        "Wat Karn in uw woorden las",
        "Onze inschatting of u vertrekt",
        "Loting",
        "Doorgegeven aan onze andere systemen",
        "Vastgelegde wijzigingen van uw gegevens",
    ],
    "en": [
        "Who we are",
        "What we hold about you",
        "Your answers to our survey",
        "Calls and call notes",
        "Mails we sent you",
        "Your messages to us",
        "What Karn read in your words",
        "Our estimate of whether you will leave",
        "Draws by lot",
        "Passed on to our other systems",
        "Records of changes to your data",
    ],
}
# What a database dump shows and a person should not have to read.
RAW = [
    r"\bTrue\b",
    r"\bFalse\b",
    r"\bNone\b",
    r"\d{2}:\d{2}:\d{2}\.\d+",  # microseconds
    r"\d{4}-\d{2}-\d{2}T",  # ISO timestamps
    r"\{&#34;|\{\"",  # JSON
]


def person_in(language, create_customer, create_user):
    from karn.customers.models import Customer

    person, _ = seed_world(create_customer, create_user)
    _db.session.get(Customer, person.id).language = language
    _db.session.commit()
    return person


def document_of(client, person) -> str:
    html = client.get(f"/privacy/customers/{person.id}/export").get_data(as_text=True)
    return html[html.index('<article class="document"') : html.index("</article>")]


@pytest.mark.parametrize(
    ("person_language", "admin_language"), [("nl", "en"), ("en", "nl")]
)
def test_the_document_is_in_the_persons_language_not_the_admins(
    privacy_app,  # noqa: F811
    client,
    create_customer,
    create_user,
    login,
    person_language,
    admin_language,
):
    nl = person_language == "nl"
    person = person_in(person_language, create_customer, create_user)
    login(create_user("admin", language=admin_language))
    page = client.get(f"/privacy/customers/{person.id}/export").get_data(as_text=True)
    # The admin's own words around it.
    assert ("Downloaden als JSON" if not nl else "Download as JSON") in page
    document = document_of(client, person)
    assert f'lang="{person_language}"' in document
    assert re.findall(r"<h2>([^<]*)</h2>", document) == HEADINGS[person_language]
    assert ("Uw gegevens bij" if nl else "Your data at") in document
    # Labels, not column names; yes/no in words; amounts and dates in the locale.
    assert (">Nog klant</dt><dd>Nee<" if nl else ">Still a customer</dt><dd>No<") in (
        document
    )
    assert ("€ 49,00" if nl else "€ 49.00") in document.replace("\xa0", " ")
    assert (">Klant gedurende</dt><dd>30 maanden<" if nl else ">30 months<") in document
    assert EMAIL in document and NAME in document
    # The survey's questions in the person's language, with the answers in words.
    assert (
        "Wat was voor u de belangrijkste reden om te vertrekken?"
        if nl
        else "What was the main reason you decided to leave?"
    ) in document
    assert (
        "<dd>Service: 2/5, Kwaliteit: 3/5, Prijs-kwaliteitverhouding: 4/5</dd>"
        if nl
        else "<dd>Service: 2/5, Quality: 3/5, Value for money: 4/5</dd>"
    ) in document
    assert (
        "<dt>Toon</dt><dd>Neutraal</dd>" if nl else "<dt>Tone</dt><dd>Neutral</dd>"
    ) in (document)
    # Mails and notes as written; the call's outcome and reasons as labels.
    assert f"Beste {NAME}" in document
    assert ("<dd>Gesproken</dd>" if nl else "<dd>Reached</dd>") in document
    assert ("Uw gegevens zijn gewijzigd" if nl else "Your details were changed") in (
        document
    )
    for pattern in RAW:
        assert not re.search(pattern, document), pattern
    details = document[document.index('id="doc-held"') :]
    details = details[: details.index("</dl>")]
    assert "_" not in details.replace(EMAIL, "")  # no column names


def test_the_json_download_stays_complete(
    privacy_app,  # noqa: F811
    client,
    create_customer,
    create_user,
    login,
):
    person = person_in("nl", create_customer, create_user)
    login(create_user("admin"))
    data = client.get(f"/privacy/customers/{person.id}/export.json").json
    assert data["customer"]["status"] == "departed"
    assert data["customer"]["involuntary"] is False
    assert {"invitations", "mails", "responses", "call_notes", "audit_log"} <= set(data)


def test_a_section_added_to_the_list_appears_in_the_document(
    privacy_app,  # noqa: F811
    client,
    create_customer,
    create_user,
    login,
):
    from flask_babel import lazy_gettext

    from karn.privacy import document

    person = person_in("en", create_customer, create_user)
    login(create_user("admin"))
    section = document.Section(
        "feedback",
        lazy_gettext("Feedback items"),
        lambda subject: [
            document.Entry(
                heading="Ticket", facts=[("Customer", subject.customer.name)]
            )
        ],
    )
    document.SECTIONS.append(section)
    try:
        html = document_of(client, person)
    finally:
        document.SECTIONS.remove(section)
    assert re.findall(r"<h2>([^<]*)</h2>", html)[-1] == "Feedback items"
    assert f"<dt>Customer</dt><dd>{NAME}</dd>" in html
    assert "Feedback items" not in document_of(client, person)


def test_a_person_with_little_data_gets_nothing_under_the_empty_sections(
    privacy_app,  # noqa: F811
    client,
    create_customer,
    create_user,
    login,
):
    person = create_customer(email="kort@example.nl", name="Kort", language="nl")
    login(create_user("admin"))
    html = document_of(client, person)
    # answers, calls, mails, messages, scores, estimate, draws, passed on, log
    assert html.count("<p>Niets.</p>") == 9


def test_the_document_shows_messages_the_churn_estimate_and_call_draws(
    privacy_app,  # noqa: F811
    client,
    create_customer,
    create_user,
    login,
):
    """What the person wrote elsewhere, how they were profiled and whether they
    were held back from calls: all in their own language."""
    from datetime import timedelta
    from decimal import Decimal

    from karn import clock
    from karn.enums import ExperimentGroup, ExperimentKind
    from karn.experiments.models import Assignment, Experiment
    from karn.feedback.models import FeedbackItem
    from karn.risk.models import RiskScore

    person = create_customer(
        email="piet@example.nl",
        name="Piet",
        language="nl",
        status="active",
        departed_at=None,
        monthly_revenue=Decimal("80"),
    )
    now = clock.now()
    _db.session.add(
        FeedbackItem(
            channel="complaint",
            text="De monteur kwam weer niet opdagen.",
            received_at=now - timedelta(days=3),
            customer_id=person.id,
            dedupe_key="k1",
            via="form",
            rating=2,
            sentiment="negative",
            tag_reason="service",
            tagged_at=now,
        )
    )
    _db.session.add(
        RiskScore(
            customer_id=person.id,
            model_version=1,
            probability=0.34,
            revenue_at_risk=27.2,
            likely_reason="price",
            scored_at=now,
            reasons=[{"feature": "plan", "value": "monthly", "typical": "yearly"}],
        )
    )
    experiment = Experiment(
        kind=ExperimentKind.KEEP_CALL,
        treatment_share=0.8,
        horizon_days=90,
        started_at=now,
    )
    _db.session.add(experiment)
    _db.session.flush()
    _db.session.add(
        Assignment(
            experiment_id=experiment.id,
            customer_id=person.id,
            group=ExperimentGroup.HELD_BACK,
            draw=0.93,
            assigned_at=now,
            ends_at=now + timedelta(days=90),
        )
    )
    campaign = Experiment(
        kind=ExperimentKind.CAMPAIGN,
        treatment_share=0.8,
        horizon_days=90,
        started_at=now,
    )
    _db.session.add(campaign)
    _db.session.flush()
    _db.session.add(
        Assignment(
            experiment_id=campaign.id,
            customer_id=person.id,
            group=ExperimentGroup.TREATED,
            draw=0.12,
            assigned_at=now,
            ends_at=now + timedelta(days=90),
        )
    )
    from karn.webhooks.models import WebhookDelivery, WebhookEndpoint

    endpoint = WebhookEndpoint(
        url="https://crm.example.nl/hooks/karn",
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        events=["customer.won_back"],
        failures=0,
    )
    _db.session.add(endpoint)
    _db.session.flush()
    _db.session.add(
        WebhookDelivery(
            endpoint_id=endpoint.id,
            event="customer.won_back",
            message_id="msg_document_test",
            body='{"type":"customer.won_back","data":{"customer":{"id":1}}}',
            personal=False,
            customer_id=person.id,
        )
    )
    _db.session.commit()
    login(create_user("admin", language="en"))
    html = document_of(client, person)
    assert "Uw berichten aan ons" in html
    assert "De monteur kwam weer niet opdagen." in html
    assert "(klachten)" in html
    assert "Onze inschatting of u vertrekt" in html
    assert "34 %" in html
    assert "Loting" in html
    assert "niet gebeld" in html
    # The campaign draw is about a mail, not a call.
    assert "een mail krijgt" in html
    assert "crm.example.nl: customer.won_back, met alleen ons klantnummer" in html
    for pattern in RAW:
        assert not re.search(pattern, html), pattern


# --- In the browser --------------------------------------------------------

SHOTS = os.environ.get("KARN_SCREENSHOTS")  # a folder: save what the test sees


@pytest.mark.browser
@pytest.mark.parametrize("language", ["en", "nl"])
def test_the_document_reads_on_a_screen_and_a_phone(
    browser,
    live_server,
    privacy_app,  # noqa: F811
    create_customer,
    create_user,
    language,
):
    person = person_in(language, create_customer, create_user)
    admin = create_user("admin", email="privacy@example.com", language=language)
    context = browser.new_context(locale="nl-NL" if language == "nl" else "en-GB")
    page = context.new_page()
    page.goto(live_server + "/login")
    page.locator("input[name=email]").fill(admin.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/overview$"))
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(live_server + f"/privacy/customers/{person.id}/export")
        headings = page.locator("#document h2").all_inner_texts()
        assert headings == HEADINGS[language]
        assert page.locator("#document").get_attribute("lang") == language
        if SHOTS:
            page.screenshot(
                path=os.path.join(SHOTS, f"export-{language}-{width}.png"),
                full_page=True,
            )
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    # Printed, only the document is left.
    page.emulate_media(media="print")
    assert not page.locator(".no-print").is_visible()
    assert page.locator("#document h1").is_visible()
    context.close()
    exports = _db.session.scalars(
        sa.text("SELECT count(*) FROM audit_log WHERE action = 'privacy.export'")
    ).one()
    assert exports == 2
