"""Administrators' pages: endpoints, their events and settings, the delivery
log with every attempt, and resending a delivery."""

import base64
import secrets

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    URLField,
    widgets,
)
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from karn.accounts import audit
from karn.accounts.forms import ConfirmForm
from karn.accounts.security import ADMINS, roles_required
from karn.extensions import db
from karn.webhooks import delivery, events, sender, subscribers
from karn.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

bp = Blueprint("webhook_admin", __name__, url_prefix="/admin/webhooks")

LOG_SIZE = 100

EVENT_LABELS = {
    events.RESPONSE_SUBMITTED: _l("A survey response was submitted"),
    events.CALL_NOTE_CREATED: _l("A call was logged"),
    events.CUSTOMER_WON_BACK: _l("A customer was won back"),
    events.FOLLOWUP_RESULT: _l(
        "A follow-up or campaign mail was sent, failed or held back"
    ),
    events.CUSTOMER_ERASED: _l("A person's data was erased"),
}
STATUS_LABELS = {
    "pending": _l("waiting"),
    "sending": _l("sending"),
    "delivered": _l("delivered"),
    "failed": _l("failed"),
    "cancelled": _l("cancelled"),
}


def new_secret() -> str:
    """A signing secret in the Standard Webhooks format: whsec_ and base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class _Checkboxes(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _checked_url(form, field) -> None:
    try:
        sender.check_url(field.data or "")
    except sender.Refused:
        raise ValidationError(
            _("Enter an http or https URL with a host name (no user name or password).")
        ) from None


class EndpointForm(FlaskForm):
    url = URLField(
        _l("URL"), validators=[InputRequired(), Length(max=2000), _checked_url]
    )
    description = StringField(
        _l("Description"), validators=[Optional(), Length(max=200)]
    )
    events = _Checkboxes(
        _l("Events"),
        choices=[SelectChoice(name, label) for name, label in EVENT_LABELS.items()],
        validators=[InputRequired(_l("Choose at least one event."))],
    )
    personal = BooleanField(
        _l("Receives personal fields"),
        description=_l(
            "Names, email addresses, phone numbers, customer numbers and free-text "
            "answers and notes. Without this, payloads carry Karn's ids and codes."
        ),
    )
    allow_private = BooleanField(
        _l("Allow private and loopback addresses"),
        description=_l(
            "Only for a receiver inside your own network: otherwise Karn refuses "
            "to post to an address that is not on the internet."
        ),
    )
    enabled = BooleanField(_l("Switched on"), default=True)


def _endpoint_or_404(endpoint_id: int) -> WebhookEndpoint:
    return db.session.get(WebhookEndpoint, endpoint_id) or abort(404)


def _apply(form: EndpointForm, endpoint: WebhookEndpoint) -> dict:
    """Copy the form onto the endpoint; returns what changed, for the audit log."""
    changed = {}
    for name in ("url", "description", "events", "personal", "allow_private"):
        value = getattr(form, name).data
        if name == "description":
            value = (value or "").strip() or None
        if getattr(endpoint, name) != value:
            changed[name] = value
            setattr(endpoint, name, value)
    enabled = bool(form.enabled.data)
    if enabled != endpoint.enabled:
        changed["enabled"] = enabled
        endpoint.enabled = enabled
        if enabled:
            # Switched on again: the count of failures starts over.
            endpoint.failures = 0
            endpoint.disabled_at = endpoint.disabled_reason = None
    return changed


@bp.route("/", methods=["GET", "POST"])
@roles_required(*ADMINS)
def index():
    """The endpoints, and a form to add one."""
    form = EndpointForm()
    if form.validate_on_submit():
        endpoint = WebhookEndpoint(
            secret=new_secret(), created_by_id=current_user.id, failures=0
        )
        _apply(form, endpoint)
        endpoint.enabled = True
        db.session.add(endpoint)
        db.session.flush()
        audit.record(
            "webhook.create",
            endpoint,
            url=endpoint.url,
            events=endpoint.events,
            personal=endpoint.personal,
            allow_private=endpoint.allow_private,
        )
        db.session.commit()
        subscribers.invalidate()
        flash(
            _("The endpoint is added. Its signing secret is on this page."),
            "success",
        )
        return redirect(url_for(".endpoint", endpoint_id=endpoint.id))
    endpoints = db.session.scalars(
        sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id)
    ).all()
    counts = dict(
        db.session.execute(
            sa.select(WebhookDelivery.endpoint_id, sa.func.count())
            .where(WebhookDelivery.status.in_(("pending", "sending")))
            .group_by(WebhookDelivery.endpoint_id)
        ).all()
    )
    return render_template(
        "webhooks/index.html",
        form=form,
        endpoints=endpoints,
        waiting=counts,
        event_labels=EVENT_LABELS,
    )


@bp.route("/<int:endpoint_id>", methods=["GET", "POST"])
@roles_required(*ADMINS)
def endpoint(endpoint_id: int):
    """One endpoint: its settings, its secret and its delivery log."""
    hook = _endpoint_or_404(endpoint_id)
    form = EndpointForm(obj=hook)
    if form.validate_on_submit():
        changed = _apply(form, hook)
        if changed:
            audit.record("webhook.edit", hook, **changed)
            db.session.commit()
            subscribers.invalidate()
            flash(_("The endpoint is saved."), "success")
        return redirect(url_for(".endpoint", endpoint_id=hook.id))
    status = request.args.get("status")
    query = sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == hook.id)
    if status in STATUS_LABELS:
        query = query.where(WebhookDelivery.status == status)
    deliveries = db.session.scalars(
        query.order_by(WebhookDelivery.id.desc()).limit(LOG_SIZE)
    ).all()
    attempts: dict[int, list[WebhookAttempt]] = {}
    if deliveries:
        for attempt in db.session.scalars(
            sa.select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_([d.id for d in deliveries]))
            .order_by(WebhookAttempt.id)
        ):
            attempts.setdefault(attempt.delivery_id, []).append(attempt)
    return render_template(
        "webhooks/endpoint.html",
        hook=hook,
        form=form,
        deliveries=deliveries,
        attempts=attempts,
        status=status,
        status_labels=STATUS_LABELS,
        event_labels=EVENT_LABELS,
        confirm=ConfirmForm(),
    )


@bp.route("/<int:endpoint_id>/deliveries/<int:delivery_id>/resend", methods=["POST"])
@roles_required(*ADMINS)
def resend(endpoint_id: int, delivery_id: int):
    """Send a delivery again, with the same webhook-id."""
    hook = _endpoint_or_404(endpoint_id)
    item = db.session.get(WebhookDelivery, delivery_id)
    if item is None or item.endpoint_id != hook.id:
        abort(404)
    if ConfirmForm().validate_on_submit():
        if item.status in ("pending", "sending"):
            flash(_("This delivery is still on its way."), "info")
        elif item.status == "cancelled":
            flash(_("A cancelled delivery is not sent again."), "error")
        else:
            delivery.resend(item, current_user)
            db.session.commit()
            flash(_("The delivery will be sent again shortly."), "success")
    return redirect(url_for(".endpoint", endpoint_id=hook.id))


@bp.route("/<int:endpoint_id>/delete", methods=["POST"])
@roles_required(*ADMINS)
def delete(endpoint_id: int):
    """Remove an endpoint with its delivery log."""
    hook = _endpoint_or_404(endpoint_id)
    if ConfirmForm().validate_on_submit():
        audit.record("webhook.delete", hook, url=hook.url)
        db.session.delete(hook)
        db.session.commit()
        subscribers.invalidate()
        flash(_("The endpoint is removed."), "success")
    return redirect(url_for(".index"))


def disabled_endpoints() -> list[WebhookEndpoint]:
    """Endpoints Karn switched off after failures, for the admins' notice."""
    return db.session.scalars(
        sa.select(WebhookEndpoint)
        .where(
            WebhookEndpoint.enabled.is_(False),
            WebhookEndpoint.disabled_reason.is_not(None),
        )
        .order_by(WebhookEndpoint.id)
    ).all()
