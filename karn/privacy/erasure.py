"""Erasure: removing a person's personal data everywhere Karn holds it.

What erasure removes and what it keeps
--------------------------------------
Removed: the customer's name, email, phone, external id, stated comment and
every imported extra attribute (free-form columns may hold anything, from an
address to a date of birth); the text and value of free-text and phone/time
answers; call-note texts; call-task phone numbers and preferred times; the
address, subject, bodies and headers of their mail in the outbox; their
identifiers in audit-log details; their rows in stored import files.

Kept, because none of it identifies a person on its own and the analysis
needs it: departure date, plan, segment, region, tenure, monthly revenue,
lifetime value, language, source and the stated reason code on the customer
record; responses with the reasons shown and chosen, ratings, scales, yes/no
answers and the sentiment and reason tags of the removed texts; call outcomes
and the reasons heard; invitation and mail rows with their states and dates.
So the reason ranking, trends and segment figures do not change (filters on
an imported extra attribute no longer see the person).

The address is put on the suppression list as a SHA-256 hash only, so a later
import of the same person is never mailed; the email and customer number are
kept as SHA-256 hashes with the day of the erasure (karn.customers.erased), so
no intake path records that departure again.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from karn import clock
from karn.accounts import audit
from karn.accounts.models import AuditEntry
from karn.analysis import funnel
from karn.callbacks.models import CallNote, CallTask
from karn.customers import comments, erased
from karn.customers.models import Customer, ImportRun, Suppression
from karn.customers.stripe_subscriptions import StripeSubscription
from karn.enums import (
    OPEN_INVITATION_STATES,
    CallTaskStatus,
    InvitationStatus,
    OutboxStatus,
)
from karn.experiments import operations as experiments
from karn.extensions import db
from karn.feedback import privacy as feedback
from karn.privacy import scrub
from karn.privacy.guard import scrubbing
from karn.surveys.definition import CHOICE_TYPES, PHONE_TIME, TEXT_TYPES
from karn.surveys.delivery import email_hash
from karn.surveys.models import (
    Answer,
    Invitation,
    OutboxMessage,
    Response,
    ResponseReason,
    SurveyVersion,
)
from karn.webhooks import privacy as webhooks

PERSONAL_FIELDS = ("name", "email", "phone", "external_id", "stated_comment")
KEPT_FIELDS = (
    "departed_at",
    "plan",
    "segment",
    "region",
    "tenure_months",
    "monthly_revenue",
    "lifetime_value",
    "language",
    "source",
    "stated_reason",
)
# Mail that will never be sent: cancelled together with the erasure. A failed
# message could otherwise be retried by hand without an address.
UNSENT = (OutboxStatus.PENDING, OutboxStatus.HELD, OutboxStatus.FAILED)
# SQLite parses a long OR chain as a deep tree (at most 1000 levels).
TERMS_PER_QUERY = 100

REMOVED_LABELS = {
    "customer_fields": _l("Personal fields of the customer record"),
    "extra_attributes": _l("Imported extra attributes"),
    "answers": _l("Free-text and phone answers"),
    "call_notes": _l("Call-note texts"),
    "call_tasks": _l("Phone numbers and preferred times on call tasks"),
    "mails": _l("Mails: address, subject, text and headers"),
    "audit_entries": _l("Audit-log entries mentioning the person"),
    "import_rows": _l("Rows in stored import files"),
    "import_files": _l("Stored import files removed entirely"),
    "feedback_items": _l("Feedback texts"),
    "experiment_assignments": _l("Draws into keep calls and their control groups"),
    "webhook_payloads": _l("Webhook payloads with personal fields"),
}
CLOSED_LABELS = {
    "invitations_cancelled": _l("Open invitations cancelled"),
    "mails_cancelled": _l("Unsent mails cancelled"),
    "call_tasks_closed": _l("Open call tasks closed"),
    "addresses_suppressed": _l("Addresses kept as a one-way hash only"),
    "identifiers_hashed": _l(
        "Email and customer number kept as a one-way hash, so imports do not "
        "bring them back"
    ),
}
KEPT_LABELS = {
    "customer_attributes": _l(
        "Customer attributes (departure date, plan, segment, region, tenure, "
        "revenue, language, source, stated reason)"
    ),
    "responses": _l("Survey responses"),
    "shown_reasons": _l("Reasons shown and chosen"),
    "answers": _l("Ratings, scales, choices and yes/no answers"),
    "call_notes": _l("Call outcomes and reasons heard"),
    "invitations": _l("Invitations (status and dates)"),
    "mails": _l("Mails (status and dates)"),
    "feedback_items": _l("Feedback items (channel, date, rating and tags)"),
}


@dataclass
class ErasureReport:
    """What an erasure removed, closed and kept, counted per kind."""

    customers: int = 0
    customer_ids: list[int] = field(default_factory=list)
    dry_run: bool = False
    removed: Counter = field(default_factory=Counter)
    closed: Counter = field(default_factory=Counter)
    kept: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON: every known kind, zero when nothing was found."""
        return {
            "customers": self.customers,
            "customer_ids": self.customer_ids,
            "dry_run": self.dry_run,
            "removed": {k: self.removed.get(k, 0) for k in REMOVED_LABELS},
            "closed": {k: self.closed.get(k, 0) for k in CLOSED_LABELS},
            "kept": {k: self.kept.get(k, 0) for k in KEPT_LABELS},
        }

    def rows(self, section: str) -> list[tuple[str, str, int]]:
        """(key, label, count) of one section, for the admin's page."""
        labels = {
            "removed": REMOVED_LABELS,
            "closed": CLOSED_LABELS,
            "kept": KEPT_LABELS,
        }[section]
        counts = getattr(self, section)
        return [(k, str(label), counts.get(k, 0)) for k, label in labels.items()]


# --- erasure -------------------------------------------------------------------


def _question_types(version_id: int, cache: dict[int, dict[str, str]]) -> dict:
    if version_id not in cache:
        version = db.session.get(SurveyVersion, version_id)
        questions = version.questions if version is not None else []
        cache[version_id] = {
            q.get("key"): q.get("type") for q in questions if isinstance(q, dict)
        }
    return cache[version_id]


def _is_personal_answer(answer: Answer, types: dict[str, str]) -> bool:
    kind = types.get(answer.question_key)
    if answer.text is not None:
        return True
    return answer.value is not None and (kind in TEXT_TYPES or kind == PHONE_TIME)


def _customer_mail(customer: Customer):
    conditions = [OutboxMessage.customer_id == customer.id]
    if customer.email:
        conditions.append(sa.func.lower(OutboxMessage.to_address) == customer.email)
    return sa.select(OutboxMessage).where(sa.or_(*conditions))


def _erase_one(
    customer: Customer,
    report: ErasureReport,
    needles: scrub.Needles,
    now: datetime,
    types_cache: dict,
) -> None:
    dry = report.dry_run
    addresses = {customer.email} if customer.email else set()
    needles.add(customer.email)
    needles.add(customer.name)
    needles.add(customer.phone, phone=True)
    needles.add(customer.external_id)

    # Survey answers: free text and phone numbers go, codes and numbers stay.
    responses = db.session.scalars(
        sa.select(Response).where(Response.customer_id == customer.id)
    ).all()
    report.kept["responses"] += len(responses)
    for response in responses:
        report.kept["shown_reasons"] += db.session.scalar(
            sa.select(sa.func.count()).where(ResponseReason.response_id == response.id)
        )
        types = _question_types(response.survey_version_id, types_cache)
        for answer in response.answers:
            if not _is_personal_answer(answer, types):
                report.kept["answers"] += 1
                continue
            report.removed["answers"] += 1
            if isinstance(answer.value, dict):
                needles.add(answer.value.get("phone"), phone=True)
            if not dry:
                answer.text = None
                if types.get(answer.question_key) not in CHOICE_TYPES:
                    answer.value = None  # a choice keeps its code, not its words

    for task in db.session.scalars(
        sa.select(CallTask).where(CallTask.customer_id == customer.id)
    ):
        needles.add(task.phone, phone=True)
        if task.phone or task.preferred_time or task.note:
            report.removed["call_tasks"] += 1
        if task.status == CallTaskStatus.OPEN:
            report.closed["call_tasks_closed"] += 1
        if not dry:
            task.phone = task.preferred_time = task.note = None
            if task.status == CallTaskStatus.OPEN:
                task.status, task.closed_at = CallTaskStatus.CLOSED, now

    for note in db.session.scalars(
        sa.select(CallNote).where(CallNote.customer_id == customer.id)
    ):
        report.kept["call_notes"] += 1
        if note.text:
            report.removed["call_notes"] += 1
            if not dry:
                note.text = None

    invitations = db.session.scalars(
        sa.select(Invitation).where(Invitation.customer_id == customer.id)
    ).all()
    report.kept["invitations"] += len(invitations)
    for invitation in invitations:
        if invitation.status in OPEN_INVITATION_STATES:
            report.closed["invitations_cancelled"] += 1
            if not dry:
                invitation.status = InvitationStatus.CANCELLED
                invitation.closed_at = now

    for message in db.session.scalars(_customer_mail(customer)):
        report.kept["mails"] += 1
        if message.to_address:
            addresses.add(message.to_address.lower())
            needles.add(message.to_address)
        if (
            message.to_address
            or message.subject
            or message.body_text
            or message.body_html
            or message.headers
        ):
            report.removed["mails"] += 1
        if message.status in UNSENT:
            report.closed["mails_cancelled"] += 1
        if not dry:
            message.to_address = message.subject = None
            message.body_text = message.body_html = None
            message.headers = {}
            if message.status in UNSENT:
                message.status = OutboxStatus.CANCELLED

    # Only a hash stays, so an import of the same address later is not mailed.
    for address in sorted(addresses):
        key = email_hash(address)
        entry = db.session.get(Suppression, key)
        if entry is None or entry.email is not None:
            report.closed["addresses_suppressed"] += 1
        if not dry:
            if entry is None:
                db.session.add(Suppression(email_hash=key, email=None, reason="erased"))
            else:
                entry.email = None

    # Email and customer number stay as hashes, so intake refuses this departure.
    if customer.email or customer.external_id:
        report.closed["identifiers_hashed"] += 1
        if not dry:
            erased.record_erasure(
                customer.email, customer.external_id, erased.local_day(now)
            )

    filled = [f for f in PERSONAL_FIELDS if getattr(customer, f)]
    report.removed["customer_fields"] += len(filled)
    report.removed["extra_attributes"] += len(customer.extra or {})
    report.kept["customer_attributes"] += sum(
        1 for f in KEPT_FIELDS if getattr(customer, f) is not None
    )
    if not dry:
        for name in PERSONAL_FIELDS:
            setattr(customer, name, None)
        customer.extra = {}
        customer.erased_at = now
        # Their Stripe subscriptions' ids would tie the record to Stripe's
        # customer again; the revenue and departure stay on the record.
        db.session.execute(
            sa.delete(StripeSubscription).where(
                StripeSubscription.customer_id == customer.id
            )
        )


def _audit_candidates(needles: scrub.Needles, customer_ids: list[int]):
    """Audit entries about these customers or mentioning their identifiers."""
    seen: dict[int, AuditEntry] = {}
    if customer_ids:
        query = sa.select(AuditEntry).where(
            AuditEntry.target_type == Customer.__tablename__,
            AuditEntry.target_id.in_([str(i) for i in customer_ids]),
        )
        for entry in db.session.scalars(query):
            seen[entry.id] = entry
    details = sa.func.lower(sa.cast(AuditEntry.details, sa.Text))
    terms = sorted(needles.search_terms())
    for start in range(0, len(terms), TERMS_PER_QUERY):
        chunk = terms[start : start + TERMS_PER_QUERY]
        query = sa.select(AuditEntry).where(
            sa.or_(*(details.contains(t, autoescape=True) for t in chunk))
        )
        for entry in db.session.scalars(query):
            seen[entry.id] = entry
    return [seen[i] for i in sorted(seen)]


def _scrub_audit(report: ErasureReport, needles: scrub.Needles) -> None:
    entries = _audit_candidates(needles, report.customer_ids)
    changed = []
    for entry in entries:
        details = scrub.scrub_json(entry.details or {}, needles)
        # The person's own requests (an unsubscribe) carry their IP address.
        own = (
            entry.target_type == Customer.__tablename__
            and entry.target_id in {str(i) for i in report.customer_ids}
            and entry.user_id is None
            and entry.api_key_id is None
            and entry.ip is not None
        )
        if details != (entry.details or {}) or own:
            changed.append((entry, details, own))
    report.removed["audit_entries"] += len(changed)
    if report.dry_run or not changed:
        return
    with scrubbing(db.session):
        for entry, details, own in changed:
            entry.details = details
            if own:
                entry.ip = None
        db.session.flush()


def _scrub_imports(report: ErasureReport, needles: scrub.Needles) -> None:
    runs = db.session.scalars(
        sa.select(ImportRun).where(
            sa.or_(ImportRun.upload.is_not(None), ImportRun.rejected_csv.is_not(None))
        )
    ).all()
    for run in runs:
        for column in ("upload", "rejected_csv"):
            blob = getattr(run, column)
            if blob is None:
                continue
            try:
                result = scrub.scrub_csv(blob, needles)
            except (OSError, EOFError, ValueError):
                # Not a readable gzip CSV: it cannot be checked, so it goes.
                result = scrub.BlobScrub(None, dropped=True)
            report.removed["import_rows"] += result.rows_removed
            report.removed["import_files"] += int(result.dropped)
            if not report.dry_run and result.blob is not blob:
                setattr(run, column, result.blob)
        if run.error and needles.found_in(run.error):
            if not report.dry_run:
                run.error = needles.replace(run.error)

    def scrub_blob(blob: bytes) -> tuple[bytes | None, int]:
        try:
            result = scrub.scrub_csv(blob, needles)
        except (OSError, EOFError, ValueError):
            return None, 0  # not a readable gzip CSV: it goes
        return result.blob, result.rows_removed

    # Feedback files not yet imported, too (karn.feedback.privacy).
    rows, files = feedback.scrub_uploads(scrub_blob, report.dry_run)
    report.removed["import_rows"] += rows
    report.removed["import_files"] += files


def erase_many(
    customers: list[Customer],
    *,
    user=None,
    api_key=None,
    dry_run: bool = False,
    reason: str = "request",
) -> ErasureReport:
    """Erase several people at once (one scan of the audit log and import files)."""
    now = clock.now()
    report = ErasureReport(dry_run=dry_run)
    needles = scrub.Needles()
    types_cache: dict[int, dict[str, str]] = {}
    for customer in customers:
        report.customers += 1
        report.customer_ids.append(customer.id)
        _erase_one(customer, report, needles, now, types_cache)
    removed, kept = feedback.erase_texts(report.customer_ids, dry_run)
    report.removed["feedback_items"] += removed
    report.kept["feedback_items"] += kept
    report.removed["experiment_assignments"] += experiments.forget(
        report.customer_ids, dry_run
    )
    # Scrubbed in the delivery log, and customer.erased sent to the endpoints.
    report.removed["webhook_payloads"] += webhooks.erase(report.customer_ids, dry_run)
    if not dry_run:
        # The comment is gone, and with it what was read in it.
        comments.forget(report.customer_ids)
        # So are the churn-risk scores and explanations.
        from karn.risk import operations as risk_operations  # numpy: on use

        risk_operations.forget(report.customer_ids)
        db.session.flush()
        # The funnel's notes of this change still hold the imported
        # attributes just removed: fold them in now (which also drops the
        # funnel's cells that only this person was counted in).
        funnel.compact(db.session.connection())
    if needles:
        _scrub_imports(report, needles)
    _scrub_audit(report, needles)
    if not dry_run:
        for customer in customers:
            # The entry names the customer by id only: no personal data.
            audit.record(
                "privacy.erase",
                customer,
                user=user,
                api_key=api_key,
                reason=reason,
            )
        db.session.flush()
    return report


def erase_customer(customer: Customer, user=None, api_key=None) -> ErasureReport:
    """Remove one person's personal data everywhere; flushes, the caller commits."""
    return erase_many([customer], user=user, api_key=api_key)


def preview_erasure(customer: Customer) -> ErasureReport:
    """What erase_customer would remove and keep, without changing anything."""
    return erase_many([customer], dry_run=True)


def find_customer(email: str | None = None, external_id: str | None = None):
    """The customer with this email or external id, or None."""
    query = sa.select(Customer)
    if external_id:
        query = query.where(Customer.external_id == external_id.strip())
    elif email:
        query = query.where(Customer.email == email.strip().lower())
    else:
        return None
    return db.session.scalars(query.order_by(Customer.id).limit(1)).first()
