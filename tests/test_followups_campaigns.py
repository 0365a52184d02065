"""“We fixed it” campaigns from an improvement action: who matches, who may be
mailed and why the rest not, the mail in each recipient's language, a random
control group that is recorded and not mailed, and a confirm that sends once.
"""

import csv
import io
import re
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.actions.models import ImprovementAction
from karn.callbacks.models import WinBack
from karn.customers.models import Customer
from karn.enums import ExperimentGroup, ExperimentKind
from karn.experiments import operations as experiments
from karn.experiments.models import Assignment, Experiment
from karn.followups import campaigns
from karn.followups.campaign_models import Campaign
from karn.surveys.default_survey import CONSENT_KEY
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Answer, OutboxMessage, Response
from tests.conftest import CSRF_RE

# A Monday, 11:00 in Amsterdam: outside the quiet hours.
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LEFT = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
FORM = {
    "since": "2025-03-01",
    "until": "2026-02-28",
    "subject_nl": "{name}, de wachttijd is weg",
    "body_nl": "Beste {name},\n\nU belde ons en moest lang wachten.\nDat is nu "
    "voorbij: {{ 7 * 7 }} <script>niet uitgevoerd</script>.",
    "subject_en": "{name}, no more waiting",
    "body_en": "Dear {name},\n\nYou had to wait on the phone.\nNo longer.",
    "held_back": "20",
}


class Draws:
    """Stands in for the random source: these draws, in customer order."""

    def __init__(self, values):
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


@pytest.fixture(autouse=True)
def _clock():
    clock.freeze(NOW)
    yield
    clock.freeze(None)


@pytest.fixture
def survey(db):
    survey, _ = ensure_default_survey()
    db.session.commit()
    return survey


@pytest.fixture
def action(db):
    action = ImprovementAction(
        title="Shorter waiting times", reason="service", started_on=date(2026, 2, 20)
    )
    db.session.add(action)
    db.session.commit()
    return action


def person(
    db,
    survey,
    name,
    *,
    language="nl",
    reason="service",
    consent="yes",
    left=LEFT,
    **fields,
) -> Customer:
    customer = Customer(
        external_id=name,
        email=re.sub("[^a-z]", "", name.lower()) + "@example.nl",
        name=name,
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
        primary_reason=reason,
        started_at=left + timedelta(days=2),
        submitted_at=left + timedelta(days=2),
    )
    db.session.add(response)
    db.session.flush()
    if consent is not None:
        db.session.add(
            Answer(response_id=response.id, question_key=CONSENT_KEY, value=consent)
        )
    db.session.commit()
    return customer


@pytest.fixture
def people(db, survey):
    """Who matches, and who of them may not be mailed, one of each rule."""
    found = {
        "Anke": person(db, survey, "Anke", language="nl"),
        "Bob": person(db, survey, "Bob <b>Smith</b>", language="en"),
        "Carla": person(db, survey, "Carla", language="nl"),
        "Unsubscribed": person(db, survey, "Unsubscribed", unsubscribed_at=NOW),
        "No consent": person(db, survey, "No consent", consent="no"),
        "Never asked": person(db, survey, "Never asked", consent=None),
        "Bounced": person(db, survey, "Bounced", bounced_at=NOW),
        "Contacted": person(db, survey, "Contacted"),
        "Won back": person(db, survey, "Won back"),
        "Held back": person(db, survey, "Held back"),
        # Not matching: another reason, or left outside the period.
        "Price": person(db, survey, "Price", reason="price"),
        "Early": person(db, survey, "Early", left=datetime(2024, 1, 1, tzinfo=UTC)),
    }
    db.session.add(
        OutboxMessage(
            kind="follow_up",
            customer_id=found["Contacted"].id,
            to_address=found["Contacted"].email,
            language="nl",
            subject="Eerder",
            body_text="Eerder",
            message_id="<earlier@karn.example>",
            created_at=NOW - timedelta(days=5),
        )
    )
    db.session.add(
        WinBack(
            customer_id=found["Won back"].id, returned_on=date(2026, 2, 1), via="manual"
        )
    )
    other = Experiment(
        kind=ExperimentKind.FOLLOW_UP,
        horizon_days=90,
        treatment_share=0.8,
        title="Price follow-up",
    )
    db.session.add(other)
    db.session.flush()
    db.session.add(
        Assignment(
            experiment_id=other.id,
            customer_id=found["Held back"].id,
            group=ExperimentGroup.HELD_BACK,
            draw=0.95,
            assigned_at=NOW - timedelta(days=3),
            ends_at=NOW + timedelta(days=87),
        )
    )
    db.session.commit()
    return found


def campaign_mails(db) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).where(OutboxMessage.kind == "campaign")
    )


def _key(client, action) -> str:
    page = client.get(f"/actions/{action.id}/campaign").get_data(as_text=True)
    return _hidden(page, "key")


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', page) or (
        re.search(rf'type="hidden" name="{name}" value="([^"]*)"', page)
    )
    assert match, name
    return match.group(1)


def _post(client, url, data):
    page = client.get("/account").get_data(as_text=True)
    token = CSRF_RE.search(page)
    if token is None:
        page = client.get(url.rsplit("/send", 1)[0]).get_data(as_text=True)
        token = CSRF_RE.search(page)
    csrf = token.group(1) or token.group(2)
    return client.post(url, data={**data, "csrf_token": csrf})


def test_the_preview_counts_who_may_be_mailed_and_why_not(
    app, db, client, create_user, login, action, people
):
    login(create_user("manager", language="en"))
    key = _key(client, action)
    page = _post(client, f"/actions/{action.id}/campaign", {**FORM, "key": key})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<dd id="matched">10</dd>' in text
    assert '<dd id="eligible">3</dd>' in text
    for rule, n in {
        "unsubscribed": 1,
        "no_consent": 2,
        "undeliverable": 1,
        "recently_contacted": 1,
        "won_back": 1,
        "held_back": 1,
    }.items():
        assert f'data-rule="{rule}"' in text
        row = text.split(f'data-rule="{rule}"')[1].split("</tr>")[0]
        assert f'<td class="num">{n}</td>' in row
    # The mail as received, in both languages, the name filled in, the
    # manager's text shown as text.
    assert "Anna de Vries, de wachttijd is weg" in text
    assert "Anna Smith, no more waiting" in text
    assert "{{ 7 * 7 }} &lt;script&gt;niet uitgevoerd&lt;/script&gt;" in text
    # Where each recipient's own unsubscribe link goes, said in words.
    assert "[hier komt de persoonlijke afmeldlink]" in text
    assert "[each recipient&#39;s own unsubscribe link]" in text
    # Nothing is sent by a preview.
    assert campaign_mails(db) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0


def test_confirming_mails_the_drawn_in_their_language_once(
    app, db, client, create_user, login, action, people, monkeypatch
):
    # Anke and Bob are drawn to be mailed, Carla is held back.
    monkeypatch.setattr(experiments, "_random", Draws([0.1, 0.2, 0.9]))
    login(create_user("manager", language="nl"))
    data = {**FORM, "key": _key(client, action)}
    sent = _post(client, f"/actions/{action.id}/campaign/send", data)
    assert sent.status_code == 302
    campaign = db.session.scalars(sa.select(Campaign)).one()
    assert sent.location.endswith(f"/effect/{campaign.experiment_id}")
    assert (campaign.matched, campaign.eligible) == (10, 3)
    assert (campaign.mailed, campaign.held_back) == (2, 1)
    assert campaign.excluded["no_consent"] == 2
    mails = {
        m.customer_id: m
        for m in db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.kind == "campaign")
        )
    }
    assert set(mails) == {people["Anke"].id, people["Bob"].id}
    anke, bob = mails[people["Anke"].id], mails[people["Bob"].id]
    assert anke.language.value == "nl" and bob.language.value == "en"
    assert anke.subject == "Anke, de wachttijd is weg"
    assert anke.body_text.startswith("Beste Anke,\n\nU belde ons")
    assert "{{ 7 * 7 }} <script>niet uitgevoerd</script>" in anke.body_text
    assert "{{ 7 * 7 }} &lt;script&gt;" in anke.body_html
    assert "<br>" in anke.body_html
    assert bob.subject == "Bob <b>Smith</b>, no more waiting"
    assert "Dear Bob &lt;b&gt;Smith&lt;/b&gt;," in bob.body_html
    assert "<b>Smith" not in bob.body_html
    assert "No more mail from us" in bob.body_text
    assert "Geen e-mail meer van ons" in anke.body_text
    for mail in mails.values():
        assert mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert mail.due_at == NOW
    # Everyone eligible is recorded with their draw and group.
    groups = dict(
        db.session.execute(
            sa.select(Assignment.customer_id, Assignment.group).where(
                Assignment.experiment_id == campaign.experiment_id
            )
        ).all()
    )
    assert groups == {
        people["Anke"].id: ExperimentGroup.TREATED,
        people["Bob"].id: ExperimentGroup.TREATED,
        people["Carla"].id: ExperimentGroup.HELD_BACK,
    }
    experiment = db.session.get(Experiment, campaign.experiment_id)
    assert experiment.kind == ExperimentKind.CAMPAIGN
    assert experiment.title == "Shorter waiting times"
    assert experiment.horizon_days == 90 and experiment.treatment_share == 0.8
    # The same confirm again (a double click, the back button) sends nothing.
    again = _post(client, f"/actions/{action.id}/campaign/send", data)
    assert again.status_code == 302
    assert again.location.endswith(f"/effect/{campaign.experiment_id}")
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(OutboxMessage.kind == "campaign")
        )
        == 2
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 1
    page = client.get(again.location).get_data(as_text=True)
    assert "Deze campagne was al verstuurd" in page
    # The draws behind the groups, for anyone who wants to check them.
    assert f"/effect/{campaign.experiment_id}/draws.csv" in page
    draws = client.get(f"/effect/{campaign.experiment_id}/draws.csv")
    assert draws.headers["Content-Disposition"].endswith(
        f"campaign-{campaign.experiment_id}-draws.csv"
    )
    rows = list(csv.reader(io.StringIO(draws.get_data(as_text=True))))
    assert rows[0][:3] == ["Klant-id", "Lotnummer", "Groep"]
    assert {(int(r[0]), r[1], r[2]) for r in rows[1:]} == {
        (people["Anke"].id, "0.1", "treated"),
        (people["Bob"].id, "0.2", "treated"),
        (people["Carla"].id, "0.9", "held_back"),
    }
    assert "Shorter waiting times" in page


def test_a_new_campaign_leaves_out_who_is_in_one_or_was_just_mailed(
    app, db, client, create_user, login, action, people, monkeypatch
):
    monkeypatch.setattr(experiments, "_random", Draws([0.1, 0.2, 0.9]))
    login(create_user("manager", language="en"))
    _post(
        client,
        f"/actions/{action.id}/campaign/send",
        {**FORM, "key": _key(client, action)},
    )
    page = _post(
        client, f"/actions/{action.id}/campaign", {**FORM, "key": _key(client, action)}
    ).get_data(as_text=True)
    assert '<dd id="eligible">0</dd>' in page
    assert "Nobody in this period may be mailed." in page
    assert 'id="confirm"' not in page
    row = page.split('data-rule="in_campaign"')[1].split("</tr>")[0]
    assert '<td class="num">1</td>' in row  # Carla, held back
    row = page.split('data-rule="recently_contacted"')[1].split("</tr>")[0]
    assert '<td class="num">3</td>' in row  # Anke, Bob, and the earlier one


def test_in_the_quiet_hours_the_mails_wait(
    app, db, client, create_user, login, action, people, monkeypatch
):
    clock.freeze(datetime(2026, 3, 2, 21, 30, tzinfo=UTC))  # 22:30 in Amsterdam
    monkeypatch.setattr(experiments, "_random", Draws([0.1, 0.2, 0.3]))
    login(create_user("manager"))
    _post(
        client,
        f"/actions/{action.id}/campaign/send",
        {**FORM, "key": _key(client, action)},
    )
    due = db.session.scalars(
        sa.select(OutboxMessage.due_at).where(OutboxMessage.kind == "campaign")
    ).all()
    assert len(due) == 3
    assert set(due) == {datetime(2026, 3, 3, 7, 0, tzinfo=UTC)}  # 08:00 local


def test_the_form_checks_what_it_is_given(
    app, db, client, create_user, login, action, people
):
    login(create_user("manager", language="en"))
    key = _key(client, action)
    page = _post(
        client,
        f"/actions/{action.id}/campaign",
        {
            **FORM,
            "key": key,
            "subject_en": " ",
            "until": "2025-01-01",
            "held_back": "0",
        },
    ).get_data(as_text=True)
    assert "Write a subject in English." in page
    assert "The last day lies before the first day." in page
    assert "Hold back between 1 and 99 percent." in page
    forged = _post(
        client, f"/actions/{action.id}/campaign/send", {**FORM, "key": "short"}
    ).get_data(as_text=True)
    assert "The form is out of date" in forged
    assert campaign_mails(db) == 0


def test_staff_may_not_mail_a_campaign(app, client, create_user, login, action):
    login(create_user("staff"))
    assert client.get(f"/actions/{action.id}/campaign").status_code == 403


def test_the_action_page_offers_it(app, client, create_user, login, action):
    login(create_user("manager", language="nl"))
    page = client.get(f"/actions/{action.id}").get_data(as_text=True)
    assert f'href="/actions/{action.id}/campaign"' in page
    assert "Campagne mailen" in page


def test_the_matching_follows_the_latest_answer(app, db, survey, action):
    changed = person(db, survey, "Changed mind", reason="price")
    db.session.add(
        Response(
            customer_id=changed.id,
            survey_version_id=survey.versions[-1].id,
            language="nl",
            primary_reason="service",
            started_at=LEFT + timedelta(days=5),
            submitted_at=LEFT + timedelta(days=5),
        )
    )
    db.session.commit()
    found = db.session.scalars(
        campaigns.matching("service", date(2025, 3, 1), date(2026, 2, 28))
    ).all()
    assert found == [changed.id]


def test_two_confirms_at_once_send_once(
    app, db, create_user, login, action, people, monkeypatch
):
    """A double click reaches the server as two requests at the same moment."""
    import threading

    monkeypatch.setattr(experiments, "_random", Draws([0.1, 0.2, 0.9] * 2))
    manager = create_user("manager")
    clients = [app.test_client(), app.test_client()]
    tokens = []
    for client in clients:
        page = client.get("/login").get_data(as_text=True)
        token = CSRF_RE.search(page)
        client.post(
            "/login",
            data={
                "email": manager.email,
                "password": "correct-horse-battery",
                "csrf_token": token.group(1) or token.group(2),
            },
        )
        page = client.get("/account").get_data(as_text=True)
        token = CSRF_RE.search(page)
        tokens.append(token.group(1) or token.group(2))
    data = {**FORM, "key": campaigns.new_key()}
    start = threading.Barrier(2)
    answers = [None, None]

    def confirm(i):
        with app.app_context():
            start.wait()
            answers[i] = clients[i].post(
                f"/actions/{action.id}/campaign/send",
                data={**data, "csrf_token": tokens[i]},
            )
            db.session.remove()

    threads = [threading.Thread(target=confirm, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [302, 302]
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 1
    assert campaign_mails(db) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Assignment)) == 4


def test_the_held_back_are_reported_to_webhooks_as_a_followup_result(
    app, db, client, create_user, login, action, people, monkeypatch
):
    import json

    from karn.webhooks import events, subscribers
    from karn.webhooks.models import WebhookDelivery, WebhookEndpoint
    from karn.webhooks.views import new_secret

    endpoint = WebhookEndpoint(
        url="https://hooks.example.com/karn",
        secret=new_secret(),
        events=[events.FOLLOWUP_RESULT],
        failures=0,
    )
    db.session.add(endpoint)
    db.session.commit()
    subscribers.invalidate()
    # Anke and Bob are mailed, Carla is held back.
    monkeypatch.setattr(experiments, "_random", Draws([0.1, 0.2, 0.9]))
    login(create_user("manager", language="en"))
    data = {**FORM, "key": _key(client, action)}
    assert _post(client, f"/actions/{action.id}/campaign/send", data).status_code == 302
    campaign = db.session.scalars(sa.select(Campaign)).one()
    bodies = [
        json.loads(body)
        for body in db.session.scalars(
            sa.select(WebhookDelivery.body).where(
                WebhookDelivery.endpoint_id == endpoint.id
            )
        )
    ]
    # The held back hear nothing from Karn, so their result is known at once;
    # the mailed get theirs when the mail is sent.
    assert [b["data"] for b in bodies] == [
        {
            "experiment": {"id": campaign.experiment_id, "kind": "campaign"},
            "group": "held_back",
            "outcome": "held_back",
            "customer": {"id": people["Carla"].id},
        }
    ]


def test_a_name_with_a_line_break_still_gets_a_sendable_mail(
    app, db, survey, action, monkeypatch
):
    """Names come from CSV files (a quoted field may span lines)."""
    from karn.surveys import wire

    customer = person(db, survey, "Anke")
    customer.name = "Anke\r\nde Vries"
    db.session.commit()
    monkeypatch.setattr(experiments, "_random", Draws([0.1]))
    texts = campaigns.Texts(
        "{name}, de wachttijd\nis weg", "Beste {name},\n\nVoorbij.", "x", "y"
    )
    sent = campaigns.send(
        action,
        key=campaigns.new_key(),
        since=date(2025, 3, 1),
        until=date(2026, 2, 28),
        texts=texts,
        share=0.8,
        by=None,
    )
    db.session.commit()
    assert sent.campaign.mailed == 1
    mail = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "campaign")
    ).one()
    assert mail.subject == "Anke de Vries, de wachttijd is weg"
    assert "Beste Anke de Vries," in mail.body_text
    assert b"Subject: Anke de Vries, de wachttijd is weg" in wire.render(mail)


def test_a_campaign_and_a_follow_up_deciding_at_once_mail_a_person_once(
    app, db, survey, action, monkeypatch
):
    """A campaign confirmed while the worker writes follow-ups: both would find
    the person not yet contacted; the second to decide waits for the first
    and then sees its mail. On SQLite as on PostgreSQL."""
    from karn.followups import eligibility, scheduling
    from karn.followups.models import FollowUp
    from tests.test_followups import TEXTS

    follow_up = FollowUp(reason="service", delay_days=7, **TEXTS)
    db.session.add(follow_up)
    follow_up.active = True
    follow_up.active_since = follow_up.scanned_at = NOW - timedelta(days=30)
    follow_up.scanned_id = 0
    scheduling.ensure_experiment(follow_up)
    db.session.commit()
    # Answered eight days ago: the follow-up (after 7 days) is due, and the
    # departure lies in the campaign's period.
    anke = person(db, survey, "Anke", left=NOW - timedelta(days=10)).id
    action_id = action.id
    monkeypatch.setattr(
        experiments, "_random", type("R", (), {"random": lambda _: 0.1})()
    )
    db.session.remove()

    first_read, second_read = threading.Event(), threading.Event()
    real = eligibility.eligible_ids

    def eligible_ids(customer_ids=None, now=None):
        # The campaign reads who may be mailed, then waits for the follow-up
        # pass to read too: the moment both would find Anke not contacted.
        # With the lock the pass cannot read before the campaign committed.
        found = real(customer_ids, now)
        if threading.current_thread().name == "campaign":
            first_read.set()
            second_read.wait(timeout=1.5)
        else:
            second_read.set()
        return found

    monkeypatch.setattr(eligibility, "eligible_ids", eligible_ids)
    errors = []

    def confirm():
        try:
            with app.app_context():
                campaigns.send(
                    db.session.get(ImprovementAction, action_id),
                    key=campaigns.new_key(),
                    since=date(2025, 3, 1),
                    until=date(2026, 2, 28),
                    texts=campaigns.Texts("{name}", "Beste {name}", "{name}", "Dear"),
                    share=0.8,
                    by=None,
                )
                db.session.commit()
                db.session.remove()
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)
            first_read.set()

    def follow_up_pass():
        try:
            with app.app_context():
                scheduling.schedule_due()
                db.session.remove()
        except Exception as error:
            errors.append(error)

    campaign = threading.Thread(target=confirm, name="campaign")
    campaign.start()
    assert first_read.wait(timeout=10)
    worker = threading.Thread(target=follow_up_pass, name="follow-up")
    worker.start()
    campaign.join()
    worker.join()
    assert errors == []
    kinds = db.session.scalars(
        sa.select(OutboxMessage.kind).where(OutboxMessage.customer_id == anke)
    ).all()
    assert kinds == ["campaign"]
