"""Improvement actions: what managers changed, and whether it measurably worked.

Each action targets one departure reason. Its page compares that reason's
share in a window before the start with a window from the start on (the
configured ACTION_WINDOW_DAYS, or ``?window=``) with a two-proportion test,
and says in plain words whether the change is more than chance.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from wtforms import DateField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)

from karn import clock
from karn.accounts import audit
from karn.accounts.models import AuditEntry, User
from karn.accounts.security import MANAGERS, roles_required
from karn.actions import effect as actions
from karn.actions.effect import Effect
from karn.actions.models import ImprovementAction
from karn.analysis import queries
from karn.enums import Reason
from karn.extensions import db
from karn.formatting import localdate

bp = Blueprint("actions", __name__, url_prefix="/actions")

# A second identical action (same title, reason and start) within this time
# is taken for a double submit of the first and not created.
DUPLICATE_SECONDS = 60
# Start and end dates lie within this many years of today.
YEARS_EITHER_WAY = 50
AUDIT_TARGET = ImprovementAction.__tablename__
# The fields an edit can change, in the order the audit entry lists them.
FIELDS = ("title", "description", "reason", "owner_id", "started_on", "ended_on")
FIELD_LABELS = {
    "title": _l("Title"),
    "description": _l("Description"),
    "reason": _l("Reason it targets"),
    "owner_id": _l("Owner"),
    "started_on": _l("Start date"),
    "ended_on": _l("End date"),
}


def _lang() -> str:
    return str(get_locale())


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _owners(keep: int | None = None) -> list[User]:
    """Active managers and administrators, and the current owner if not one."""
    condition = sa.and_(User.active.is_(True), User.role.in_(list(MANAGERS)))
    if keep is not None:
        condition = sa.or_(condition, User.id == keep)
    return db.session.scalars(
        sa.select(User).where(condition).order_by(User.name, User.id)
    ).all()


def _check_span(day: date | None) -> None:
    """Dates within 50 years of today: typing errors like 0202 are caught, and
    the windows around them stay valid dates."""
    if day is None:
        return
    year = clock.now().year
    first, last = (
        date(year - YEARS_EITHER_WAY, 1, 1),
        date(year + YEARS_EITHER_WAY, 12, 31),
    )
    if not first <= day <= last:
        raise ValidationError(
            _(
                "Give a date between %(first)s and %(last)s.",
                first=localdate(first),
                last=localdate(last),
            )
        )


class ActionForm(FlaskForm):
    """An improvement action; checked on the server, errors beside the fields."""

    title = StringField(
        FIELD_LABELS["title"],
        filters=[_strip],
        validators=[
            DataRequired(_l("Give the action a title.")),
            Length(max=200, message=_l("Keep the title to 200 characters.")),
        ],
    )
    description = TextAreaField(
        FIELD_LABELS["description"],
        filters=[_strip],
        validators=[Optional()],
        description=_l("What changes, for whom, and who does it."),
    )
    reason = SelectField(FIELD_LABELS["reason"], validate_choice=False)
    owner_id = SelectField(FIELD_LABELS["owner_id"], validate_choice=False)
    started_on = DateField(
        FIELD_LABELS["started_on"],
        validators=[InputRequired(_l("Give the date the action starts."))],
    )
    ended_on = DateField(
        FIELD_LABELS["ended_on"],
        validators=[Optional()],
        description=_l("Leave empty while the action runs; set it when it stops."),
    )

    def __init__(self, *args, keep_owner: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        labels = queries.reason_labels_for(_lang())
        self.reason.choices = [SelectChoice("", _("Choose a reason"))] + [
            SelectChoice(reason.value, labels[reason.value]) for reason in Reason
        ]
        self.owner_id.choices = [SelectChoice("", _("Choose an owner"))] + [
            SelectChoice(str(user.id), user.name) for user in _owners(keep_owner)
        ]

    def validate_reason(self, field) -> None:
        if field.data not in {reason.value for reason in Reason}:
            raise ValidationError(_("Choose a reason from the list."))

    def validate_owner_id(self, field) -> None:
        allowed = {choice.value for choice in field.choices if choice.value}
        if field.data not in allowed:
            raise ValidationError(_("Choose an owner from the list."))

    def validate_started_on(self, field) -> None:
        _check_span(field.data)

    def validate_ended_on(self, field) -> None:
        start = self.started_on.data
        if field.data is not None and start is not None and field.data < start:
            raise ValidationError(_("The end date lies before the start date."))
        _check_span(field.data)

    def values(self) -> dict:
        """The form's values as the action's columns."""
        return {
            "title": self.title.data,
            "description": self.description.data or None,
            "reason": Reason(self.reason.data),
            "owner_id": int(self.owner_id.data),
            "started_on": self.started_on.data,
            "ended_on": self.ended_on.data,
        }


def _plain(value):
    """A column value as the audit log keeps it: text, a number or None."""
    if isinstance(value, Reason):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    return value


def _current(action: ImprovementAction) -> dict:
    return {name: getattr(action, name) for name in FIELDS}


# --- The window --------------------------------------------------------------


def _window() -> tuple[int, str | None, str | None]:
    """(days, the value for links, a message when ?window= was unusable)."""
    default = actions.configured_window_days()
    raw = request.args.get("window", "").strip()
    if not raw:
        return default, None, None
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if not 1 <= days <= actions.MAX_WINDOW_DAYS:
        message = _(
            "The window must be a whole number of days from 1 to %(most)s; "
            "showing %(days)s days.",
            most=format_decimal(actions.MAX_WINDOW_DAYS),
            days=default,
        )
        return default, None, message
    return days, (str(days) if days != default else None), None


# --- What a page shows of one action --------------------------------------------


@dataclass(frozen=True)
class Shown:
    """One action with its measured effect, worded for the reader."""

    action: ImprovementAction
    effect: Effect
    label: str
    verdict: str


def _is_running(action: ImprovementAction, today: date) -> bool:
    return action.ended_on is None or action.ended_on >= today


def _shown(action: ImprovementAction, window: int, today: date) -> Shown:
    lang = _lang()
    effect = actions.effect(action, window, today)
    label = queries.reason_labels_for(lang).get(effect.reason, effect.reason)
    if effect.started:
        verdict = effect.verdict(lang, label)
    else:
        verdict = _(
            "Starts on %(date)s: there is nothing to measure yet.",
            date=localdate(action.started_on),
        )
    return Shown(action=action, effect=effect, label=label, verdict=verdict)


def _load(action_id: int) -> ImprovementAction:
    action = db.session.get(
        ImprovementAction, action_id, options=[selectinload(ImprovementAction.owner)]
    )
    if action is None:
        abort(404)
    return action


# --- Pages -----------------------------------------------------------------------


@bp.route("/")
@roles_required(*MANAGERS)
def index():
    """Every action, running ones first, each with its measured effect."""
    window, window_arg, window_error = _window()
    today = clock.now().date()
    found = db.session.scalars(
        sa.select(ImprovementAction).options(selectinload(ImprovementAction.owner))
    ).all()
    running = sorted(
        (a for a in found if _is_running(a, today)),
        key=lambda a: (a.started_on, a.id),
        reverse=True,
    )
    ended = sorted(
        (a for a in found if not _is_running(a, today)),
        key=lambda a: (a.ended_on, a.started_on, a.id),
        reverse=True,
    )
    return render_template(
        "actions/index.html",
        running=[_shown(a, window, today) for a in running],
        ended=[_shown(a, window, today) for a in ended],
        window=window,
        window_arg=window_arg,
        window_error=window_error,
    )


@bp.route("/<int:action_id>")
@roles_required(*MANAGERS)
def show(action_id: int):
    """One action: the numbers before and after, the verdict, the p-chart."""
    action = _load(action_id)
    window, window_arg, window_error = _window()
    today = clock.now().date()
    shown = _shown(action, window, today)
    effect = shown.effect
    # The p-chart covers both windows, so its centre line is their average.
    chart_args = {
        "reason": effect.reason,
        "since": effect.before_since.isoformat(),
        "until": max(effect.before_until, effect.after_until).isoformat(),
        "lang": _lang(),
    }
    history = db.session.scalars(
        sa.select(AuditEntry)
        .where(
            AuditEntry.target_type == AUDIT_TARGET,
            AuditEntry.target_id == str(action.id),
            AuditEntry.action.like("improvement_action.%"),
        )
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .options(selectinload(AuditEntry.user))
    ).all()
    return render_template(
        "actions/show.html",
        shown=shown,
        action=action,
        effect=effect,
        window=window,
        window_arg=window_arg,
        window_error=window_error,
        chart_svg=url_for("analysis.chart", name="pchart", fmt="svg", **chart_args),
        # Drawn for a phone's width, so its text stays readable there.
        chart_narrow=url_for(
            "analysis.chart", name="pchart", fmt="svg", size="narrow", **chart_args
        ),
        chart_png=url_for("analysis.chart", name="pchart", fmt="png", **chart_args),
        history=history,
        field_labels=FIELD_LABELS,
        audit_value=_audit_value(_names(history)),
    )


def _audit_value(names: dict[int, str]):
    """How the history shows a value the audit log kept for a field."""
    labels = queries.reason_labels_for(_lang())

    def show(field: str, value) -> str:
        if value is None or value == "":
            return "—"
        if field == "reason":
            return labels.get(value, value)
        if field == "owner_id":
            return names.get(value, f"#{value}")
        if field in ("started_on", "ended_on"):
            try:
                return localdate(date.fromisoformat(value))
            except (TypeError, ValueError):
                return str(value)
        return str(value)

    return show


def _names(history: list[AuditEntry]) -> dict[int, str]:
    """The names of the owners an action's history mentions, by user id."""
    ids = set()
    for entry in history:
        details = entry.details or {}
        if "owner_id" in details:
            ids.add(details["owner_id"])
        ids.update(details.get("changes", {}).get("owner_id", []))
    ids = {i for i in ids if isinstance(i, int)}
    if not ids:
        return {}
    return dict(
        db.session.execute(sa.select(User.id, User.name).where(User.id.in_(ids))).all()
    )


def _serialise_creates() -> None:
    """Let one create at a time per user through, so that the duplicate check
    and the insert after it act as one step, even for two requests at once."""
    me = current_user.id
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.select(User.id).where(User.id == me).with_for_update())
        return
    # SQLite: end the read transaction, then take the write lock with a no-op
    # write; a concurrent create waits for it, and then sees this one's row.
    db.session.commit()
    users = User.__table__
    db.session.execute(
        sa.update(users).where(users.c.id == me).values(name=users.c.name)
    )


def _recent_twin(values: dict) -> ImprovementAction | None:
    since = clock.now() - timedelta(seconds=DUPLICATE_SECONDS)
    return db.session.scalars(
        sa.select(ImprovementAction)
        .where(
            ImprovementAction.title == values["title"],
            ImprovementAction.reason == values["reason"],
            ImprovementAction.started_on == values["started_on"],
            ImprovementAction.created_at >= since,
        )
        .order_by(ImprovementAction.id)
        .limit(1)
    ).first()


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def new():
    """Record an improvement action; a double submit records it once."""
    form = ActionForm()
    if request.method == "GET":
        form.owner_id.data = str(current_user.id)
        form.reason.data = request.args.get("reason", "")
        form.started_on.data = clock.now().date()
    if form.validate_on_submit():
        values = form.values()
        _serialise_creates()
        twin = _recent_twin(values)
        if twin is not None:
            db.session.commit()
            flash(_("This action was already saved."), "success")
            return redirect(url_for("actions.show", action_id=twin.id))
        action = ImprovementAction(**values)
        db.session.add(action)
        db.session.flush()
        audit.record(
            "improvement_action.create",
            action,
            **{name: _plain(value) for name, value in values.items()},
        )
        db.session.commit()
        flash(_("Improvement action saved."), "success")
        return redirect(url_for("actions.show", action_id=action.id))
    return render_template("actions/form.html", form=form, action=None)


@bp.route("/<int:action_id>/edit", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def edit(action_id: int):
    """Change an action, e.g. set the date it stopped; the audit log keeps
    what changed from what to what."""
    action = _load(action_id)
    form = ActionForm(keep_owner=action.owner_id)
    if request.method == "GET":
        for name, value in _current(action).items():
            if name == "reason":
                value = value.value
            elif name == "owner_id":
                value = str(value) if value is not None else ""
            getattr(form, name).data = value
    if form.validate_on_submit():
        before = _current(action)
        after = form.values()
        changes = {
            name: [_plain(before[name]), _plain(after[name])]
            for name in FIELDS
            if _plain(before[name]) != _plain(after[name])
        }
        if not changes:
            flash(_("Nothing changed."), "success")
            return redirect(url_for("actions.show", action_id=action.id))
        for name in changes:
            setattr(action, name, after[name])
        db.session.flush()
        audit.record("improvement_action.update", action, changes=changes)
        db.session.commit()
        flash(_("Changes saved."), "success")
        return redirect(url_for("actions.show", action_id=action.id))
    return render_template("actions/form.html", form=form, action=action)
