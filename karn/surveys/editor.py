"""The survey editor: change texts, order and visibility, preview, publish.

Editing works on a draft kept with the survey; publishing turns the draft into
the next immutable version, which every invitation written from then on gets.
Answers keep the version they were given in.
"""

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from karn import settings
from karn.accounts import audit
from karn.accounts.forms import ConfirmForm
from karn.accounts.security import MANAGERS, roles_required
from karn.enums import InvitationStatus
from karn.extensions import db
from karn.surveys import definition, delivery, editing
from karn.surveys.models import Invitation, Response, Survey, SurveyVersion

bp = Blueprint("editor", __name__, url_prefix="/surveys")

NEW_TYPES = (
    "single_choice",
    "multiple_choice",
    "rating_5",
    "scale_10",
    "short_text",
    "long_text",
    "yes_no",
)
# What each question type is called on the editor's pages.
TYPE_LABELS = {
    "single_choice": _l("One choice"),
    "multiple_choice": _l("Several choices"),
    "rating_5": _l("Rating from 1 to 5"),
    "scale_10": _l("Scale from 0 to 10"),
    "short_text": _l("Short text"),
    "long_text": _l("Long text"),
    "yes_no": _l("Yes or no"),
    "phone_time": _l("Phone number and time to call"),
}


def _survey(survey_id: int) -> Survey:
    return db.session.get(Survey, survey_id) or abort(404)


def _working_copy(survey: Survey) -> list[dict]:
    if survey.draft is not None:
        return definition.copy_for_edit(survey.draft)
    latest = delivery.latest_version(survey.id)
    return definition.copy_for_edit(latest.questions if latest else [])


@bp.route("/")
@roles_required(*MANAGERS)
def index():
    """Surveys with their versions and what each invitation gets."""
    surveys = db.session.scalars(sa.select(Survey).order_by(Survey.id)).all()
    counts = dict(
        db.session.execute(
            sa.select(Invitation.survey_version_id, sa.func.count()).group_by(
                Invitation.survey_version_id
            )
        ).all()
    )
    answered = dict(
        db.session.execute(
            sa.select(Response.survey_version_id, sa.func.count())
            .where(Response.submitted_at.is_not(None))
            .group_by(Response.survey_version_id)
        ).all()
    )
    waiting = dict(
        db.session.execute(
            sa.select(Invitation.survey_id, sa.func.count())
            .where(
                Invitation.status == InvitationStatus.SCHEDULED,
                Invitation.survey_version_id.is_(None),
            )
            .group_by(Invitation.survey_id)
        ).all()
    )
    return render_template(
        "surveys/editor/index.html",
        surveys=surveys,
        counts=counts,
        answered=answered,
        waiting=waiting,
        updates={s.id for s in surveys if editing.default_update(s) is not None},
        update_dismissed=editing.update_notice_dismissed(),
        confirm=ConfirmForm(),
    )


@bp.route("/<int:survey_id>/default-update", methods=["POST"])
@roles_required(*MANAGERS)
def default_update(survey_id: int):
    """Publish the default survey's new edition over an unedited earlier one."""
    survey = _survey(survey_id)
    if ConfirmForm().validate_on_submit():
        version = editing.apply_default_update(survey, current_user)
        if version is None:
            flash(_("This survey was changed, so it keeps its own questions."), "error")
        else:
            audit.record("survey.default_update", version, number=version.number)
            db.session.commit()
            flash(
                _(
                    "Version %(n)d is published. New invitations get it.",
                    n=version.number,
                ),
                "success",
            )
    return redirect(url_for("editor.index"))


@bp.route("/default-update/dismiss", methods=["POST"])
@roles_required(*MANAGERS)
def dismiss_default_update():
    """Put the notice of the default survey's new edition away, for everyone;
    the edition stays on offer in each survey's card."""
    if ConfirmForm().validate_on_submit():
        editing.dismiss_update_notice(current_user)
        db.session.commit()
        flash(
            _(
                "The notice is put away. The new edition stays available "
                "under each survey it fits."
            ),
            "success",
        )
    return redirect(url_for("editor.index"))


def _apply_form(questions: list[dict], form) -> list[dict]:
    """The working copy changed as the editor form says."""
    texts: dict[tuple, str | None] = {}
    settings: dict[str, dict] = {}
    hide, show, positions = [], [], []
    for index, question in enumerate(questions):
        key = question["key"]
        prefix = f"q-{index}-"
        for lang in definition.LANGUAGES:
            texts[(key, "text", lang)] = form.get(f"{prefix}text-{lang}", "").strip()
            texts[(key, "help", lang)] = (
                form.get(f"{prefix}help-{lang}", "").strip() or None
            )
            for j, option in enumerate(question.get("options") or []):
                name = f"{prefix}opt-{j}-{lang}"
                texts[(key, "option", option["value"], lang)] = form.get(
                    name, ""
                ).strip()
            for j, item in enumerate(question.get("items") or []):
                name = f"{prefix}item-{j}-{lang}"
                texts[(key, "item", item["key"], lang)] = form.get(name, "").strip()
        settings[key] = {"required": True if form.get(f"{prefix}required") else None}
        (hide if form.get(f"{prefix}hidden") else show).append(key)
        try:
            position = float(form.get(f"{prefix}position", index + 1))
        except ValueError:
            position = index + 1
        positions.append((position, index, key))
    order = [key for _, _, key in sorted(positions)]
    add = []
    new_key = form.get("new-key", "").strip()
    if new_key:
        new = {
            "key": new_key,
            "type": form.get("new-type", "long_text"),
            "text": {
                lang: form.get(f"new-text-{lang}", "").strip()
                for lang in definition.LANGUAGES
            },
        }
        if new["type"] in definition.CHOICE_TYPES:
            new["options"] = []
            for line in form.get("new-options", "").splitlines():
                parts = [p.strip() for p in line.split(";")]
                if len(parts) == 3 and parts[0]:
                    new["options"].append(
                        {"value": parts[0], "label": {"nl": parts[1], "en": parts[2]}}
                    )
        add.append(new)
    changed = definition.with_changes(
        questions, texts=texts, settings=settings, hide=hide, show=show, order=order
    )
    if add:
        try:
            changed = definition.with_changes(changed, add=add)
        except ValueError as exc:
            raise EditError(str(exc)) from exc
    return changed


class EditError(ValueError):
    """A change the editor cannot make; the message is shown."""


@bp.route("/<int:survey_id>/edit", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def edit(survey_id: int):
    """Edit the draft; save it, preview it or publish it as a new version."""
    survey = _survey(survey_id)
    questions = _working_copy(survey)
    confirm = ConfirmForm()
    problems: list[str] = []
    lang = str(get_locale())
    if confirm.validate_on_submit():
        try:
            questions = _apply_form(questions, request.form)
        except ValueError as exc:
            problems = [str(exc)]
        survey.draft = questions
        action = request.form.get("action", "save")
        problems += definition.validate_definition(questions, lang)
        if action == "publish" and not problems:
            version = editing.publish(survey, questions, current_user)
            survey.draft = None
            db.session.commit()
            flash(
                _(
                    "Version %(n)d is published. New invitations get it.",
                    n=version.number,
                ),
                "success",
            )
            return redirect(url_for("editor.index"))
        audit.record("survey.draft", survey)
        db.session.commit()
        if action == "preview" and not problems:
            return redirect(url_for("editor.preview", survey_id=survey.id, lang=lang))
        if not problems:
            flash(
                _("Draft saved. Respondents still get the published version."),
                "success",
            )
            return redirect(url_for("editor.edit", survey_id=survey.id))
    return render_template(
        "surveys/editor/edit.html",
        survey=survey,
        questions=questions,
        problems=problems,
        confirm=confirm,
        new_types=NEW_TYPES,
        type_labels=TYPE_LABELS,
        latest=delivery.latest_version(survey.id),
    )


@bp.route("/<int:survey_id>/discard", methods=["POST"])
@roles_required(*MANAGERS)
def discard(survey_id: int):
    """Throw the draft away and start again from the published version."""
    survey = _survey(survey_id)
    if ConfirmForm().validate_on_submit():
        survey.draft = None
        db.session.commit()
        flash(_("The draft is discarded."), "success")
    return redirect(url_for("editor.edit", survey_id=survey.id))


@bp.route("/<int:survey_id>/preview")
@roles_required(*MANAGERS)
def preview(survey_id: int):
    """The draft exactly as a respondent sees it, in either language."""
    survey = _survey(survey_id)
    settings.note_once(settings.SURVEY_CHECKED, current_user.id)
    questions = _working_copy(survey)
    lang = request.args.get("lang", str(get_locale()))
    if lang not in definition.LANGUAGES:
        lang = "nl"
    orders = {
        q["key"]: definition.option_order(q, "preview")
        for q in questions
        if q["type"] in definition.CHOICE_TYPES
    }
    from flask_babel import force_locale

    from karn.surveys.respond import page_context

    shown = [q for q in questions if not q.get("hidden")]
    with force_locale(lang):
        html = render_template(
            "surveys/respond/form.html",
            **page_context(shown, {}, {}, orders, lang),
            action=url_for("editor.preview", survey_id=survey.id),
            save_url=None,
            honeypot="website",
            preview_of=survey,
            current_language=lang,
        )
    return html


@bp.route("/<int:survey_id>/versions/<int:number>")
@roles_required(*MANAGERS)
def version(survey_id: int, number: int):
    """A published version's questions, in both languages."""
    found = db.session.scalar(
        sa.select(SurveyVersion).where(
            SurveyVersion.survey_id == survey_id, SurveyVersion.number == number
        )
    ) or abort(404)
    return render_template(
        "surveys/editor/version.html", version=found, type_labels=TYPE_LABELS
    )
