"""The front page, the overview, and the health check."""

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from karn import settings
from karn.accounts.models import AuditEntry
from karn.accounts.security import ADMINS, ALL_ROLES, MANAGERS, roles_required
from karn.customers.models import Customer
from karn.enums import CallTaskStatus, InvitationStatus
from karn.extensions import db
from karn.models import CallTask, Invitation, Response
from karn.surveys import outbox

bp = Blueprint("core", __name__)


@bp.route("/")
def index():
    """Send visitors to sign in, and signed-in users to the overview."""
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login"))
    return redirect(url_for("core.overview"))


@bp.route("/overview")
@roles_required(*ALL_ROLES)
def overview():
    """The numbers at a glance: departures, invitations, responses, open calls."""
    count = sa.func.count
    figures = {
        "customers": db.session.scalar(sa.select(count(Customer.id))),
        "invited": db.session.scalar(
            sa.select(count(Invitation.id)).where(Invitation.sent_at.is_not(None))
        ),
        "waiting": db.session.scalar(
            sa.select(count(Invitation.id)).where(
                Invitation.status == InvitationStatus.SCHEDULED
            )
        ),
        "responses": db.session.scalar(
            sa.select(count(Response.id)).where(Response.submitted_at.is_not(None))
        ),
        "open_calls": db.session.scalar(
            sa.select(count(CallTask.id)).where(CallTask.status == CallTaskStatus.OPEN)
        ),
    }
    return render_template(
        "core/overview.html", figures=figures, steps=first_run_steps(figures)
    )


# Audit entries that show a person has worked on the survey (the survey
# `flask surveys init` publishes has none).
SURVEY_WORK = ("survey.draft", "survey.publish", "survey.default_update")


def first_run_steps(figures: dict) -> list[dict] | None:
    """What a new installation still needs, for those who can do it: the
    customers, a look at the survey, a mail server. Each step is done when
    it is true; None once all are, and for staff."""
    role = current_user.role.value
    if role not in MANAGERS:
        return None
    survey_checked = settings.noted(settings.SURVEY_CHECKED) or bool(
        db.session.scalar(
            sa.select(AuditEntry.id)
            .where(AuditEntry.action.in_(SURVEY_WORK), AuditEntry.user_id.is_not(None))
            .limit(1)
        )
    )
    steps = [
        {
            "key": "customers",
            "done": figures["customers"] > 0,
            "title": _l("Import the customers who left"),
            "hint": _l(
                "Upload a CSV file from the customer system, or connect Stripe "
                "or the API; Karn invites each departed customer to the survey."
            ),
            "url": url_for("customers.import_upload"),
        },
        {
            "key": "survey",
            "done": survey_checked,
            "title": _l("Check the survey"),
            "hint": _l(
                "Read the questions and open the preview, as customers see it, "
                "in Dutch and English; change what your customers would put "
                "differently."
            ),
            "url": url_for("editor.index"),
        },
        {
            "key": "mail",
            "done": outbox.mail_configured(),
            "title": _l("Configure mail"),
            "hint": _l(
                "Set KARN_MAIL_SERVER (and its port, user and password) and "
                "restart Karn. Until then invitations wait in the outbox."
            ),
            "url": url_for("delivery.outbox_list") if role in ADMINS else None,
        },
    ]
    return None if all(step["done"] for step in steps) else steps


@bp.route("/healthz")
def health():
    """A check for load balancers: the app answers and the database too."""
    db.session.execute(sa.text("SELECT 1"))
    return {"status": "ok"}
