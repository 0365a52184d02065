"""The invitation schedule: who is invited to which survey, and when."""

import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from karn import clock
from karn.customers.models import Customer
from karn.enums import OPEN_INVITATION_STATES
from karn.extensions import db
from karn.surveys.models import Invitation, Survey, SurveyVersion

log = logging.getLogger(__name__)


def active_survey() -> Survey | None:
    """The survey departed customers are invited to: the first with a version."""
    return db.session.scalar(
        sa.select(Survey)
        .where(sa.exists().where(SurveyVersion.survey_id == Survey.id))
        .order_by(Survey.id)
        .limit(1)
    )


def schedule_invitations(customer_ids: list[int]) -> int:
    """Give each newly departed, mailable customer a scheduled invitation.

    Skips people without an email, unsubscribed, bounced or erased, those who
    left longer ago than the cut-off, and those with an open invitation.
    Returns how many invitations were scheduled.
    """
    if not customer_ids:
        return 0
    survey = active_survey()
    if survey is None:
        return 0
    config = current_app.config
    now = clock.now()
    delay = timedelta(hours=config["INVITATION_DELAY_HOURS"])
    cutoff = now - timedelta(days=config["INVITATION_CUTOFF_DAYS"])
    open_invitation = (
        sa.select(Invitation.id)
        .where(
            Invitation.customer_id == Customer.id,
            Invitation.survey_id == survey.id,
            Invitation.status.in_(OPEN_INVITATION_STATES),
        )
        .exists()
    )
    scheduled = 0
    for start in range(0, len(customer_ids), 500):
        chunk = customer_ids[start : start + 500]
        rows = db.session.execute(
            sa.select(Customer.id, Customer.departed_at).where(
                Customer.id.in_(chunk),
                Customer.email.is_not(None),
                Customer.unsubscribed_at.is_(None),
                Customer.bounced_at.is_(None),
                Customer.erased_at.is_(None),
                Customer.departed_at >= cutoff,
                ~open_invitation,
            )
        ).all()
        if rows:
            db.session.execute(
                sa.insert(Invitation),
                [
                    {
                        "customer_id": cid,
                        "survey_id": survey.id,
                        "scheduled_for": max(departed + delay, now),
                        "status": "scheduled",
                        "reminders_sent": 0,
                        "created_at": now,
                    }
                    for cid, departed in rows
                ],
            )
            scheduled += len(rows)
    return scheduled


def latest_invitations(customer_ids: list[int]) -> dict[int, Invitation]:
    """Each customer's newest invitation, in one query."""
    if not customer_ids:
        return {}
    newest = (
        sa.select(sa.func.max(Invitation.id))
        .where(Invitation.customer_id.in_(customer_ids))
        .group_by(Invitation.customer_id)
    )
    query = sa.select(Invitation).where(Invitation.id.in_(newest))
    return {i.customer_id: i for i in db.session.scalars(query)}
