"""Feedback pages: the items with their tags, a form, the CSV import, the
reason mix per channel, and the channels administrators add."""

import gzip
import io
import re

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
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from karn import clock
from karn.accounts import audit
from karn.accounts.models import User
from karn.accounts.security import (
    ADMINS,
    ALL_ROLES,
    MANAGERS,
    local_path,
    roles_required,
)
from karn.customers.csv_errors import CsvFormatError
from karn.customers.operations import compress
from karn.enums import Reason
from karn.extensions import db
from karn.feedback import csvimport, importjob, intake, queries, tagging
from karn.feedback.models import (
    BUILTIN,
    FeedbackChannel,
    FeedbackImport,
    FeedbackItem,
    channel_names,
)

bp = Blueprint("feedback", __name__, url_prefix="/feedback")

PAGE = 50
MAX_UPLOAD = 200 * 1024 * 1024
# More than the CSV reader's sample, so it knows the file goes on.
PREVIEW_BYTES = 256 * 1024
_CODE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
CORRECTION_ERRORS = {
    "sentiment": _l("Choose a tone from the list: negative, neutral or positive."),
    "reason": _l("Choose a reason from the list."),
    "empty": _l("Choose a tone or a reason."),
    "no_text": _l("There is no text to tag here."),
}


def _lang() -> str:
    return str(get_locale() or "en")


def _choice(name: str, allowed) -> str | None:
    value = (request.args.get(name) or "").strip()
    return value if value in allowed else None


@bp.route("/")
@roles_required(*ALL_ROLES)
def index():
    """The newest items, of a channel and reason, with their tags to correct."""
    names = channel_names()
    channel = _choice("channel", names)
    reason = _choice("reason", [r.value for r in Reason])
    try:
        page = max(1, min(int(request.args.get("page") or 1), 1000))
    except ValueError:
        page = 1
    rows = queries.items(channel, reason, PAGE + 1, (page - 1) * PAGE)
    correctors = {}
    ids = {(i.tags or {}).get("corrected", {}).get("by") for i in rows}
    ids.discard(None)
    if ids:
        correctors = dict(
            db.session.execute(
                sa.select(User.id, User.name).where(User.id.in_(ids))
            ).all()
        )
    return render_template(
        "feedback/index.html",
        items=rows[:PAGE],
        more=len(rows) > PAGE,
        page=page,
        channel=channel,
        reason=reason,
        names=names,
        total=queries.total(),
        waiting=tagging.waiting(),
        correctors=correctors,
    )


def _form_values() -> dict:
    return {name: request.form.get(name, "") for name in intake.FIELDS}


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*ALL_ROLES)
def new():
    """One item by hand: a phone complaint, a review someone forwarded."""
    names = channel_names()
    values = {"received_at": clock.now().date().isoformat(), "channel": "support"}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _form_values()
        clean, problems = intake.validate(values, set(names))
        if not problems:
            stored = intake.store([clean], "form")
            audit.record("feedback.add", channel=clean["channel"])
            db.session.commit()
            if stored.created:
                flash(_("Feedback added. The worker tags it shortly."), "success")
            else:
                flash(_("This feedback was already there; nothing changed."), "success")
            return redirect(url_for("feedback.index"))
        errors = {p.field: p.message() for p in problems}
    return render_template(
        "feedback/form.html", values=values, errors=errors, names=names
    ), (422 if errors else 200)


@bp.route("/<int:item_id>/tags", methods=["POST"])
@roles_required(*ALL_ROLES)
def correct(item_id: int):
    """Correct the tone and/or reason tag of an item."""
    item = db.session.get(FeedbackItem, item_id)
    if item is None:
        abort(404)
    back = local_path(request.form.get("next")) or url_for("feedback.index")
    try:
        changed = tagging.correct(
            item,
            current_user,
            request.form.get("sentiment") or None,
            request.form.get("reason") or None,
        )
    except tagging.CorrectionError as exc:
        db.session.rollback()
        flash(str(CORRECTION_ERRORS[exc.code]), "error")
        return redirect(back)
    db.session.commit()
    if changed:
        flash(_("Tags corrected. Re-tagging leaves them as they are now."), "success")
    else:
        flash(_("Nothing changed."), "success")
    return redirect(back)


@bp.route("/channels")
@roles_required(*MANAGERS)
def channels():
    """The reason mix of each channel side by side."""
    return render_template(
        "feedback/channels.html",
        comparison=queries.comparison(),
        waiting=tagging.waiting(),
        reasons=[r.value for r in Reason],
    )


def _in(lang: str, label) -> str:
    """A lazy label in the given language."""
    with force_locale(lang):
        return str(label)


@bp.route("/channels/manage", methods=["GET", "POST"])
@roles_required(*ADMINS)
def manage_channels():
    """Administrators add channels, named in Dutch and English."""
    errors: dict[str, str] = {}
    values = {"code": "", "name_nl": "", "name_en": ""}
    if request.method == "POST":
        values = {k: (request.form.get(k) or "").strip() for k in values}
        code = values["code"].lower()
        if not _CODE.fullmatch(code):
            errors["code"] = _(
                "Use up to 32 lower-case letters, digits, - or _, starting with a "
                "letter or digit."
            )
        elif code in BUILTIN or db.session.scalar(
            sa.select(FeedbackChannel.id).where(FeedbackChannel.code == code)
        ):
            errors["code"] = _("There is a channel with this code already.")
        for name in ("name_nl", "name_en"):
            if not values[name]:
                errors[name] = _("Give the name in both languages.")
            elif len(values[name]) > 100:
                errors[name] = _("At most 100 characters.")
        if not errors:
            db.session.add(
                FeedbackChannel(
                    code=code, name_nl=values["name_nl"], name_en=values["name_en"]
                )
            )
            audit.record("feedback.channel_add", code=code)
            db.session.commit()
            flash(_("Channel added."), "success")
            return redirect(url_for("feedback.manage_channels"))
    added = db.session.scalars(
        sa.select(FeedbackChannel).order_by(FeedbackChannel.id)
    ).all()
    return render_template(
        "feedback/manage_channels.html",
        builtin=[
            (code, _in("nl", label), _in("en", label))
            for code, label in BUILTIN.items()
        ],
        added=added,
        values=values,
        errors=errors,
    ), (422 if errors else 200)


# --- CSV import -----------------------------------------------------------


def _field_choices() -> list[tuple[str, str]]:
    return [
        (csvimport.SKIP, _("Leave out")),
        ("text", _("Text")),
        ("received_at", _("Date")),
        ("channel", _("Channel")),
        ("rating", _("Rating")),
        ("language", _("Language")),
        ("customer_number", _("Customer number")),
        ("email", _("Email")),
        ("source_id", _("Id in the source (ticket number)")),
    ]


@bp.route("/import", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def import_upload():
    """Upload a CSV file; nothing is imported before the columns are checked."""
    error = None
    if request.method == "POST":
        upload = request.files.get("file")
        data = upload.read(MAX_UPLOAD + 1) if upload else b""
        if not upload or not upload.filename:
            error = _("Choose a CSV file.")
        elif len(data) > MAX_UPLOAD:
            error = _("The file is larger than 200 MB.")
        else:
            try:
                csvimport.detect(data)
            except CsvFormatError as exc:
                error = exc.message(_lang())
            else:
                run = FeedbackImport(
                    filename=upload.filename[:255],
                    upload=compress(data),
                    expected_rows=importjob.estimate_rows(data),
                    created_by_id=current_user.id,
                )
                db.session.add(run)
                db.session.commit()
                return redirect(url_for("feedback.import_preview", import_id=run.id))
    runs = db.session.scalars(
        sa.select(FeedbackImport).order_by(FeedbackImport.id.desc()).limit(20)
    ).all()
    return render_template("feedback/import.html", error=error, runs=runs), (
        422 if error else 200
    )


@bp.route("/import/<int:import_id>", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def import_preview(import_id: int):
    """The columns found and what each becomes; confirming imports the file."""
    run = db.session.get(FeedbackImport, import_id)
    if run is None:
        abort(404)
    if run.status != "pending" or run.upload is None:
        return redirect(url_for("feedback.import_result", import_id=run.id))
    # The preview reads the start of the file only: unpacking all of a large
    # upload on every look at this page is the worker's work.
    with gzip.GzipFile(fileobj=io.BytesIO(run.upload)) as unpacked:
        head = unpacked.read(PREVIEW_BYTES)
    detected = csvimport.detect(head)
    names = channel_names()
    mapping = detected.mapping
    default_channel = "support"
    problems = []
    if request.method == "POST":
        allowed = {value for value, _label in _field_choices()}
        mapping = {}
        for index, header in enumerate(detected.headers):
            target = request.form.get(f"map-{index}", "")
            mapping[header] = target if target in allowed else csvimport.SKIP
        default_channel = request.form.get("channel") or ""
        targets = [t for t in mapping.values() if t]
        if "text" not in targets:
            problems.append(_("Choose the column that holds the text."))
        if "received_at" not in targets:
            problems.append(_("Choose the column that holds the date."))
        if len(targets) != len(set(targets)):
            problems.append(_("Give each field one column only."))
        if "channel" not in targets and default_channel not in names:
            problems.append(_("Choose the channel of these items."))
        if not problems:
            importjob.queue(
                run,
                mapping,
                default_channel if "channel" not in targets else None,
                month_first=bool(request.form.get("month_first")),
            )
            audit.record("feedback.import_queued", run, rows=run.expected_rows)
            db.session.commit()
            if run.expected_rows <= importjob.INLINE_ROWS:
                # A small file: imported now, by the worker's own code.
                if importjob.claim("web", run.id) is not None:
                    importjob.run_slice(run.id, "web", None)
            return redirect(url_for("feedback.import_result", import_id=run.id))
    return render_template(
        "feedback/import_preview.html",
        run=run,
        detected=detected,
        mapping=mapping,
        choices=_field_choices(),
        names=names,
        default_channel=default_channel,
        problems=problems,
    ), (422 if problems else 200)


@bp.route("/import/<int:import_id>/result")
@roles_required(*MANAGERS)
def import_result(import_id: int):
    """The counts of an import: its progress while the worker runs it."""
    run = db.session.get(FeedbackImport, import_id)
    if run is None:
        abort(404)
    errors = [
        (line, [str(intake.ERRORS.get(code, code)) for code in codes])
        for line, codes in run.errors or []
    ]
    failure = None
    if run.error:
        failure = run.error[1] if _lang() == "nl" else run.error[0]
    return render_template(
        "feedback/import_result.html",
        run=run,
        errors=errors,
        failure=failure,
        running=run.status in importjob.WAITING,
        # "about": lines, not rows; never fewer than read already
        expected=max(run.expected_rows, run.rows),
        waiting=tagging.waiting(),
    )
