"""Seeding the demo's call tasks, call notes and win-backs."""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from karn.accounts.models import User
from karn.callbacks.models import (
    SOURCE_PRIORITY,
    CallNote,
    CallNoteReason,
    CallTask,
    WinBack,
)
from karn.demo.common import DAY, _business_hours, _fill, _pick
from karn.demo.texts import CALL_OUTCOME_TEXTS, CALL_TEXTS, REASONS, WILL_RETURN_TEXTS
from karn.enums import (
    CallOutcome,
    CallTaskSource,
    CallTaskStatus,
    InvitationStatus,
    Language,
    Reason,
)
from karn.extensions import db
from karn.text import tags_for


def _tag_note(note: CallNote, lang: str, at: datetime) -> None:
    if note.text:
        for name, value in tags_for(note.text, lang, at).items():
            setattr(note, name, value)


def _work_call(
    rng: random.Random,
    task: CallTask,
    row: dict[str, Any],
    staff: list[User],
    now: datetime,
) -> int:
    """Staff phone the ex-customer: attempts until reached or given up."""
    lang = row["language"].value
    caller = rng.choice(staff)
    age = now - task.created_at
    if age < timedelta(days=4) or (age < timedelta(days=14) and rng.random() < 0.6):
        # The call list of the last fortnight is still being worked through.
        if rng.random() < 0.5:
            task.assigned_to_id = caller.id
        return 0
    task.assigned_to_id = caller.id
    at = task.created_at
    notes = 0
    while True:
        at = _business_hours(rng, at + timedelta(hours=rng.uniform(12, 96)))
        if at > now - timedelta(hours=1):
            return notes  # still on the call list
        outcome = _pick(
            rng,
            {
                CallOutcome.REACHED: 55,
                CallOutcome.NO_ANSWER: 20,
                CallOutcome.VOICEMAIL: 12,
                CallOutcome.WILL_RETURN: 7,
                CallOutcome.DECLINED: 4,
                CallOutcome.WRONG_NUMBER: 2,
            },
        )
        task.attempts += 1
        heard: list[str] = []
        follow_up = None
        if outcome in (CallOutcome.REACHED, CallOutcome.WILL_RETURN):
            reason = row["_reason"]
            heard = [reason]
            if rng.random() < 0.3:
                heard.append(rng.choice([r for r in REASONS if r != reason]))
            bank = CALL_TEXTS[lang]
            text = _fill(rng, rng.choice(bank.get(reason) or bank["other"]), lang)
            if outcome == CallOutcome.WILL_RETURN:
                text += rng.choice(WILL_RETURN_TEXTS[lang])
                follow_up = (at + timedelta(days=rng.randint(7, 21))).date()
        else:
            text = rng.choice(CALL_OUTCOME_TEXTS[lang][outcome])
        note = CallNote(
            task_id=task.id,
            customer_id=task.customer_id,
            author_id=caller.id,
            outcome=outcome,
            text=text,
            language=Language(lang),
            follow_up_on=follow_up,
            created_at=at,
        )
        note.reasons = [CallNoteReason(reason=Reason(r)) for r in heard]
        _tag_note(note, lang, at)
        db.session.add(note)
        notes += 1
        if outcome in (CallOutcome.NO_ANSWER, CallOutcome.VOICEMAIL):
            if task.attempts < 3:
                continue
            task.status, task.closed_at = CallTaskStatus.CLOSED, at
        else:
            task.status, task.closed_at = CallTaskStatus.DONE, at
        if outcome == CallOutcome.WILL_RETURN and rng.random() < 0.7:
            back = follow_up + timedelta(days=rng.randint(0, 10))
            if back < now.date():
                db.session.flush()
                db.session.add(
                    WinBack(
                        customer_id=task.customer_id,
                        returned_on=back,
                        via="call",
                        revenue=row["monthly_revenue"],
                        note_id=note.id,
                        recorded_by_id=caller.id,
                        created_at=datetime(
                            back.year, back.month, back.day, 10, tzinfo=UTC
                        ),
                    )
                )
        return notes


def _calls(
    rng: random.Random,
    rows_by_id: dict[int, dict[str, Any]],
    invitations: list[dict[str, Any]],
    staff: list[User],
    now: datetime,
    start: datetime,
) -> tuple[int, int]:
    """Work the requested call-backs, add a manager's selections and valuable ones."""
    silent = [
        inv
        for inv in invitations
        if inv["_respond_at"] is None
        and inv["status"] in (InvitationStatus.EXPIRED, InvitationStatus.REMINDED)
        and rows_by_id[inv["customer_id"]]["phone"]
    ]
    # Every three months a manager picks a few silent ex-customers to phone,
    # the last time a few days ago.
    moment = now - timedelta(days=3)
    while moment > start + timedelta(days=20):
        window = [
            inv
            for inv in silent
            if moment - timedelta(days=90) <= inv["sent_at"] < moment - DAY * 14
        ]
        for inv in rng.sample(window, min(len(window), 4)):
            row = rows_by_id[inv["customer_id"]]
            db.session.add(
                CallTask(
                    customer_id=row["_id"],
                    source=CallTaskSource.SELECTION,
                    priority=SOURCE_PRIORITY[CallTaskSource.SELECTION],
                    due_at=moment,
                    phone=row["phone"],
                    created_at=moment,
                )
            )
        moment -= timedelta(days=91)
    # Valuable customers who stayed silent after the last reminder.
    recent = [
        inv
        for inv in silent
        if rows_by_id[inv["customer_id"]]["segment"] == "Enterprise"
        and inv["reminders_sent"] == 2
        and inv["sent_at"] >= now - timedelta(days=45)
    ]
    for inv in recent[:6]:
        row = rows_by_id[inv["customer_id"]]
        created = inv["last_reminded_at"] + timedelta(days=rng.randint(3, 7))
        if created < now:
            db.session.add(
                CallTask(
                    customer_id=row["_id"],
                    source=CallTaskSource.HIGH_VALUE,
                    priority=SOURCE_PRIORITY[CallTaskSource.HIGH_VALUE],
                    due_at=created,
                    phone=row["phone"],
                    created_at=created,
                )
            )
    db.session.flush()
    tasks = db.session.scalars(sa.select(CallTask).order_by(CallTask.created_at)).all()
    notes = 0
    for task in tasks:
        notes += _work_call(rng, task, rows_by_id[task.customer_id], staff, now)
    db.session.commit()
    return len(tasks), notes


def _survey_win_backs(
    rng: random.Random,
    rows_by_id: dict[int, dict[str, Any]],
    invitations: list[dict[str, Any]],
    now: datetime,
) -> int:
    """A few respondents come back on their own, reported by the CRM's export;
    with the win-backs after calls this gives the dashboard every channel."""
    taken = set(db.session.scalars(sa.select(WinBack.customer_id)))
    for inv in invitations:
        customer_id = inv["customer_id"]
        if inv["_respond_at"] is None or customer_id in taken or rng.random() > 0.03:
            continue
        back = inv["_respond_at"] + timedelta(days=rng.randint(20, 90))
        if back >= now:
            continue
        taken.add(customer_id)
        db.session.add(
            WinBack(
                customer_id=customer_id,
                returned_on=back.date(),
                via="csv",
                revenue=rows_by_id[customer_id]["monthly_revenue"],
                created_at=back,
            )
        )
    db.session.commit()
    return db.session.scalar(sa.select(sa.func.count(WinBack.id)))
