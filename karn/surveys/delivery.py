"""The invitation schedule: who is invited when, reminders, expiry, unsubscribes.

An invitation goes scheduled -> sent -> reminded -> responded, or ends as
expired, unsubscribed, bounced, failed or cancelled. The worker calls
`run_due` each pass: due invitations get their mail written to the outbox
(in the same transaction as the state change), due reminders likewise, and old
links expire. Each step claims its rows with a conditional UPDATE, so two
workers never write the same mail twice.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from karn import clock, settings
from karn.customers import bulk
from karn.customers.models import Customer, Suppression
from karn.enums import (
    OPEN_INVITATION_STATES,
    CustomerStatus,
    InvitationStatus,
    OutboxStatus,
)
from karn.extensions import db
from karn.surveys import links, mails, outbox
from karn.surveys.models import Invitation, OutboxMessage, Survey, SurveyVersion

log = logging.getLogger(__name__)
BATCH = 500


def email_hash(email: str) -> str:
    """The key of the suppression list: SHA-256 of the trimmed, lower-cased address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def suppress(email: str | None, reason: str) -> None:
    """Put an address on the suppression list (once)."""
    if not email:
        return
    key = email_hash(email)
    if db.session.get(Suppression, key) is None:
        db.session.add(Suppression(email_hash=key, email=email.lower(), reason=reason))
        db.session.flush()


def is_suppressed(email: str | None) -> bool:
    """True when the address must never be mailed."""
    return bool(email) and db.session.get(Suppression, email_hash(email)) is not None


def active_survey() -> Survey | None:
    """The survey departed customers are invited to: the first with a version."""
    return db.session.scalar(
        sa.select(Survey)
        .where(sa.exists().where(SurveyVersion.survey_id == Survey.id))
        .order_by(Survey.id)
        .limit(1)
    )


def latest_version(survey_id: int) -> SurveyVersion | None:
    """The newest published version of a survey: what new invitations get."""
    return db.session.scalar(
        sa.select(SurveyVersion)
        .where(SurveyVersion.survey_id == survey_id)
        .order_by(SurveyVersion.number.desc())
        .limit(1)
    )


def by_choice() -> list:
    """Conditions on who is invited: a departure because paying failed (a
    declined card, a dispute) only with INVITE_INVOLUNTARY."""
    if current_app.config.get("INVITE_INVOLUNTARY"):
        return []
    return [Customer.involuntary.is_(False)]


def schedule_invitations(customer_ids: list[int]) -> int:
    """Give each newly departed, mailable customer a scheduled invitation.

    Skips people without an email, unsubscribed, bounced, erased or on the
    suppression list, those who left longer ago than the cut-off, those with
    an open invitation, and those who left because paying failed (unless
    INVITE_INVOLUNTARY). Returns how many invitations were scheduled.
    """
    if not customer_ids:
        return 0
    survey = active_survey()
    if survey is None:
        return 0
    now = clock.now()
    delay = timedelta(hours=float(settings.get("INVITATION_DELAY_HOURS")))
    cutoff = now - timedelta(days=int(settings.get("INVITATION_CUTOFF_DAYS")))
    scheduled = 0
    for start in range(0, len(customer_ids), BATCH):
        chunk = customer_ids[start : start + BATCH]
        rows = db.session.execute(
            sa.select(Customer.id, Customer.departed_at, Customer.email).where(
                Customer.id.in_(chunk),
                Customer.status == CustomerStatus.DEPARTED,
                *by_choice(),
                Customer.email.is_not(None),
                Customer.unsubscribed_at.is_(None),
                Customer.bounced_at.is_(None),
                Customer.erased_at.is_(None),
                Customer.departed_at >= cutoff,
            )
        ).all()
        # Looked up apart rather than as NOT EXISTS: PostgreSQL, without
        # statistics on invitations just written (an import in progress),
        # would read all of the survey's open invitations for every customer.
        invited = _with_open_invitation(survey.id, [r.id for r in rows])
        suppressed = suppressed_among([email for _, _, email in rows])
        rows = [
            r
            for r in rows
            if r.id not in invited and email_hash(r.email) not in suppressed
        ]
        if rows:
            # Two workers may pick the same customer at once: the one index
            # that allows a single open invitation per survey decides.
            dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
            db.session.execute(
                dialect.insert(Invitation).on_conflict_do_nothing(),
                [
                    {
                        "customer_id": cid,
                        "survey_id": survey.id,
                        "scheduled_for": max(departed + delay, now),
                        "status": InvitationStatus.SCHEDULED,
                        "reminders_sent": 0,
                        "created_at": now,
                    }
                    for cid, departed, _email in rows
                ],
            )
            scheduled += len(rows)
    return scheduled


def schedule_missing(limit: int = 10_000) -> int:
    """Invite the departed customers who should have been and never were.

    The schedule follows from the customers' state, not from the moment they
    arrived: departures stored before any survey existed, or while a worker
    was down, are invited once there is a survey. Only customers without any
    invitation, within the cut-off, are looked at (through the index on the
    departure date), at most ``limit`` per call.
    """
    if active_survey() is None:
        return 0
    cutoff = clock.now() - timedelta(days=int(settings.get("INVITATION_CUTOFF_DAYS")))
    never_invited = (
        ~sa.select(Invitation.id).where(Invitation.customer_id == Customer.id).exists()
    )
    ids = db.session.scalars(
        sa.select(Customer.id)
        .where(
            Customer.erased_at.is_(None),
            Customer.departed_at >= cutoff,
            Customer.status == CustomerStatus.DEPARTED,
            *by_choice(),
            Customer.email.is_not(None),
            Customer.unsubscribed_at.is_(None),
            Customer.bounced_at.is_(None),
            never_invited,
        )
        .order_by(Customer.departed_at, Customer.id)
        .limit(limit)
    ).all()
    return schedule_invitations(list(ids))


def _with_open_invitation(survey_id: int, customer_ids: list[int]) -> set[int]:
    """Those of these customers with an open invitation to the survey."""
    if not customer_ids:
        return set()
    query = sa.select(Invitation.customer_id).where(
        Invitation.customer_id.in_(customer_ids),
        Invitation.survey_id == survey_id,
        Invitation.status.in_(OPEN_INVITATION_STATES),
    )
    return set(db.session.scalars(query))


def suppressed_among(emails: list[str]) -> set[str]:
    hashes = [email_hash(e) for e in emails if e]
    if not hashes:
        return set()
    query = sa.select(Suppression.email_hash).where(
        bulk.one_of(Suppression.email_hash, hashes)
    )
    return set(db.session.scalars(query))


def next_send_time(now: datetime) -> datetime:
    """now, or the end of the quiet hours if now falls inside them."""
    start, end = (
        int(settings.get("QUIET_HOURS_START")),
        int(settings.get("QUIET_HOURS_END")),
    )
    if start == end:
        return now
    zone = ZoneInfo(settings.get("TIMEZONE"))
    local = now.astimezone(zone)
    hour = local.hour
    quiet = (start <= hour or hour < end) if start > end else (start <= hour < end)
    if not quiet:
        return now
    resume = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if resume <= local:
        resume += timedelta(days=1)
    return resume.astimezone(now.tzinfo)


@dataclass
class DueReport:
    """What one pass over the schedule did."""

    invited: int = 0
    reminded: int = 0
    expired: int = 0
    skipped: int = 0
    # The batch of due invitations was full: more may be waiting.
    more: bool = False


def _unmailable_status(row, suppressed: set[str]) -> InvitationStatus | None:
    """How an invitation closes whose customer may no longer be mailed, if so."""
    if row.unsubscribed_at or (row.email and email_hash(row.email) in suppressed):
        return InvitationStatus.UNSUBSCRIBED
    if row.bounced_at:
        return InvitationStatus.BOUNCED
    if row.erased_at or not row.email:
        return InvitationStatus.CANCELLED
    return None


def _claimed(ids: list[int], claim, values: dict) -> list[int]:
    """Claim invitations with one conditional UPDATE: only the worker whose
    UPDATE changes a row writes its mail. The ids that were claimed, in order."""
    if not ids:
        return []
    claimed = set(
        db.session.scalars(
            sa.update(Invitation)
            .where(Invitation.id.in_(ids), claim)
            .values(**values)
            .returning(Invitation.id),
            execution_options={"synchronize_session": False},
        )
    )
    return [i for i in ids if i in claimed]


def _due(*where) -> list[int]:
    """Up to BATCH invitations; on PostgreSQL those another worker is busy
    with are skipped rather than waited for."""
    return list(
        db.session.scalars(
            sa.select(Invitation.id)
            .where(*where)
            .order_by(Invitation.scheduled_for, Invitation.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    )


def _write_mails(
    kind: str, ids: list[int], now: datetime, tokens: dict[int, str] | None = None
) -> tuple[list[tuple[int, int]], int]:
    """Write the mail of claimed invitations, in their order, to the outbox; close
    those whose customer may no longer be mailed (unsubscribed, on the
    suppression list, undeliverable, erased, without an address). Returns the
    (invitation, survey) pairs mailed and how many were closed."""
    if not ids:
        return [], 0
    rows = db.session.execute(
        sa.select(
            Invitation.id,
            Invitation.survey_id,
            Customer.id.label("customer_id"),
            Customer.email,
            Customer.name,
            Customer.language,
            Customer.unsubscribed_at,
            Customer.bounced_at,
            Customer.erased_at,
        )
        .join(Customer, Customer.id == Invitation.customer_id)
        .where(Invitation.id.in_(ids))
    ).all()
    position = {invitation_id: i for i, invitation_id in enumerate(ids)}
    rows.sort(key=lambda row: position[row.id])
    suppressed = suppressed_among([row.email for row in rows if row.email])
    closing: dict[InvitationStatus, list[int]] = {}
    mailed = []
    for row in rows:
        status = _unmailable_status(row, suppressed)
        if status is None:
            mailed.append(row)
        else:
            closing.setdefault(status, []).append(row.id)
    for status, closed in closing.items():
        db.session.execute(
            sa.update(Invitation)
            .where(Invitation.id.in_(closed))
            .values(status=status, closed_at=now),
            execution_options={"synchronize_session": False},
        )
    default_language = current_app.config["DEFAULT_LANGUAGE"]
    recipients = [
        mails.Recipient(
            customer_id=row.customer_id,
            invitation_id=row.id,
            name=row.name,
            language=row.language.value if row.language else default_language,
            token=(tokens or {}).get(row.id),
        )
        for row in mailed
    ]
    due_at = next_send_time(now)
    outbox.enqueue_many(
        {
            "kind": kind,
            "to_address": row.email,
            "language": person.language,
            "customer_id": row.customer_id,
            "invitation_id": row.id,
            "due_at": due_at,
            **mail,
        }
        for row, person, mail in zip(
            mailed, recipients, mails.survey_mails(kind, recipients), strict=True
        )
    )
    return [(row.id, row.survey_id) for row in mailed], sum(map(len, closing.values()))


def prepare_due_invitations(now: datetime) -> tuple[int, int, bool]:
    """Write the invitation mail of up to BATCH due invitations, in one
    transaction; returns (sent, skipped, more): more when the batch was full,
    so that more may be due."""
    due = _due(
        Invitation.status == InvitationStatus.SCHEDULED,
        Invitation.token_hash.is_(None),
        Invitation.scheduled_for <= now,
    )
    if not due:
        return 0, 0, False
    tokens = {
        invitation_id: links.invitation_token(invitation_id) for invitation_id in due
    }
    claimed = _claimed(
        due,
        Invitation.token_hash.is_(None),
        {
            "token_hash": sa.case(
                {i: links.token_hash(token) for i, token in tokens.items()},
                value=Invitation.id,
            )
        },
    )
    mailed, skipped = _write_mails("invitation", claimed, now, tokens)
    valid_until = now + timedelta(days=int(settings.get("LINK_VALID_DAYS")))
    by_survey: dict[int, list[int]] = {}
    for invitation_id, survey_id in mailed:
        by_survey.setdefault(survey_id, []).append(invitation_id)
    for survey_id, invitation_ids in by_survey.items():
        db.session.execute(
            sa.update(Invitation)
            .where(Invitation.id.in_(invitation_ids))
            .values(
                survey_version_id=latest_version(survey_id).id,
                expires_at=valid_until,
            ),
            execution_options={"synchronize_session": False},
        )
    db.session.commit()
    return len(mailed), skipped, len(due) == BATCH


def send_due_reminders(now: datetime) -> int:
    """Write the reminder mail of every invitation whose next reminder is due."""
    days = settings.reminder_days()
    reminded = 0
    for number, day in enumerate(days):
        due = _due(
            Invitation.status.in_((InvitationStatus.SENT, InvitationStatus.REMINDED)),
            Invitation.reminders_sent == number,
            Invitation.sent_at <= now - timedelta(days=day),
            sa.or_(Invitation.expires_at.is_(None), Invitation.expires_at > now),
        )
        claimed = _claimed(
            due, Invitation.reminders_sent == number, {"reminders_sent": number + 1}
        )
        mailed, _closed = _write_mails("reminder", claimed, now)
        reminded += len(mailed)
        db.session.commit()
    return reminded


def expire_invitations(now: datetime) -> int:
    """Close invitations whose link has run out."""
    expired = db.session.execute(
        sa.update(Invitation)
        .where(
            Invitation.status.in_(OPEN_INVITATION_STATES),
            Invitation.expires_at.is_not(None),
            Invitation.expires_at <= now,
        )
        .values(status=InvitationStatus.EXPIRED, closed_at=now)
    ).rowcount
    db.session.commit()
    return expired


def run_due_invitations(now: datetime | None = None) -> DueReport:
    """The next batch of due invitations alone, when run_due left more."""
    report = DueReport()
    report.invited, report.skipped, report.more = prepare_due_invitations(
        now or clock.now()
    )
    return report


def run_due(now: datetime | None = None) -> DueReport:
    """One pass over the schedule: invitations, reminders, expiry."""
    now = now or clock.now()
    report = DueReport()
    report.expired = expire_invitations(now)
    report.invited, report.skipped, report.more = prepare_due_invitations(now)
    report.reminded = send_due_reminders(now)
    return report


def _cancel_pending_mail(where) -> int:
    return db.session.execute(
        sa.update(OutboxMessage)
        .where(
            where, OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.HELD))
        )
        .values(status=OutboxStatus.CANCELLED)
    ).rowcount


def record_response(invitation: Invitation) -> None:
    """The invitation is answered: no more reminders."""
    now = clock.now()
    invitation.status = InvitationStatus.RESPONDED
    invitation.responded_at = invitation.closed_at = now
    _cancel_pending_mail(OutboxMessage.invitation_id == invitation.id)


def unsubscribe(customer: Customer, reason: str = "unsubscribed") -> bool:
    """Stop all mail to a customer at once; True when it changed anything."""
    now = clock.now()
    changed = customer.unsubscribed_at is None
    if changed:
        customer.unsubscribed_at = now
    db.session.execute(
        sa.update(Invitation)
        .where(
            Invitation.customer_id == customer.id,
            Invitation.status.in_(OPEN_INVITATION_STATES),
        )
        .values(status=InvitationStatus.UNSUBSCRIBED, closed_at=now)
    )
    _cancel_pending_mail(OutboxMessage.customer_id == customer.id)
    suppress(customer.email, reason)
    return changed


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
