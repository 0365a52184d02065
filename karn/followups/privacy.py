"""A person's follow-ups for the access export: the draw and the mail.

Erasure needs nothing here: it removes the person's draws
(karn.experiments.operations.forget) and empties their mail in the outbox,
follow-ups included; a follow-up itself holds no personal data.
"""

from typing import Any

import sqlalchemy as sa

from karn.enums import ExperimentGroup
from karn.experiments.models import Assignment
from karn.extensions import db
from karn.followups.models import FollowUp
from karn.followups.scheduling import KIND
from karn.surveys.models import OutboxMessage


def for_person(customer_id: int) -> list[dict[str, Any]]:
    """Each follow-up the person was drawn for: reason, group, draw, and for
    the treated the mail written for them (written in the draw's transaction,
    so the first follow-up mail from the draw on)."""
    draws = db.session.execute(
        sa.select(Assignment, FollowUp.reason)
        .join(FollowUp, FollowUp.experiment_id == Assignment.experiment_id)
        .where(Assignment.customer_id == customer_id)
        .order_by(Assignment.assigned_at, Assignment.id)
    ).all()
    mails = db.session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.customer_id == customer_id, OutboxMessage.kind == KIND)
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    ).all()
    out = []
    for assignment, reason in draws:
        mail = None
        if assignment.group == ExperimentGroup.TREATED:
            mail = next(
                (m for m in mails if m.created_at >= assignment.assigned_at), None
            )
            if mail is not None:
                mails.remove(mail)
        out.append(
            {
                "reason": reason.value,
                "experiment_id": assignment.experiment_id,
                "group": assignment.group.value,
                "draw": assignment.draw,
                "assigned_at": assignment.assigned_at.isoformat(),
                "mail": None
                if mail is None
                else {
                    "outbox_id": mail.id,
                    "status": mail.status.value,
                    "subject": mail.subject,
                    "to_address": mail.to_address,
                    "created_at": mail.created_at.isoformat(),
                    "sent_at": mail.sent_at.isoformat() if mail.sent_at else None,
                },
            }
        )
    return out
