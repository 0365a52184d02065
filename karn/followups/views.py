"""The follow-ups page: a mail per departure reason, switched on by managers.

Managers and administrators write, per reason, a subject, a text (with
``{name}`` for the person's name) and an optional offer line in Dutch and
English, choose the days after answering it goes out and switch it on. The
page shows the mail as it is received, and how many were mailed, held back
(the control group) and are waiting.
"""

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from karn import clock, settings
from karn.accounts import audit
from karn.accounts.security import MANAGERS, roles_required
from karn.enums import ExperimentGroup, Language, Reason
from karn.experiments.models import Assignment
from karn.extensions import db
from karn.followups import eligibility, scheduling
from karn.followups import mails as followup_mails
from karn.followups.models import (
    BODY_MAX,
    DEFAULT_DELAY_DAYS,
    MAX_DELAY_DAYS,
    OFFER_MAX,
    SUBJECT_MAX,
    FollowUp,
)
from karn.surveys import links

bp = Blueprint("followups", __name__, url_prefix="/follow-ups")

LANGS = [lang.value for lang in Language]
TEXT_FIELDS = ("subject", "body", "offer")
# The name the preview greets, as the mail would greet a customer.
SAMPLE_NAMES = {"nl": "Anna de Vries", "en": "Anna Smith"}


class FollowUpForm(FlaskForm):
    active = BooleanField(_l("Send this follow-up"))
    delay_days = IntegerField(
        _l("Days after answering the survey"),
        description=_l("The mail goes out this many days after the answer (1 to 365)."),
        validators=[InputRequired(), NumberRange(1, MAX_DELAY_DAYS)],
    )
    subject_nl = StringField(
        _l("Subject (Dutch)"), validators=[Optional(), Length(max=SUBJECT_MAX)]
    )
    body_nl = TextAreaField(
        _l("Text (Dutch)"),
        description=_l("Write {name} where the person's name goes."),
        validators=[Optional(), Length(max=BODY_MAX)],
    )
    offer_nl = StringField(
        _l("Offer line (Dutch, optional)"),
        validators=[Optional(), Length(max=OFFER_MAX)],
    )
    subject_en = StringField(
        _l("Subject (English)"), validators=[Optional(), Length(max=SUBJECT_MAX)]
    )
    body_en = TextAreaField(
        _l("Text (English)"),
        description=_l("Write {name} where the person's name goes."),
        validators=[Optional(), Length(max=BODY_MAX)],
    )
    offer_en = StringField(
        _l("Offer line (English, optional)"),
        validators=[Optional(), Length(max=OFFER_MAX)],
    )

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.active.data:
            for lang in LANGS:
                for name in ("subject", "body"):
                    field = self[f"{name}_{lang}"]
                    if not (field.data or "").strip():
                        field.errors = [
                            *field.errors,
                            _("Needed in both languages to switch it on."),
                        ]
                        valid = False
        return valid


def _reason(code: str) -> Reason:
    try:
        return Reason(code)
    except ValueError:
        abort(404)


def _follow_ups() -> dict[Reason, FollowUp]:
    return {f.reason: f for f in db.session.scalars(sa.select(FollowUp))}


def _counts(follow_ups: list[FollowUp]) -> dict[int, dict[str, int]]:
    """experiment id -> mailed and held back so far."""
    ids = [f.experiment_id for f in follow_ups if f.experiment_id]
    counts: dict[int, dict[str, int]] = {}
    if ids:
        rows = db.session.execute(
            sa.select(Assignment.experiment_id, Assignment.group, sa.func.count())
            .where(Assignment.experiment_id.in_(ids))
            .group_by(Assignment.experiment_id, Assignment.group)
        )
        for experiment_id, group, n in rows:
            key = "mailed" if group == ExperimentGroup.TREATED else "held_back"
            counts.setdefault(experiment_id, {})[key] = n
    return counts


def _figures(follow_up: FollowUp | None, counts: dict) -> dict[str, int]:
    if follow_up is None:
        return {"mailed": 0, "held_back": 0, "waiting": 0}
    mine = counts.get(follow_up.experiment_id, {})
    return {
        "mailed": mine.get("mailed", 0),
        "held_back": mine.get("held_back", 0),
        "waiting": scheduling.waiting(follow_up),
    }


@bp.route("/")
@roles_required(*MANAGERS)
def index():
    """Every reason with its follow-up: on or off, delay and numbers so far."""
    found = _follow_ups()
    counts = _counts(list(found.values()))
    rows = [
        {
            "reason": r,
            "follow_up": found.get(r),
            "figures": _figures(found.get(r), counts),
        }
        for r in Reason
    ]
    return render_template(
        "followups/index.html",
        rows=rows,
        contact_min_days=eligibility.contact_min_days(),
        held_back_percent=round(100 * (1 - float(settings.get("FOLLOW_UP_SHARE")))),
    )


def _preview(follow_up: FollowUp | None, lang: str) -> dict | None:
    if follow_up is None or not follow_up.written_in(lang):
        return None
    skeleton = followup_mails.Skeleton(follow_up.texts(lang), lang)
    url = links.external(
        "respond.unsubscribe", unsubscribe_token=links.unsubscribe_token(0)
    )
    return skeleton.mail(SAMPLE_NAMES[lang], url)


@bp.route("/<reason>", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def edit(reason: str):
    """Write a reason's follow-up in both languages, switch it on or off."""
    code = _reason(reason)
    follow_up = _follow_ups().get(code)
    form = FollowUpForm(obj=follow_up)
    if request.method == "GET" and follow_up is None:
        form.delay_days.data = DEFAULT_DELAY_DAYS
    if form.validate_on_submit():
        if follow_up is None:
            follow_up = FollowUp(reason=code, active=False)
            db.session.add(follow_up)
        was_active = bool(follow_up.active)
        changed = []
        for name in (
            "delay_days",
            *(f"{t}_{lang}" for lang in LANGS for t in TEXT_FIELDS),
        ):
            value = getattr(form, name).data
            if isinstance(value, str):
                value = value.strip() or None
            if getattr(follow_up, name) != value:
                changed.append(name)
                setattr(follow_up, name, value)
        follow_up.active = bool(form.active.data)
        if follow_up.active and not was_active:
            # Only responses from now on: earlier ones never heard of it.
            now = clock.now()
            follow_up.active_since = follow_up.scanned_at = now
            follow_up.scanned_id = 0
            scheduling.ensure_experiment(follow_up, by=current_user)
        follow_up.updated_by_id = current_user.id
        db.session.flush()
        audit.record(
            "follow_up.update",
            follow_up,
            reason=code.value,
            active=follow_up.active,
            switched=(follow_up.active != was_active) or None,
            changed=", ".join(changed) or None,
        )
        db.session.commit()
        if follow_up.active and not was_active:
            flash(
                _(
                    "The follow-up is on. Respondents from now on get it "
                    "%(days)s days after answering.",
                    days=follow_up.delay_days,
                ),
                "success",
            )
        elif was_active and not follow_up.active:
            flash(
                _("The follow-up is off. Mail already written still goes out."),
                "success",
            )
        else:
            flash(_("The follow-up is saved."), "success")
        return redirect(url_for("followups.edit", reason=code.value))
    counts = _counts([follow_up] if follow_up else [])
    return render_template(
        "followups/edit.html",
        reason=code,
        follow_up=follow_up,
        form=form,
        figures=_figures(follow_up, counts),
        previews={lang: _preview(follow_up, lang) for lang in LANGS},
    )


@bp.route("/<reason>/preview/<lang>")
@roles_required(*MANAGERS)
def preview_html(reason: str, lang: str):
    """The HTML mail as received, with no scripts and nothing loaded from elsewhere."""
    if lang not in LANGS:
        abort(404)
    preview = _preview(_follow_ups().get(_reason(reason)), lang)
    if preview is None:
        abort(404)
    response = make_response(preview["body_html"])
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
    )
    return response
