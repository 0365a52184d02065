"""Access requests: everything Karn holds on one person, as plain data."""

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
from flask import current_app

from karn import clock
from karn.callbacks.models import CallNote, CallTask
from karn.customers.models import Customer, ImportRun, Suppression
from karn.experiments import operations as experiments
from karn.extensions import db
from karn.feedback import privacy as feedback
from karn.followups import privacy as followups
from karn.privacy import scrub
from karn.privacy.erasure import _audit_candidates, _customer_mail
from karn.risk.models import RiskScore
from karn.surveys.delivery import email_hash
from karn.surveys.models import Invitation, OutboxMessage, Response
from karn.webhooks import privacy as webhooks

# --- access request ------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _row(obj, *exclude: str) -> dict[str, Any]:
    mapper = sa.inspect(type(obj))
    return {
        c.key: _plain(getattr(obj, c.key))
        for c in mapper.column_attrs
        if c.key not in exclude
    }


def _person_needles(customer: Customer) -> scrub.Needles:
    needles = scrub.Needles()
    needles.add(customer.email)
    needles.add(customer.name)
    needles.add(customer.phone, phone=True)
    needles.add(customer.external_id)
    return needles


def export_person(customer: Customer) -> dict[str, Any]:
    """Everything Karn holds on one person, as plain JSON-ready data."""
    responses = []
    for response in db.session.scalars(
        sa.select(Response)
        .where(Response.customer_id == customer.id)
        .order_by(Response.id)
    ):
        item = _row(response)
        item["survey_version"] = response.survey_version.number
        item["answers"] = [
            _row(a, "response_id") for a in sorted(response.answers, key=lambda a: a.id)
        ]
        item["reasons_shown"] = [
            _row(r, "response_id")
            for r in sorted(response.reasons, key=lambda r: r.position)
        ]
        responses.append(item)
    tasks = db.session.scalars(
        sa.select(CallTask)
        .where(CallTask.customer_id == customer.id)
        .order_by(CallTask.id)
    ).all()
    notes = db.session.scalars(
        sa.select(CallNote)
        .where(CallNote.customer_id == customer.id)
        .order_by(CallNote.id)
    ).all()
    needles = _person_needles(customer)
    audit_entries = []
    for entry in _audit_candidates(needles, [customer.id]):
        row = _row(entry)
        row["user"] = entry.user.email if entry.user else None
        audit_entries.append(row)
    suppressed = None
    if customer.email:
        entry = db.session.get(Suppression, email_hash(customer.email))
        if entry is not None:
            suppressed = _row(entry, "email_hash")
    import_rows = []
    if needles:
        runs = db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id))
        for run in runs:
            for column in ("upload", "rejected_csv"):
                blob = getattr(run, column)
                if blob is None:
                    continue
                try:
                    rows = scrub.rows_about(blob, needles)
                except (OSError, EOFError, ValueError):
                    continue
                import_rows += [
                    {
                        "import_id": run.id,
                        "filename": run.filename,
                        "file": column,
                        "row": row,
                    }
                    for row in rows
                ]
    return {
        "exported_at": clock.now().isoformat(),
        "company": current_app.config["COMPANY_NAME"],
        "customer": _row(customer),
        "invitations": [
            _row(i, "token_hash")
            for i in db.session.scalars(
                sa.select(Invitation)
                .where(Invitation.customer_id == customer.id)
                .order_by(Invitation.id)
            )
        ],
        "mails": [
            _row(m, "claimed_by", "claimed_at")
            for m in db.session.scalars(
                _customer_mail(customer).order_by(OutboxMessage.id)
            )
        ],
        "responses": responses,
        "call_tasks": [_row(t) for t in tasks],
        "call_notes": [
            {**_row(n), "reasons": sorted(r.reason.value for r in n.reasons)}
            for n in notes
        ],
        "audit_log": audit_entries,
        "suppression": suppressed,
        "import_rows": import_rows,
        "feedback_items": feedback.export(customer.id),
        # Only what left for endpoints receiving personal fields.
        "webhook_deliveries": webhooks.export(customer.id),
        "follow_ups": followups.for_person(customer.id),
        "experiment_assignments": experiments.for_person(customer.id),
        # The churn-risk score with its explanation; none after an objection.
        "churn_risk": [
            _row(score, "customer_id")
            for score in db.session.scalars(
                sa.select(RiskScore).where(RiskScore.customer_id == customer.id)
            )
        ],
    }
