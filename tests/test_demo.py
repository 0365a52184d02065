"""The demo data set: what a newcomer sees after `flask demo seed`."""

from collections import Counter
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from conftest import csrf_token

from karn import clock
from karn.accounts.models import User
from karn.demo.cli import demo_cli
from karn.demo.common import ACTION_TITLE, DEMO_LOGINS, DemoError
from karn.demo.seed import seed_demo
from karn.enums import CallOutcome, InvitationStatus, Language, Reason, Role
from karn.models import (
    Answer,
    CallNote,
    CallNoteReason,
    CallTask,
    Customer,
    ImprovementAction,
    Invitation,
    Response,
    ResponseReason,
    Survey,
)

# A set moment, so the generated history (and the reason mix) is the same on
# every day the tests run.
SEEDED_AT = datetime(2026, 2, 9, 10, 0, tzinfo=UTC)


@pytest.fixture
def demo(db):
    """A small demo seeded as of SEEDED_AT; returns seed_demo's counts."""
    clock.freeze(SEEDED_AT)
    try:
        made = seed_demo(customers=300, months=6)
    finally:
        clock.freeze(None)
    return made


def count(db, *where, of=None):
    query = sa.select(sa.func.count()).select_from(of)
    return db.session.scalar(query.where(*where) if where else query)


def test_counts_match_the_database_and_every_customer_is_labelled(db, demo):
    assert demo["customers"] == count(db, of=Customer) == 300
    assert demo["responses"] == count(
        db, Response.submitted_at.is_not(None), of=Response
    )
    assert demo["call_notes"] == count(db, of=CallNote) > 0
    for external_id, extra in db.session.execute(
        sa.select(Customer.external_id, Customer.extra)
    ):
        assert extra == {"demo": "yes"}
        assert external_id.startswith("DEMO-")
    assert "demo" in db.session.scalar(sa.select(Survey.name)).lower()


def test_customers_look_like_real_departures(db, demo):
    languages = Counter(db.session.scalars(sa.select(Customer.language)))
    assert set(languages) == {Language.NL, Language.EN}
    assert 0.6 < languages[Language.NL] / 300 < 0.8
    segments = Counter(db.session.scalars(sa.select(Customer.segment)))
    assert set(segments) == {"Particulier", "MKB", "Enterprise"}
    assert len(set(db.session.scalars(sa.select(Customer.region)))) >= 8
    assert len(set(db.session.scalars(sa.select(Customer.source)))) == 3
    # Business customers pay more than consumers.
    average = dict(
        db.session.execute(
            sa.select(Customer.segment, sa.func.avg(Customer.monthly_revenue)).group_by(
                Customer.segment
            )
        ).all()
    )
    assert average["Particulier"] < average["MKB"] < average["Enterprise"]
    assert count(db, Customer.unsubscribed_at.is_not(None), of=Customer) > 0
    assert count(db, Customer.bounced_at.is_not(None), of=Customer) > 0


def test_invitations_go_through_their_life_cycle(db, demo):
    statuses = Counter(db.session.scalars(sa.select(Invitation.status)))
    for status in ("responded", "expired", "reminded", "bounced", "unsubscribed"):
        assert statuses[InvitationStatus(status)], status
    sent = count(db, Invitation.sent_at.is_not(None), of=Invitation)
    assert 0.28 < statuses[InvitationStatus.RESPONDED] / sent < 0.45
    # Some answered only after the first reminder, some after the second.
    reminders = Counter(
        db.session.scalars(
            sa.select(Invitation.reminders_sent).where(
                Invitation.status == InvitationStatus.RESPONDED
            )
        )
    )
    assert reminders[0] > reminders[1] > reminders[2] > 0
    # Every sent invitation has a working link hash, as the worker would set.
    assert not count(
        db,
        Invitation.sent_at.is_not(None),
        Invitation.token_hash.is_(None),
        of=Invitation,
    )


def test_responses_have_shown_reasons_and_tagged_text(db, demo):
    responses = db.session.scalars(sa.select(Response)).all()
    assert responses
    for response in responses:
        assert response.submitted_at is not None
        shown = response.reasons
        assert sorted(r.reason.value for r in shown) == sorted(r.value for r in Reason)
        primaries = [r.reason for r in shown if r.is_primary]
        assert primaries == [response.primary_reason]
        assert response.invitation.responded_at == response.submitted_at
    texts = db.session.scalars(sa.select(Answer).where(Answer.text.is_not(None))).all()
    assert len(texts) > len(responses) / 2
    assert all(a.sentiment is not None and a.tagged_at is not None for a in texts)
    assert {a.sentiment.value for a in texts} == {"negative", "neutral", "positive"}
    assert len({a.tag_reason for a in texts}) >= 4
    # Both languages are written, and the texts vary.
    languages = {a.response.language for a in texts}
    assert languages == {Language.NL, Language.EN}
    assert len({a.text for a in texts}) > 0.9 * len(texts)
    # Asking to be called puts the person on the call list, as in Karn itself.
    assert count(db, CallTask.response_id.is_not(None), of=CallTask) > 0


def test_service_is_the_most_frequent_primary_reason(db, demo):
    ranking = db.session.execute(
        sa.select(ResponseReason.reason, sa.func.count())
        .where(ResponseReason.is_primary)
        .group_by(ResponseReason.reason)
        .order_by(sa.func.count().desc())
    ).all()
    assert ranking[0][0] == Reason.SERVICE
    assert len(ranking) == 6


def test_an_improvement_action_targets_service(db, demo):
    action = db.session.scalar(sa.select(ImprovementAction))
    assert action.title == ACTION_TITLE
    assert action.reason == Reason.SERVICE
    assert action.owner.role == Role.MANAGER
    assert action.started_on < SEEDED_AT.date()


def test_call_notes_are_written_by_staff_and_tagged(db, demo):
    notes = db.session.scalars(sa.select(CallNote)).all()
    assert notes
    assert {note.author.role for note in notes} == {Role.STAFF}
    assert all(n.sentiment is not None and n.tagged_at is not None for n in notes)
    reached = [n for n in notes if n.outcome == CallOutcome.REACHED]
    assert reached
    assert all(n.reasons and n.tag_reason is not None for n in reached)
    assert count(db, of=CallNoteReason) >= len(reached)
    assert count(db, CallTask.status == "open", of=CallTask) > 0


def test_win_backs_follow_a_promise_on_the_phone_or_an_answer(db, demo):
    from karn.callbacks.models import WinBack
    from karn.surveys.models import Response

    wins = db.session.scalars(sa.select(WinBack)).all()
    assert len(wins) == demo["win_backs"] > 0
    for win in wins:
        assert win.returned_on > win.customer.departed_at.date()
        if win.via == "call":
            note = db.session.get(CallNote, win.note_id)
            assert note.outcome == CallOutcome.WILL_RETURN
            assert note.customer_id == win.customer_id
            assert win.returned_on >= note.created_at.date()
        else:
            answered = db.session.scalar(
                sa.select(Response.submitted_at).where(
                    Response.customer_id == win.customer_id
                )
            )
            assert answered is not None and win.returned_on > answered.date()


def test_demo_logins_work_on_the_login_page(app, db, demo):
    assert count(db, of=User) == len(DEMO_LOGINS)
    for email, _name, _role, _language, password in DEMO_LOGINS:
        assert email.endswith("@example.com")
        client = app.test_client()
        token = csrf_token(client, "/login")
        page = client.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}
        )
        assert page.status_code == 302, email
        assert client.get("/overview").status_code == 200


def test_seeding_twice_is_refused(db, demo):
    with pytest.raises(DemoError, match="only fills an empty database"):
        seed_demo(customers=10, months=2)
    assert count(db, of=Customer) == 300


def test_the_command_prints_counts_and_logins_and_refuses_a_second_run(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(demo_cli, ["seed", "--customers", "60", "--months", "3"])
    assert result.exit_code == 0, result.output
    assert "60 departed customers" in result.output
    for email, _name, _role, _language, password in DEMO_LOGINS:
        assert email in result.output and password in result.output
    again = runner.invoke(demo_cli, ["seed", "--customers", "60"])
    assert again.exit_code == 1
    assert "only fills an empty database" in again.output


def test_feedback_from_several_channels_is_stored_tagged_and_shown(app, db, demo):
    from karn.feedback.models import FeedbackItem

    rows = db.session.execute(
        sa.select(
            FeedbackItem.channel,
            FeedbackItem.tagged_at,
            FeedbackItem.customer_id,
            FeedbackItem.rating,
        )
    ).all()
    assert demo["feedback"] == len(rows) >= 50
    channels = Counter(channel for channel, *_ in rows)
    assert {"support", "complaint", "review", "social", "nps"} <= set(channels)
    # Tagged as the worker would, so the pages show reasons at once.
    assert all(tagged for _, tagged, *_ in rows)
    linked = sum(1 for _, _, customer, _ in rows if customer is not None)
    assert 0 < linked < len(rows)
    # Reviews carry stars, NPS comments a 0-10 score, tickets none.
    for channel, _, _, rating in rows:
        if channel == "review":
            assert 1 <= rating <= 5
        elif channel == "nps":
            assert 0 <= rating <= 10
        elif channel == "support":
            assert rating is None
    client = app.test_client()
    token = csrf_token(client, "/login")
    client.post(
        "/login",
        data={
            "email": "manager@example.com",
            "password": "demo-manager-123",
            "csrf_token": token,
        },
    )
    # The demo manager reads Dutch.
    page = client.get("/feedback/")
    assert page.status_code == 200
    assert "supporttickets" in page.get_data(as_text=True)


def test_nobody_comes_back_after_the_day_the_demo_is_made(db, demo):
    from karn.callbacks.models import WinBack

    latest = db.session.scalar(sa.select(sa.func.max(WinBack.returned_on)))
    assert latest is not None and latest <= SEEDED_AT.date()


def test_a_campaign_was_mailed_from_the_action_and_its_result_is_shown(app, db, demo):
    from karn.experiments.models import Assignment
    from karn.followups.campaign_models import Campaign
    from karn.surveys.models import OutboxMessage

    campaign = db.session.scalars(sa.select(Campaign)).one()
    assert campaign.action.title == ACTION_TITLE
    made = demo["campaign"]
    assert (campaign.mailed, campaign.held_back) == (
        made["mailed"],
        made["held_back"],
    )
    assert made["mailed"] > 0 and made["held_back"] > 0
    groups = Counter(
        db.session.scalars(
            sa.select(Assignment.group).where(
                Assignment.experiment_id == campaign.experiment_id
            )
        )
    )
    assert groups == {"treated": made["mailed"], "held_back": made["held_back"]}
    # The mails are history: sent on the day, never waiting to go out later.
    statuses = set(
        db.session.scalars(
            sa.select(OutboxMessage.status).where(OutboxMessage.kind == "campaign")
        )
    )
    assert statuses == {"sent"}
    client = app.test_client()
    token = csrf_token(client, "/login")
    client.post(
        "/login",
        data={
            "email": "manager@example.com",
            "password": "demo-manager-123",
            "csrf_token": token,
        },
    )
    page = client.get(f"/effect/{campaign.experiment_id}").get_data(as_text=True)
    assert ACTION_TITLE in page
    assert f"{made['mailed']}" in page
