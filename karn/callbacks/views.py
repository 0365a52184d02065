"""The call list: tasks in calling order, one screen per call, notes, win-backs."""

from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from karn import clock
from karn.accounts.forms import ConfirmForm
from karn.accounts.models import User
from karn.accounts.security import ADMINS, ALL_ROLES, MANAGERS, roles_required
from karn.callbacks import hours, hours_page, operations
from karn.callbacks.answers import answered_questions
from karn.callbacks.models import CallNote, CallTask, WinBack
from karn.callbacks.operations import CallError
from karn.customers.models import Customer
from karn.customers.queries import distinct_values
from karn.enums import CallOutcome, CallTaskSource, CallTaskStatus, Reason, Role
from karn.extensions import db
from karn.formatting import OUTCOME_LABELS, REASON_LABELS, localdate
from karn.surveys.models import Invitation, OutboxMessage
from karn.surveys.models import Response as SurveyResponse

bp = Blueprint("calls", __name__, url_prefix="/calls")

SCOPES = {
    "all": _l("Everything, mine first"),
    "mine": _l("Mine"),
    "unassigned": _l("Not assigned"),
}
ERRORS = {
    "closed": _l("This task is already closed; the call was not logged again."),
    "reason": _l("Choose reasons from the list."),
    "erased": _l("This customer's personal data has been erased."),
    "count": _l("Choose between 1 and 500 customers."),
    "before_departure": _l("The return date lies before the departure."),
    "revenue": _l("The revenue cannot be negative."),
    "held_back": _l(
        "This customer is held back from calls as a control group for now."
    ),
}
PAGE_SIZE = 50


class _Checkboxes(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _reason_choices():
    return [SelectChoice(r.value, REASON_LABELS[r]) for r in Reason]


def _callers():
    """Active users who make calls, for the assignment drop-down."""
    return db.session.scalars(
        sa.select(User).where(User.active.is_(True)).order_by(User.name)
    ).all()


def _user_choices(empty_label):
    return [SelectChoice("", empty_label)] + [
        SelectChoice(str(u.id), u.name) for u in _callers()
    ]


def _user(value: str | None) -> User | None:
    if not value:
        return None
    user = db.session.get(User, int(value)) if value.isdigit() else None
    return user if user is not None and user.active else None


class CallForm(FlaskForm):
    """One call: what happened, what was heard, and when to try again."""

    outcome = RadioField(
        _l("Outcome"),
        choices=[SelectChoice(o.value, label) for o, label in OUTCOME_LABELS.items()],
        validators=[DataRequired(_l("Choose what happened."))],
    )
    reasons = _Checkboxes(_l("Reasons heard"), choices=[])
    text = TextAreaField(_l("Notes"), validators=[Optional()])
    follow_up_on = DateField(
        _l("Follow up on"),
        validators=[Optional()],
        description=_l("Keeps the task open until then (after a reached call)."),
    )
    retry_on = DateField(
        _l("If nobody answered: call again on"),
        validators=[Optional()],
        description=_l("Default: tomorrow. The third call nobody answers closes it."),
    )
    # The attempts when the form was shown: a double-click logs one call.
    attempts = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reasons.choices = _reason_choices()


class AssignForm(FlaskForm):
    assigned_to = SelectField(_l("Assigned to"), choices=[], default="")


class RescheduleForm(FlaskForm):
    due_on = DateField(_l("Call on"), validators=[DataRequired(_l("Give a date."))])


class WinBackForm(FlaskForm):
    returned_on = DateField(
        _l("Returned on"), validators=[DataRequired(_l("Give a date."))]
    )
    revenue = StringField(_l("Monthly revenue regained"), validators=[Optional()])


class AddForm(FlaskForm):
    note = TextAreaField(_l("Why call"), validators=[Optional()])


class SelectionForm(FlaskForm):
    """A manager's "call 20 ex-customers from segment X"."""

    count = IntegerField(
        _l("How many"),
        default=20,
        validators=[
            InputRequired(_l("Give a number.")),
            NumberRange(1, 500, message=_l("Choose between 1 and 500 customers.")),
        ],
    )
    segment = SelectField(_l("Segment"), choices=[], validate_choice=False)
    plan = SelectField(_l("Plan"), choices=[], validate_choice=False)
    region = SelectField(_l("Region"), choices=[], validate_choice=False)
    since = DateField(_l("Left on or after"), validators=[Optional()])
    responded = SelectField(
        _l("Survey"),
        choices=[
            SelectChoice("any", _l("Answered or not")),
            SelectChoice("yes", _l("Answered the survey")),
            SelectChoice("no", _l("Did not answer")),
        ],
        default="any",
    )
    assign_to = SelectField(_l("Assign to"), choices=[], default="")
    note = StringField(_l("Why call"), validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("segment", "plan", "region"):
            getattr(self, name).choices = [SelectChoice("", _("All"))] + [
                SelectChoice(v, v) for v in distinct_values(name)
            ]
        self.assign_to.choices = _user_choices(_("Nobody (shared list)"))


def _task(task_id: int) -> CallTask:
    return db.session.get(CallTask, task_id) or abort(404)


def _error(exc: CallError) -> None:
    flash(str(ERRORS.get(exc.code, exc.code)), "error")


def _late(days: int) -> str:
    return ngettext("%(num)d day overdue", "%(num)d days overdue", days)


@bp.route("/")
@roles_required(*ALL_ROLES)
def index():
    """Open tasks in calling order, a page at a time: a staff member's own
    first, overdue ones before the rest, the highest revenue first."""
    scope = request.args.get("scope", "all")
    if scope not in SCOPES:
        scope = "all"
    now = clock.now()
    calling = hours.current()
    kind = sa.case(
        (CallTask.assigned_to_id == current_user.id, "mine"),
        (CallTask.assigned_to_id.is_(None), "unassigned"),
        else_="other",
    )
    late = operations.overdue(now)
    counts: dict[str, int] = {}
    overdue_counts: dict[str, int] = {}
    for who, is_late, n in db.session.execute(
        sa.select(kind, late, sa.func.count())
        .where(CallTask.status == CallTaskStatus.OPEN)
        .group_by(kind, late)
    ):
        counts[who] = counts.get(who, 0) + n
        if is_late:
            overdue_counts[who] = overdue_counts.get(who, 0) + n

    def in_scope(numbers):
        return sum(numbers.values()) if scope == "all" else numbers.get(scope, 0)

    total = in_scope(counts)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(request.args.get("page", 1, type=int), 1), pages)
    tasks = db.session.scalars(
        operations.queue(current_user, scope, now)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    days_late = {t.id: hours.days_late(t.due_at, now, calling) for t in tasks}
    lateness = {task: _late(days) for task, days in days_late.items() if days > 0}
    return render_template(
        "callbacks/index.html",
        tasks=tasks,
        scope=scope,
        scopes=SCOPES,
        counts=counts,
        total=total,
        overdue=in_scope(overdue_counts),
        page=page,
        pages=pages,
        first=(page - 1) * PAGE_SIZE + 1,
        lateness=lateness,
        now=now,
        calling=calling,
        calling_days=hours_page.days_text(calling.days),
        can_select=current_user.role in MANAGERS,
        can_set_hours=current_user.role in ADMINS,
    )


def _task_page(task: CallTask, form: CallForm | None = None, status: int = 200):
    customer = task.customer

    def newest_first(model, when):
        query = sa.select(model).where(model.customer_id == customer.id)
        return db.session.scalars(query.order_by(when.desc())).all()

    if form is None:
        form = CallForm(formdata=None, attempts=str(task.attempts))
        form.retry_on.data = (clock.now() + timedelta(days=1)).date()
    assign = AssignForm(formdata=None, assigned_to=str(task.assigned_to_id or ""))
    assign.assigned_to.choices = _user_choices(_("Nobody (shared list)"))
    win = db.session.scalars(
        sa.select(WinBack).where(WinBack.customer_id == customer.id)
    ).first()
    win_form = WinBackForm(formdata=None)
    win_form.returned_on.data = win.returned_on if win else clock.now().date()
    if win and win.revenue is not None:
        win_form.revenue.data = f"{win.revenue:.2f}"
    late = 0
    if task.status == CallTaskStatus.OPEN:
        late = hours.days_late(task.due_at, clock.now())
    return (
        render_template(
            "callbacks/task.html",
            task=task,
            customer=customer,
            form=form,
            assign_form=assign,
            reschedule_form=RescheduleForm(
                formdata=None,
                due_on=task.due_at.astimezone(hours.current().zone).date(),
            ),
            win_form=win_form,
            win=win,
            confirm=ConfirmForm(),
            responses=[
                (r, answered_questions(r, str(get_locale())))
                for r in newest_first(SurveyResponse, SurveyResponse.started_at)
                if r.submitted_at
            ],
            invitations=newest_first(Invitation, Invitation.created_at),
            mails=newest_first(OutboxMessage, OutboxMessage.created_at),
            notes=newest_first(CallNote, CallNote.created_at),
            outcome_labels=OUTCOME_LABELS,
            late=_late(late) if late > 0 else None,
        ),
        status,
    )


@bp.route("/<int:task_id>", methods=["GET", "POST"])
@roles_required(*ALL_ROLES)
def task(task_id: int):
    """One call on one screen: who, what they answered, earlier calls, the form."""
    task = _task(task_id)
    if request.method == "GET":
        return _task_page(task)
    form = CallForm()
    if not form.validate():
        return _task_page(task, form, 422)
    if form.attempts.data != str(task.attempts) or task.status != CallTaskStatus.OPEN:
        flash(_("This call was already logged; it was not logged twice."), "error")
        return redirect(url_for("calls.task", task_id=task.id))
    outcome = CallOutcome(form.outcome.data)
    retry_at = None
    if form.retry_on.data:
        retry_at = hours.on_day(form.retry_on.data)
    try:
        operations.log_call(
            task,
            current_user,
            outcome,
            reasons=form.reasons.data or [],
            text=form.text.data,
            follow_up_on=form.follow_up_on.data,
            retry_at=retry_at,
        )
    except CallError as exc:
        db.session.rollback()
        _error(exc)
        return redirect(url_for("calls.task", task_id=task.id))
    db.session.commit()
    if task.status == CallTaskStatus.OPEN:
        flash(
            _(
                "Call logged. The task comes back on %(date)s.",
                date=localdate(task.due_at),
            ),
            "success",
        )
    elif task.status == CallTaskStatus.CLOSED:
        flash(_("Call logged. The task is closed."), "success")
    else:
        flash(_("Call logged. The task is done."), "success")
    if outcome == CallOutcome.WILL_RETURN:
        return redirect(url_for("calls.task", task_id=task.id) + "#win-back")
    return redirect(url_for("calls.index"))


@bp.route("/<int:task_id>/assign", methods=["POST"])
@roles_required(*ALL_ROLES)
def assign(task_id: int):
    task = _task(task_id)
    form = AssignForm()
    form.assigned_to.choices = _user_choices("")
    if form.validate():
        operations.assign(task, _user(form.assigned_to.data), current_user)
        db.session.commit()
        flash(_("Assignment saved."), "success")
    return redirect(url_for("calls.task", task_id=task.id))


@bp.route("/<int:task_id>/reschedule", methods=["POST"])
@roles_required(*ALL_ROLES)
def reschedule(task_id: int):
    task = _task(task_id)
    form = RescheduleForm()
    if form.validate():
        due = hours.on_day(form.due_on.data)
        operations.reschedule(task, due, current_user)
        db.session.commit()
        flash(_("The task comes back on %(date)s.", date=localdate(due)), "success")
    else:
        flash(_("Give a date."), "error")
    return redirect(url_for("calls.task", task_id=task.id))


@bp.route("/<int:task_id>/close", methods=["POST"])
@roles_required(*ALL_ROLES)
def close(task_id: int):
    task = _task(task_id)
    if ConfirmForm().validate():
        operations.close_task(task, current_user)
        db.session.commit()
        flash(_("Task closed."), "success")
    return redirect(url_for("calls.index"))


@bp.route("/notes/<int:note_id>/edit", methods=["GET", "POST"])
@roles_required(*ALL_ROLES)
def edit_note(note_id: int):
    """Correct a call note; only its author, managers and admins may."""
    note = db.session.get(CallNote, note_id) or abort(404)
    if note.author_id != current_user.id and current_user.role not in MANAGERS:
        abort(403)
    form = CallForm(
        formdata=request.form if request.method == "POST" else None,
        outcome=note.outcome.value,
        reasons=[r.reason.value for r in note.reasons],
        text=note.text,
        follow_up_on=note.follow_up_on,
    )
    if request.method == "POST" and form.validate():
        changed = operations.edit_note(
            note,
            current_user,
            outcome=CallOutcome(form.outcome.data),
            reasons=form.reasons.data or [],
            text=form.text.data,
            follow_up_on=form.follow_up_on.data,
        )
        db.session.commit()
        flash(_("Note saved.") if changed else _("Nothing changed."), "success")
        if note.task_id:
            return redirect(url_for("calls.task", task_id=note.task_id))
        return redirect(url_for("customers.show", customer_id=note.customer_id))
    return render_template("callbacks/note_form.html", form=form, note=note)


@bp.route("/customers/<int:customer_id>/add", methods=["POST"])
@roles_required(*ALL_ROLES)
def add(customer_id: int):
    """Put one customer on the list by hand (from the customer's page)."""
    customer = db.session.get(Customer, customer_id) or abort(404)
    form = AddForm()
    if not form.validate():
        abort(400)
    try:
        task, new = operations.add_task(
            customer,
            CallTaskSource.MANUAL,
            current_user,
            note=form.note.data,
            assign_to=current_user if current_user.role == Role.STAFF else None,
        )
    except CallError as exc:
        _error(exc)
        return redirect(url_for("customers.show", customer_id=customer.id))
    db.session.commit()
    if new:
        flash(_("Added to the call list."), "success")
    else:
        flash(_("Already on the call list."), "success")
    return redirect(url_for("calls.task", task_id=task.id))


@bp.route("/select", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def select():
    """Managers pick a random sample of a segment for staff to call."""
    form = SelectionForm()
    criteria = {}
    available = None
    if form.is_submitted():
        criteria = {
            "segment": form.segment.data or None,
            "plan": form.plan.data or None,
            "region": form.region.data or None,
            "since": form.since.data if not form.since.errors else None,
            "responded": form.responded.data or "any",
        }
    if request.method == "POST" and form.validate():
        try:
            tasks = operations.select_for_calls(
                form.count.data,
                current_user,
                assign_to=_user(form.assign_to.data),
                note=form.note.data,
                **criteria,
            )
        except CallError as exc:
            _error(exc)
        else:
            db.session.commit()
            if tasks:
                flash(
                    _("%(n)d customers added to the call list.", n=len(tasks)),
                    "success",
                )
            else:
                flash(_("Nobody matches: no customer was added."), "error")
            return redirect(url_for("calls.index"))
    if criteria or request.method == "GET":
        available = db.session.scalar(
            sa.select(sa.func.count()).select_from(
                operations.selection_candidates(**criteria).subquery()
            )
        )
    return render_template("callbacks/select.html", form=form, available=available)


@bp.route("/customers/<int:customer_id>/win-back", methods=["POST"])
@roles_required(*ALL_ROLES)
def win_back(customer_id: int):
    """Mark a customer as returned, from a call or from their page."""
    customer = db.session.get(Customer, customer_id) or abort(404)
    form = WinBackForm()
    back = request.form.get("task_id", "")
    target = (
        url_for("calls.task", task_id=int(back))
        if back.isdigit()
        else url_for("customers.show", customer_id=customer.id)
    )
    if not form.validate():
        flash(_("Give the date the customer returned."), "error")
        return redirect(target)
    revenue = None
    if form.revenue.data:
        from karn.customers import csvparse

        revenue = csvparse.parse_money(form.revenue.data)
        if revenue is None:
            flash(_("The revenue is not a number."), "error")
            return redirect(target)
    note = None
    task_id = int(back) if back.isdigit() else None
    if task_id is not None:
        note = db.session.scalars(
            sa.select(CallNote)
            .where(CallNote.task_id == task_id)
            .order_by(CallNote.created_at.desc())
            .limit(1)
        ).first()
    try:
        operations.record_win_back(
            customer,
            form.returned_on.data,
            "call" if note is not None else "manual",
            by=current_user,
            revenue=revenue,
            note=note,
        )
    except CallError as exc:
        db.session.rollback()
        _error(exc)
        return redirect(target)
    db.session.commit()
    flash(_("Marked as won back."), "success")
    return redirect(target)


bp.add_url_rule("/hours", view_func=hours_page.calling_hours, methods=["GET", "POST"])
