"""Making the demo: customers, answers, calls, feedback and a campaign, in one
transaction per step, through Karn's own code paths."""

import random
from datetime import datetime, timedelta

from karn import clock
from karn.actions.models import ImprovementAction
from karn.demo.active import active_rows, insert_active, train_and_score
from karn.demo.answers import _submit_responses
from karn.demo.calls import _calls, _survey_win_backs
from karn.demo.campaign import campaign as _campaign
from karn.demo.common import (
    ACTION_DESCRIPTION,
    ACTION_TITLE,
    DEMO_LOGINS,
    TZ,
    DemoError,
)
from karn.demo.customers import (
    _customer_rows,
    _insert_customers,
    _insert_invitations,
    _make_users,
    _mark_unmailable,
    _plan_invitation,
    _refuse_unless_empty,
)
from karn.demo.feedback import feedback_items
from karn.enums import InvitationStatus, Reason, Role
from karn.extensions import db
from karn.surveys import delivery
from karn.surveys.editing import ensure_default_survey


def _months_ago(now: datetime, months: float) -> datetime:
    return now - timedelta(days=round(months * 30.44))


def seed_demo(
    customers: int = 4000, months: int = 18, seed: int = 7, active: int = 0
) -> dict:
    """Fill an empty, migrated database with the demo; returns what it made.

    With ``active`` current customers (karn.demo.active) the churn-risk model
    is trained and they are scored, so the at-risk page has something to show.
    """
    if customers < 1 or months < 1:
        raise DemoError("The demo needs at least one customer and one month.")
    _refuse_unless_empty()
    rng = random.Random(seed)
    # The caller's clock (a test may have set it) is restored afterwards.
    previous = clock._frozen
    now = clock.now()
    start = _months_ago(now, months)
    action_start = _months_ago(now, min(7, max(1, months // 2)))
    try:
        survey, _created = ensure_default_survey()
        if "demo" not in survey.name.lower():
            survey.name = f"{survey.name} (demo)"
        version = delivery.latest_version(survey.id)
        users = _make_users()
        manager = users[Role.MANAGER][0]
        action = ImprovementAction(
            title=ACTION_TITLE,
            description=ACTION_DESCRIPTION,
            reason=Reason.SERVICE,
            owner_id=manager.id,
            started_on=action_start.astimezone(TZ).date(),
            created_at=action_start - timedelta(days=3),
        )
        db.session.add(action)
        db.session.commit()

        rows = _customer_rows(rng, customers, start, now, action_start)
        _insert_customers(rows)
        rows_by_id = {row["_id"]: row for row in rows}
        invitations = []
        for row in rows:
            invitation = _plan_invitation(rng, row, now, version.id)
            if invitation is not None:
                invitation["survey_id"] = survey.id
                invitations.append(invitation)
        _insert_invitations(invitations)
        _mark_unmailable(rows)
        answered = _submit_responses(rng, rows_by_id, invitations, version.id)
        clock.freeze(previous)
        tasks, notes = _calls(
            rng, rows_by_id, invitations, users[Role.STAFF], now, start
        )
        won_back = _survey_win_backs(rng, rows_by_id, invitations, now)
        feedback = _feedback(rng, rows, start, now, customers)
        # A month after the action started, those who had left for its reason
        # were told; the window of win-backs has closed since, when the demo
        # spans long enough.
        campaign = _campaign(
            rng, action, manager, action_start + timedelta(days=30), start
        )
        risk = {}
        if active:
            insert_active(active_rows(rng, active, now))
            risk = train_and_score()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        clock.freeze(previous)
    return {
        "customers": len(rows),
        "invitations": len(invitations),
        "scheduled": sum(
            1 for i in invitations if i["status"] == InvitationStatus.SCHEDULED
        ),
        "responses": answered,
        "unsubscribed": sum(1 for r in rows if r["unsubscribed_at"]),
        "bounced": sum(1 for r in rows if r["bounced_at"]),
        "call_tasks": tasks,
        "call_notes": notes,
        "win_backs": won_back + campaign["won_back"],
        "users": len(DEMO_LOGINS),
        "feedback": feedback,
        "campaign": campaign,
        "improvement_actions": 1,
        "action_started_on": action_start.astimezone(TZ).date().isoformat(),
        "survey": survey.name,
        "active": active,
        "risk": risk,
    }


def _feedback(
    rng: random.Random,
    rows: list[dict],
    start: datetime,
    now: datetime,
    customers: int,
) -> int:
    """Store and tag feedback items from other channels, about one for every
    ten departures (at least 50); returns how many."""
    from karn.feedback import intake, tagging

    numbers: dict[str, list[str]] = {}
    for row in rows:
        numbers.setdefault(row["language"].value, []).append(row["external_id"])
    items = feedback_items(rng, max(50, customers // 10), start, now, numbers)
    stored = intake.store(items, via="csv")
    db.session.commit()
    tagging.tag_waiting()
    return stored.created


# ---------------------------------------------------------------- command
