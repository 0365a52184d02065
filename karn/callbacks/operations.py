"""The call list: which ex-customers to phone first, logging calls, win-backs.

Every change here is written to the audit log in the caller's transaction.
"""

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager, joinedload

from karn import clock, settings
from karn.accounts import audit
from karn.accounts.models import User
from karn.callbacks import hours
from karn.callbacks.models import (
    SOURCE_PRIORITY,
    CallNote,
    CallNoteReason,
    CallTask,
    WinBack,
)
from karn.customers import currency as currencies
from karn.customers.models import Customer
from karn.enums import (
    CallOutcome,
    CallTaskSource,
    CallTaskStatus,
    InvitationStatus,
    Reason,
)
from karn.extensions import db
from karn.surveys.models import Invitation
from karn.text import tags_for
from karn.webhooks import events as webhooks

# Three calls nobody answered close the task.
MAX_FAILED_ATTEMPTS = 3
FAILED = (CallOutcome.NO_ANSWER, CallOutcome.VOICEMAIL)
# Outcomes after which there is nothing left to call about.
FINAL = (
    CallOutcome.REACHED,
    CallOutcome.DECLINED,
    CallOutcome.WILL_RETURN,
    CallOutcome.WRONG_NUMBER,
)


# Who no call list may hold for now, such as a control group held back from
# keep calls: functions returning a SELECT of customer ids, registered by the
# packages above this one (karn.app wires them).
_held_back: list[Callable[[], sa.Select]] = []


def on_held_back(query: Callable[[], sa.Select]) -> None:
    """Register a query of customer ids that stay off every call list."""
    if query not in _held_back:
        _held_back.append(query)


def _not_held_back():
    return sa.and_(sa.true(), *(Customer.id.not_in(q()) for q in _held_back))


class CallError(ValueError):
    """A call-list change that cannot be made, with a message for the user."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def scoped(query: sa.Select, user: User, scope: str) -> sa.Select:
    """Only the open tasks of ``scope``: "all", "mine" or "unassigned"."""
    query = query.where(CallTask.status == CallTaskStatus.OPEN)
    if scope == "mine":
        return query.where(CallTask.assigned_to_id == user.id)
    if scope == "unassigned":
        return query.where(CallTask.assigned_to_id.is_(None))
    return query


def queue(user: User, scope: str = "all", now: datetime | None = None) -> sa.Select:
    """Open tasks in calling order, whatever their source: the user's own first;
    then overdue tasks (due before today), tasks due now, tasks due later; within
    each, the highest monthly revenue first, then source priority and due time.

    Revenue in another currency than the reporting one is not compared: those
    customers come after the ones whose revenue counts.
    """
    now = now or clock.now()
    mine_first = sa.case((CallTask.assigned_to_id == user.id, 0), else_=1)
    when = sa.case(
        (CallTask.due_at < hours.today_start(now), 0),
        (CallTask.due_at <= now, 1),
        else_=2,
    )
    revenue = sa.case((currencies.counted(), Customer.monthly_revenue), else_=None)
    # The list shows each task's customer and caller: load them with the tasks.
    query = (
        sa.select(CallTask)
        .join(CallTask.customer)
        .options(contains_eager(CallTask.customer), joinedload(CallTask.assigned_to))
    )
    return scoped(query, user, scope).order_by(
        mine_first,
        when,
        revenue.desc().nulls_last(),
        CallTask.priority,
        CallTask.due_at,
        CallTask.id,
    )


def overdue(now: datetime | None = None):
    """SQL: the task was due before today (in the company's time zone)."""
    return CallTask.due_at < hours.today_start(now or clock.now())


def open_task_for(customer_id: int) -> CallTask | None:
    return db.session.scalars(
        sa.select(CallTask)
        .where(
            CallTask.customer_id == customer_id,
            CallTask.status == CallTaskStatus.OPEN,
        )
        .limit(1)
    ).first()


def add_task(
    customer: Customer,
    source: CallTaskSource,
    by: User | None,
    *,
    note: str | None = None,
    assign_to: User | None = None,
    due_at: datetime | None = None,
) -> tuple[CallTask, bool]:
    """Put a customer on the list; an open task already there is returned as is.

    Returns the task and whether it is new, so a double-clicked "add" or a
    selection that overlaps the list never makes a second task.
    """
    if customer.erased_at is not None:
        raise CallError("erased")
    if _held_back and db.session.scalar(
        sa.select(sa.exists().where(Customer.id == customer.id, ~_not_held_back()))
    ):
        raise CallError("held_back")
    existing = open_task_for(customer.id)
    if existing is not None:
        return existing, False
    task = CallTask(
        customer=customer,
        source=source,
        priority=SOURCE_PRIORITY.get(source, 50),
        # Added at night or at the weekend: due when staff call again.
        due_at=due_at or hours.next_slot(clock.now()),
        phone=customer.phone,
        note=note or None,
        created_by_id=by.id if by else None,
        assigned_to_id=assign_to.id if assign_to else None,
    )
    db.session.add(task)
    db.session.flush()
    audit.record(
        "call_task.create",
        task,
        user=by,
        customer=customer.id,
        source=source.value,
        assigned_to=assign_to.id if assign_to else None,
    )
    return task, True


def assign(task: CallTask, to: User | None, by: User) -> None:
    """Give the task to a staff member (or back to the shared list)."""
    before = task.assigned_to_id
    after = to.id if to else None
    if before == after:
        return
    task.assigned_to_id = after
    audit.record("call_task.assign", task, user=by, before=before, after=after)


def selection_candidates(
    *,
    segment: str | None = None,
    plan: str | None = None,
    region: str | None = None,
    since: date | None = None,
    responded: str = "any",
) -> sa.Select:
    """Departed customers with a phone number, not erased, not won back, not
    already on the list: who a manager's selection may pick from."""
    query = sa.select(Customer.id).where(
        Customer.phone.is_not(None),
        Customer.phone != "",
        Customer.erased_at.is_(None),
        ~sa.exists().where(
            CallTask.customer_id == Customer.id,
            CallTask.status == CallTaskStatus.OPEN,
        ),
        ~sa.exists().where(WinBack.customer_id == Customer.id),
        _not_held_back(),
    )
    for column, value in (
        (Customer.segment, segment),
        (Customer.plan, plan),
        (Customer.region, region),
    ):
        if value:
            query = query.where(column == value)
    if since:
        query = query.where(
            Customer.departed_at >= datetime.combine(since, time.min, tzinfo=UTC)
        )
    answered = sa.exists().where(
        Invitation.customer_id == Customer.id,
        Invitation.status == InvitationStatus.RESPONDED,
    )
    if responded == "yes":
        query = query.where(answered)
    elif responded == "no":
        query = query.where(~answered)
    return query


def select_for_calls(
    count: int,
    by: User,
    *,
    assign_to: User | None = None,
    note: str | None = None,
    **criteria,
) -> list[CallTask]:
    """A manager's "call 20 ex-customers from segment X": a random sample, so
    what staff hear is representative of the segment, not of its newest."""
    if not 1 <= count <= 500:
        raise CallError("count")
    ids = db.session.scalars(
        selection_candidates(**criteria).order_by(sa.func.random()).limit(count)
    ).all()
    tasks = []
    for customer in db.session.scalars(
        sa.select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id)
    ):
        task, new = add_task(
            customer, CallTaskSource.SELECTION, by, note=note, assign_to=assign_to
        )
        if new:
            tasks.append(task)
    return tasks


def queue_silent_high_value(now: datetime | None = None) -> int:
    """Tasks for valuable customers who stayed silent after the last reminder.

    Valuable: monthly revenue at or above CALL_HIGH_VALUE_REVENUE. Silent: the
    invitation expired, or every reminder went out and CALL_AFTER_SILENT_DAYS
    passed since the last one. Each customer is put on the list only once.
    """
    threshold = settings.get("CALL_HIGH_VALUE_REVENUE")
    if threshold is None or threshold <= 0:
        return 0
    now = now or clock.now()
    reminders = len(settings.reminder_days())
    quiet_since = now - timedelta(days=settings.get("CALL_AFTER_SILENT_DAYS"))
    silent = sa.or_(
        Invitation.status == InvitationStatus.EXPIRED,
        sa.and_(
            Invitation.status.in_([InvitationStatus.SENT, InvitationStatus.REMINDED]),
            Invitation.reminders_sent >= reminders,
            sa.func.coalesce(Invitation.last_reminded_at, Invitation.sent_at)
            <= quiet_since,
        ),
    )
    candidates = (
        sa.select(Customer.id)
        .join(Invitation, Invitation.customer_id == Customer.id)
        .where(
            silent,
            Customer.monthly_revenue >= Decimal(str(threshold)),
            # The threshold is in the reporting currency: 100 yen is not 100 euros.
            currencies.counted(),
            Customer.phone.is_not(None),
            Customer.erased_at.is_(None),
            ~sa.exists().where(CallTask.customer_id == Customer.id),
            ~sa.exists().where(WinBack.customer_id == Customer.id),
            _not_held_back(),
        )
        .distinct()
        .limit(500)
    )
    ids = db.session.scalars(candidates).all()
    added = 0
    for customer in db.session.scalars(
        sa.select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id)
    ):
        _task, new = add_task(customer, CallTaskSource.HIGH_VALUE, None)
        added += new
    return added


def _clean_reasons(reasons: Iterable[str]) -> list[Reason]:
    try:
        return sorted({Reason(r) for r in reasons})
    except ValueError:
        raise CallError("reason") from None


def _tag(note: CallNote, lang: str) -> None:
    if note.text and not (note.tags or {}).get("corrected"):
        for name, value in tags_for(note.text, lang, clock.now()).items():
            setattr(note, name, value)
    elif not note.text:
        note.sentiment = note.sentiment_score = note.tag_reason = None
        note.tags = note.tagged_at = None


def log_call(
    task: CallTask,
    author: User,
    outcome: CallOutcome,
    *,
    reasons: Sequence[str] = (),
    text: str | None = None,
    follow_up_on: date | None = None,
    retry_at: datetime | None = None,
) -> CallNote:
    """Record one call on a task and move the task along.

    A reached call (or a decline, a wrong number, a promise to return) closes
    the task as done, unless a follow-up date keeps it open until then. A call
    nobody answered counts as an attempt: the task comes back at ``retry_at``
    (default: the next day), and the third failed attempt closes it.
    """
    if task.status != CallTaskStatus.OPEN:
        raise CallError("closed")
    now = clock.now()
    text = (text or "").strip() or None
    note = CallNote(
        task=task,
        customer_id=task.customer_id,
        author_id=author.id,
        outcome=outcome,
        text=text,
        language=author.language,
        follow_up_on=follow_up_on,
        reasons=[CallNoteReason(reason=r) for r in _clean_reasons(reasons)],
    )
    _tag(note, author.language.value)
    db.session.add(note)
    task.attempts += 1
    if outcome in FAILED:
        failed = sum(1 for n in task.notes if n.outcome in FAILED)
        if failed >= MAX_FAILED_ATTEMPTS:
            task.status, task.closed_at = CallTaskStatus.CLOSED, now
        else:
            task.due_at = retry_at or hours.next_slot(now + timedelta(days=1))
    elif follow_up_on is not None and outcome == CallOutcome.REACHED:
        task.due_at = hours.on_day(follow_up_on)
    elif outcome == CallOutcome.WRONG_NUMBER:
        task.status, task.closed_at = CallTaskStatus.CLOSED, now
    else:
        task.status, task.closed_at = CallTaskStatus.DONE, now
    db.session.flush()
    audit.record(
        "call_note.create",
        note,
        user=author,
        task=task.id,
        outcome=outcome.value,
        reasons=[r.reason.value for r in note.reasons] or None,
        task_status=task.status.value,
    )
    webhooks.call_note_created(note)
    return note


def reschedule(task: CallTask, due_at: datetime, by: User) -> None:
    before = task.due_at
    task.due_at = due_at
    audit.record(
        "call_task.reschedule",
        task,
        user=by,
        before=before.isoformat(),
        after=due_at.isoformat(),
    )


def close_task(task: CallTask, by: User) -> None:
    """Take a task off the list without a call (e.g. the customer is back)."""
    if task.status == CallTaskStatus.OPEN:
        task.status, task.closed_at = CallTaskStatus.CLOSED, clock.now()
        audit.record("call_task.close", task, user=by)


def edit_note(
    note: CallNote,
    by: User,
    *,
    outcome: CallOutcome,
    reasons: Sequence[str],
    text: str | None,
    follow_up_on: date | None,
) -> list[str]:
    """Correct a note; returns the names of what changed (all in the audit log)."""
    text = (text or "").strip() or None
    new_reasons = _clean_reasons(reasons)
    old = {
        "outcome": note.outcome.value,
        "reasons": sorted(r.reason.value for r in note.reasons),
        "text": note.text,
        "follow_up_on": note.follow_up_on.isoformat() if note.follow_up_on else None,
    }
    new = {
        "outcome": outcome.value,
        "reasons": [r.value for r in new_reasons],
        "text": text,
        "follow_up_on": follow_up_on.isoformat() if follow_up_on else None,
    }
    changed = [name for name in old if old[name] != new[name]]
    if not changed:
        return []
    note.outcome, note.text, note.follow_up_on = outcome, text, follow_up_on
    if "reasons" in changed:
        note.reasons = [CallNoteReason(reason=r) for r in new_reasons]
    if "text" in changed:
        _tag(note, (note.language or by.language).value)
    note.updated_at = clock.now()
    # The text itself stays out of the log: it may hold personal details that
    # an erasure must be able to remove.
    audit.record(
        "call_note.edit",
        note,
        user=by,
        changed=changed,
        **{
            f"{name}_{side}": values[name]
            for name in changed
            if name != "text"
            for side, values in (("before", old), ("after", new))
        },
    )
    return changed


def record_win_back(
    customer: Customer,
    returned_on: date,
    via: str,
    *,
    by: User | None = None,
    revenue: Decimal | None = None,
    note: CallNote | None = None,
    api_key=None,
) -> WinBack:
    """Mark a customer as returned; marking again corrects the earlier record."""
    if customer.erased_at is not None:
        raise CallError("erased")
    if customer.departed_at is not None and returned_on < customer.departed_at.date():
        raise CallError("before_departure")
    if revenue is not None and revenue < 0:
        raise CallError("revenue")
    win = db.session.scalars(
        sa.select(WinBack).where(WinBack.customer_id == customer.id)
    ).first()
    action = "win_back.update" if win else "win_back.create"
    if win is None:
        win = WinBack(customer=customer)
        db.session.add(win)
    win.returned_on, win.via, win.revenue = returned_on, via, revenue
    win.recorded_by_id = by.id if by else None
    if note is not None:
        win.note_id = note.id
    task = open_task_for(customer.id)
    if task is not None:
        task.status, task.closed_at = CallTaskStatus.DONE, clock.now()
    db.session.flush()
    audit.record(
        action,
        win,
        user=by,
        api_key=api_key,
        customer=customer.id,
        returned_on=returned_on.isoformat(),
        via=via,
        revenue=str(revenue) if revenue is not None else None,
    )
    webhooks.customer_won_back(win, customer)
    return win


def record_returns(customer_ids: list[int], returned_on: date, via: str) -> None:
    """Listener for intake (karn.customers.operations.on_returned): departed
    customers an import, the API or Stripe says are active again are won back."""
    for customer in db.session.scalars(
        sa.select(Customer).where(Customer.id.in_(customer_ids))
    ):
        if (
            customer.departed_at is not None
            and returned_on < customer.departed_at.date()
        ):
            continue  # back before they left: the file's dates disagree
        record_win_back(customer, returned_on, via)


def remove_win_back(win: WinBack, by: User) -> None:
    audit.record(
        "win_back.delete",
        win,
        user=by,
        customer=win.customer_id,
        returned_on=win.returned_on.isoformat(),
    )
    db.session.delete(win)
