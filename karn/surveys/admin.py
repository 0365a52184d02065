"""Admin pages for delivery: the outbox, the schedule settings, the suppression list."""

import re

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
from flask_wtf.file import FileField
from markupsafe import Markup, escape
from wtforms import BooleanField, EmailField, IntegerField, StringField
from wtforms.validators import (
    Email,
    InputRequired,
    NumberRange,
    Optional,
    ValidationError,
)

from karn import settings
from karn.accounts import audit
from karn.accounts.forms import ConfirmForm
from karn.accounts.security import ADMINS, roles_required
from karn.customers import stripe_lookup
from karn.customers.models import Suppression
from karn.enums import OutboxStatus
from karn.extensions import db
from karn.surveys import branding, deliverability, delivery, mail_reasons, outbox
from karn.surveys.models import OutboxMessage

bp = Blueprint("delivery", __name__, url_prefix="/admin")

OUTBOX_LABELS = {
    "held": _l("held"),
    "pending": _l("waiting"),
    "sending": _l("being sent"),
    "sent": _l("sent"),
    "failed": _l("failed"),
    "cancelled": _l("cancelled"),
}
SUPPRESSION_LABELS = {
    "unsubscribed": _l("unsubscribed"),
    "bounced": _l("undeliverable"),
    "erased": _l("erased"),
    "admin": _l("added by an administrator"),
    "complaint": _l("marked our mail as spam"),
}


@bp.context_processor
def _labels():
    return {"outbox_labels": OUTBOX_LABELS, "suppression_labels": SUPPRESSION_LABELS}


PAGE_SIZE = 50
_URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """Plain text with its web addresses made clickable, everything else escaped."""
    out, last = [], 0
    for match in _URL.finditer(text or ""):
        out.append(escape(text[last : match.start()]))
        url = match.group(0)
        out.append(Markup('<a href="{0}">{0}</a>').format(url))
        last = match.end()
    out.append(escape((text or "")[last:]))
    return Markup("").join(out)


@bp.route("/outbox")
@roles_required(*ADMINS)
def outbox_list():
    """Every mail Karn wrote, newest first; held mail when no SMTP server is set."""
    status = request.args.get("status", "")
    before = request.args.get("before", type=int)
    query = sa.select(OutboxMessage).order_by(OutboxMessage.id.desc())
    if status in {s.value for s in OutboxStatus}:
        query = query.where(OutboxMessage.status == status)
    if before:
        query = query.where(OutboxMessage.id < before)
    rows = db.session.scalars(query.limit(PAGE_SIZE + 1)).all()
    counts = dict(
        db.session.execute(
            sa.select(OutboxMessage.status, sa.func.count()).group_by(
                OutboxMessage.status
            )
        ).all()
    )
    return render_template(
        "surveys/admin/outbox.html",
        messages=rows[:PAGE_SIZE],
        next_before=rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None,
        status=status,
        counts={s.value: counts.get(s, 0) for s in OutboxStatus},
        mail_configured=outbox.mail_configured(),
        confirm=ConfirmForm(),
    )


@bp.route("/outbox/<int:message_id>")
@roles_required(*ADMINS)
def outbox_message(message_id: int):
    """One mail as it was (or will be) sent, with its links."""
    message = db.session.get(OutboxMessage, message_id) or abort(404)
    return render_template(
        "surveys/admin/message.html",
        message=message,
        body=linkify(message.body_text or ""),
        confirm=ConfirmForm(),
    )


@bp.route("/outbox/<int:message_id>/html")
@roles_required(*ADMINS)
def outbox_message_html(message_id: int):
    """The HTML part on its own, with no scripts and nothing loaded from elsewhere."""
    message = db.session.get(OutboxMessage, message_id) or abort(404)
    response = make_response(message.body_html or "")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
    )
    return response


@bp.route("/outbox/release", methods=["POST"])
@roles_required(*ADMINS)
def outbox_release():
    """Send held mail now that an SMTP server is configured."""
    if ConfirmForm().validate_on_submit() and outbox.mail_configured():
        count = db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.HELD)
            .values(status=OutboxStatus.PENDING)
        ).rowcount
        audit.record("outbox.release", count=count)
        db.session.commit()
        flash(_("%(n)d held messages will be sent.", n=count), "success")
    return redirect(url_for("delivery.outbox_list"))


@bp.route("/outbox/<int:message_id>/retry", methods=["POST"])
@roles_required(*ADMINS)
def outbox_retry(message_id: int):
    """Send a failed message once more (after checking it was not delivered)."""
    message = db.session.get(OutboxMessage, message_id) or abort(404)
    if ConfirmForm().validate_on_submit() and message.status == OutboxStatus.FAILED:
        message.status = OutboxStatus.PENDING
        message.attempts = 0
        message.handed_over_at = None
        audit.record("outbox.retry", message)
        db.session.commit()
        flash(_("The message will be sent again."), "success")
    return redirect(url_for("delivery.outbox_message", message_id=message.id))


def _valid_timezone(form, field):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(field.data)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(_("Unknown time zone, e.g. Europe/Amsterdam.")) from exc


def _valid_days(form, field):
    try:
        settings.parse_days(field.data or "")
    except ValueError as exc:
        raise ValidationError(
            _("Give at most two days, increasing, e.g. 5, 12 (or leave empty).")
        ) from exc


class ScheduleForm(FlaskForm):
    INVITATION_DELAY_HOURS = IntegerField(
        _l("Hours after departure before the invitation"),
        validators=[InputRequired(), NumberRange(0, 24 * 60)],
    )
    REMINDER_DAYS = StringField(
        _l("Reminders, days after the invitation"),
        description=_l("At most two, e.g. 5, 12. Empty: no reminders."),
        validators=[Optional(), _valid_days],
    )
    INVITATION_CUTOFF_DAYS = IntegerField(
        _l("Do not invite people who left more than this many days ago"),
        validators=[InputRequired(), NumberRange(1, 3650)],
    )
    LINK_VALID_DAYS = IntegerField(
        _l("Days a survey link stays valid"),
        validators=[InputRequired(), NumberRange(1, 3650)],
    )
    QUIET_HOURS_START = IntegerField(
        _l("No mail from (hour)"), validators=[InputRequired(), NumberRange(0, 23)]
    )
    QUIET_HOURS_END = IntegerField(
        _l("No mail until (hour)"), validators=[InputRequired(), NumberRange(0, 23)]
    )
    TIMEZONE = StringField(
        _l("Time zone for quiet hours"), validators=[InputRequired(), _valid_timezone]
    )
    MAIL_RATE_PER_MINUTE = IntegerField(
        _l("Most messages per minute (0: no limit)"),
        validators=[InputRequired(), NumberRange(0, 100_000)],
    )
    CONTACT_MIN_DAYS = IntegerField(
        _l("Days between two follow-up or campaign mails to one person"),
        description=_l(
            'Nobody gets a follow-up or a "we fixed it" mail within this many '
            "days of the last one. The survey's invitation and reminders do not "
            "count. Empty: the configured value (KARN_CONTACT_MIN_DAYS)."
        ),
        validators=[Optional(), NumberRange(1, 3650)],
    )


@bp.route("/settings", methods=["GET", "POST"])
@roles_required(*ADMINS)
def schedule():
    """The invitation schedule: delay, reminders, cut-off, quiet hours, rate."""
    form = ScheduleForm()
    names = [name for name in settings.EDITABLE if name in form]
    if request.method == "GET":
        for name in names:
            value = settings.get(name)
            if name == "REMINDER_DAYS":
                value = ", ".join(str(d) for d in settings.reminder_days())
            elif name == "INVITATION_DELAY_HOURS":
                value = int(float(value))
            getattr(form, name).data = value
    if form.validate_on_submit():
        values = {name: getattr(form, name).data for name in names}
        values["REMINDER_DAYS"] = ",".join(
            str(d) for d in settings.parse_days(values["REMINDER_DAYS"] or "")
        )
        settings.save(values, current_user.id)
        audit.record("settings.schedule", **{k: str(v) for k, v in values.items()})
        db.session.commit()
        flash(
            _("The schedule is saved. It applies to mail not yet written."), "success"
        )
        return redirect(url_for("delivery.schedule"))
    return render_template(
        "surveys/admin/settings.html", form=form, stripe_notice=stripe_lookup.notice()
    )


class SuppressForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[InputRequired(), Email()])


@bp.route("/suppressions", methods=["GET", "POST"])
@roles_required(*ADMINS)
def suppressions():
    """Addresses Karn never mails, whatever is imported later."""
    form = SuppressForm()
    if form.validate_on_submit():
        delivery.suppress(form.email.data, "admin")
        audit.record("suppression.add", email=form.email.data.lower())
        db.session.commit()
        flash(_("%(email)s will never be mailed.", email=form.email.data), "success")
        return redirect(url_for("delivery.suppressions"))
    query = sa.select(Suppression).order_by(Suppression.created_at.desc()).limit(500)
    rows = db.session.scalars(query).all()
    return render_template("surveys/admin/suppressions.html", rows=rows, form=form)


# --- deliverability ---------------------------------------------------------------

EFFECT_LABELS = {
    "address_dead": _l("address cannot receive mail: undeliverable at once"),
    "mailbox_state": _l("mailbox state: counts toward the limit"),
    "sender_refused": _l("refused the sender: the domain is paused"),
    "connection": _l("connection or system: tried again"),
}


@bp.route("/deliverability")
@roles_required(*ADMINS)
def deliverability_page():
    """Failed deliveries by reason and receiving domain, the paused domains with
    the receiving servers' words, and what to check."""
    days = request.args.get("days", 30, type=int)
    days = days if days in (7, 30, 90, 365) else 30
    facts = deliverability.summary(days)
    return render_template(
        "surveys/admin/deliverability.html",
        facts=facts,
        pauses=deliverability.pauses(),
        reasons=mail_reasons.REASONS,
        label_of=mail_reasons.label_of,
        effect_labels=EFFECT_LABELS,
        confirm=ConfirmForm(),
    )


@bp.route("/deliverability/release", methods=["POST"])
@roles_required(*ADMINS)
def deliverability_release():
    """Let mail to a paused domain go again."""
    domain = request.form.get("domain", "").strip().lower()
    if ConfirmForm().validate_on_submit() and deliverability.release(
        domain, current_user.id
    ):
        audit.record("mail.domain_released", None, domain=domain)
        db.session.commit()
        flash(_("Mail to %(domain)s is sent again.", domain=domain), "success")
    else:
        flash(_("That domain is not paused."), "error")
    return redirect(url_for("delivery.deliverability_page"))


# --- branding ----------------------------------------------------------------------


class BrandingForm(FlaskForm):
    colour = StringField(
        _l("Colour"),
        description=_l(
            "A hex code such as #1d4e5f, for the survey's header and buttons, "
            "with white text on it. Empty: Karn's own colour."
        ),
    )
    logo = FileField(
        _l("Logo"),
        description=_l("A PNG or JPEG image of at most 200 KB."),
        render_kw={"accept": "image/png,image/jpeg"},
    )
    remove_logo = BooleanField(_l("Remove the logo"))


@bp.route("/branding", methods=["GET", "POST"])
@roles_required(*ADMINS)
def branding_page():
    """The company's logo and colour, on the survey pages and in survey mail."""
    form = BrandingForm()
    brand = branding.current()
    if request.method == "GET":
        form.colour.data = brand.colour or ""
    if form.validate_on_submit():
        colour = None
        if (form.colour.data or "").strip():
            colour, problem = branding.read_colour(form.colour.data)
            if problem:
                form.colour.errors.append(problem)
        data = content_type = None
        upload = form.logo.data
        if upload and getattr(upload, "filename", ""):
            data = upload.read(branding.LOGO_MAX_BYTES + 1)
            content_type, problem = branding.read_logo(data)
            if problem:
                form.logo.errors.append(problem)
        if not form.colour.errors and not form.logo.errors:
            branding.save(
                colour=colour,
                logo_data=data,
                logo_type=content_type,
                remove_logo=form.remove_logo.data,
                user_id=current_user.id,
            )
            audit.record(
                "settings.branding",
                colour=colour or "",
                logo="new" if data else ("removed" if form.remove_logo.data else ""),
            )
            db.session.commit()
            flash(_("The branding is saved. Survey pages and mail show it."), "success")
            return redirect(url_for("delivery.branding_page"))
    return render_template(
        "surveys/admin/branding.html",
        form=form,
        brand=brand,
        logo_url=branding.logo_url(brand),
        min_contrast=branding.MIN_CONTRAST,
    )
