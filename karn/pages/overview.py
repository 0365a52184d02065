"""The front page, the overview, and the health check."""

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from karn.accounts.security import ALL_ROLES, roles_required
from karn.customers.models import Customer
from karn.enums import CallTaskStatus, InvitationStatus
from karn.extensions import db
from karn.models import CallTask, Invitation, Response

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
    return render_template("core/overview.html", figures=figures)


@bp.route("/healthz")
def health():
    """A check for load balancers: the app answers and the database too."""
    db.session.execute(sa.text("SELECT 1"))
    return {"status": "ok"}
