"""Mailing a “we fixed it” campaign from an improvement action: the form, a
preview of who gets it and the mail in each language, and the confirm that
sends it once."""

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    ValidationError,
)

from karn import clock
from karn.accounts.security import MANAGERS, roles_required
from karn.actions.models import ImprovementAction
from karn.analysis import queries
from karn.extensions import db
from karn.followups import campaigns

bp = Blueprint("campaigns", __name__, url_prefix="/actions")

_KEY = re.compile(r"[A-Za-z0-9_-]{20,64}\Z")
# An example recipient for the preview, per language.
SAMPLE_NAME = {"nl": "Anna de Vries", "en": "Anna Smith"}
# The texts start with a greeting, which shows how the name goes in.
START = {"nl": "Beste {name},\n\n", "en": "Dear {name},\n\n"}
TEXT_FIELDS = ("subject_nl", "body_nl", "subject_en", "body_en")


class CampaignForm(FlaskForm):
    """Period, texts in both languages and the share held back."""

    key = HiddenField()
    since = DateField(
        _l("Left from"), validators=[InputRequired(_l("Give the first day."))]
    )
    until = DateField(
        _l("Left until"), validators=[InputRequired(_l("Give the last day."))]
    )
    subject_nl = StringField(
        _l("Subject in Dutch"),
        filters=[campaigns.clean],
        validators=[
            DataRequired(_l("Write a subject in Dutch.")),
            Length(max=200, message=_l("Keep the subject to 200 characters.")),
        ],
    )
    body_nl = TextAreaField(
        _l("Text in Dutch"),
        filters=[campaigns.clean],
        validators=[
            DataRequired(_l("Write the text in Dutch.")),
            Length(max=10000, message=_l("Keep the text to 10,000 characters.")),
        ],
    )
    subject_en = StringField(
        _l("Subject in English"),
        filters=[campaigns.clean],
        validators=[
            DataRequired(_l("Write a subject in English.")),
            Length(max=200, message=_l("Keep the subject to 200 characters.")),
        ],
    )
    body_en = TextAreaField(
        _l("Text in English"),
        filters=[campaigns.clean],
        validators=[
            DataRequired(_l("Write the text in English.")),
            Length(max=10000, message=_l("Keep the text to 10,000 characters.")),
        ],
    )
    held_back = IntegerField(
        _l("Held back as control group (%)"),
        validators=[
            InputRequired(_l("Give the share held back.")),
            NumberRange(1, 99, message=_l("Hold back between 1 and 99 percent.")),
        ],
        description=_l(
            "Chosen at random and not mailed, so that the effect can be measured."
        ),
    )

    def validate_key(self, field) -> None:
        if not _KEY.match(field.data or ""):
            raise ValidationError(_("The form is out of date: open it again."))

    def validate_until(self, field) -> None:
        if self.since.data and field.data and field.data < self.since.data:
            raise ValidationError(_("The last day lies before the first day."))
        if field.data and field.data > clock.now().date():
            raise ValidationError(_("The last day lies in the future."))

    @property
    def texts(self) -> campaigns.Texts:
        return campaigns.Texts(*(getattr(self, name).data for name in TEXT_FIELDS))

    @property
    def share(self) -> float:
        return 1.0 - self.held_back.data / 100.0


def _action(action_id: int) -> ImprovementAction:
    return db.session.get(ImprovementAction, action_id) or abort(404)


def _label(action: ImprovementAction) -> str:
    return queries.reason_labels_for(_lang()).get(
        action.reason.value, action.reason.value
    )


def _lang() -> str:
    return str(get_locale())


@bp.route("/<int:action_id>/campaign", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def new(action_id: int):
    """The form; a valid form shows the preview, with nothing sent yet."""
    action = _action(action_id)
    form = CampaignForm()
    if request.method == "GET":
        form.key.data = campaigns.new_key()
        form.since.data, form.until.data = campaigns.default_period(
            action, clock.now().date()
        )
        form.held_back.data = round(100 * (1 - campaigns.share()))
        form.body_nl.data, form.body_en.data = START["nl"], START["en"]
    if request.method == "POST" and not request.form.get("change"):
        if form.validate():
            return _preview(action, form)
    return render_template(
        "followups/campaign_form.html", form=form, action=action, label=_label(action)
    )


def _preview(action: ImprovementAction, form: CampaignForm):
    selection = campaigns.select(action.reason.value, form.since.data, form.until.data)
    samples = {
        lang: campaigns.sample(form.texts, lang, SAMPLE_NAME[lang])
        for lang in ("nl", "en")
    }
    mailed = round(len(selection.eligible) * form.share)
    return render_template(
        "followups/campaign_preview.html",
        form=form,
        action=action,
        label=_label(action),
        selection=selection,
        rules=campaigns.RULES,
        samples=samples,
        about_mailed=mailed,
        about_held_back=len(selection.eligible) - mailed,
    )


@bp.route("/<int:action_id>/campaign/send", methods=["POST"])
@roles_required(*MANAGERS)
def send(action_id: int):
    """Send the previewed campaign once; a second confirm sends nothing more."""
    action = _action(action_id)
    form = CampaignForm()
    if not form.validate():
        return render_template(
            "followups/campaign_form.html",
            form=form,
            action=action,
            label=_label(action),
        )
    sent = campaigns.send(
        action,
        key=form.key.data,
        since=form.since.data,
        until=form.until.data,
        texts=form.texts,
        share=form.share,
        by=current_user,
    )
    if not sent.created:
        db.session.rollback()
        flash(_("This campaign was sent already; nothing more was sent."), "success")
        if sent.campaign is None or sent.campaign.experiment_id is None:
            return redirect(url_for("actions.show", action_id=action.id))
        return redirect(
            url_for("effect.experiment", experiment_id=sent.campaign.experiment_id)
        )
    if sent.campaign is None:
        db.session.rollback()
        flash(_("Nobody can be mailed now: nothing was sent."), "error")
        return redirect(url_for("actions.show", action_id=action.id))
    campaign = sent.campaign
    db.session.commit()
    flash(
        _(
            "Campaign sent: %(mailed)s mails written, %(held)s people held back.",
            mailed=format_decimal(campaign.mailed),
            held=format_decimal(campaign.held_back),
        ),
        "success",
    )
    return redirect(url_for("effect.experiment", experiment_id=campaign.experiment_id))
