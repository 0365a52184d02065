"""The demo's "we fixed it" campaign: mailed from the improvement action some
months ago, through Karn's own campaign code, with invented win-backs in both
groups so the effect page has a finished result to show."""

import random
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from karn import clock
from karn.accounts.models import User
from karn.actions.models import ImprovementAction
from karn.callbacks.models import WinBack
from karn.customers.models import Customer
from karn.enums import ExperimentGroup, OutboxStatus
from karn.experiments import operations as experiments
from karn.experiments.models import Assignment
from karn.extensions import db
from karn.followups import campaigns
from karn.surveys.models import OutboxMessage

TEXTS = campaigns.Texts(
    subject_nl="{name}, u wordt voortaan binnen 24 uur teruggebeld",
    body_nl=(
        "U vertelde ons dat u vertrok om onze klantenservice. Dat hebben we ons "
        "aangetrokken: wie ons belt en niet direct geholpen wordt, wordt nu binnen "
        "24 uur teruggebeld door een vaste medewerker.\n\n"
        "Welkom terug? Bel ons gerust, we helpen u graag."
    ),
    subject_en="{name}, we now call you back within 24 hours",
    body_en=(
        "You told us you left because of our customer service. We took that to "
        "heart: whoever calls us and is not helped at once is now called back "
        "within 24 hours by a dedicated colleague.\n\n"
        "Would you like to come back? Just call us, we are glad to help."
    ),
)
# Invented chances of coming back within the window: mailed and held back.
CHANCE = {ExperimentGroup.TREATED: 0.09, ExperimentGroup.HELD_BACK: 0.03}


def campaign(
    rng: random.Random,
    action: ImprovementAction,
    manager: User,
    sent_at: datetime,
    since: datetime,
) -> dict:
    """Mail the campaign as of ``sent_at`` to those who left for the action's
    reason from ``since`` on, then let some come back; returns the counts.

    The mails are marked sent on that day: they are history, and must not go
    out when the demo database later gets a mail server.
    """
    previous = clock._frozen
    clock.freeze(sent_at)
    try:
        # Drawn from the demo's own seeded source: the same demo each time.
        with experiments.drawn_with(rng):
            sent = campaigns.send(
                action,
                key=secrets.token_urlsafe(16),
                since=since.date(),
                until=sent_at.date(),
                texts=TEXTS,
                share=0.8,
                by=manager,
            )
        if sent.campaign is None:
            db.session.rollback()
            return {"mailed": 0, "held_back": 0, "won_back": 0}
        experiment_id = sent.campaign.experiment_id
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.kind == campaigns.KIND.value)
            .values(status=OutboxStatus.SENT, sent_at=sent_at)
        )
        db.session.commit()
    finally:
        clock.freeze(previous)
    drawn = db.session.execute(
        sa.select(Assignment.customer_id, Assignment.group, Customer.monthly_revenue)
        .join(Customer, Customer.id == Assignment.customer_id)
        .where(Assignment.experiment_id == experiment_id)
        .order_by(Assignment.customer_id)
    ).all()
    won = 0
    today = clock.now().date()
    for customer_id, group, revenue in drawn:
        if rng.random() < CHANCE[group]:
            returned_on = (sent_at + timedelta(days=rng.randint(3, 80))).date()
            if returned_on > today:
                continue  # a shorter demo: nobody comes back in the future
            db.session.add(
                WinBack(
                    customer_id=customer_id,
                    returned_on=returned_on,
                    via="manual",
                    revenue=revenue,
                    recorded_by_id=manager.id,
                )
            )
            won += 1
    db.session.commit()
    return {
        "mailed": sent.campaign.mailed,
        "held_back": sent.campaign.held_back,
        "won_back": won,
    }
