"""The route behind the tag correction form (`analysis/_tag_correction.html`).

It sits on the dashboard's blueprint, where the form is shown; the app imports
this module before it registers that blueprint.
"""

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from karn.accounts.security import ALL_ROLES, local_path, roles_required
from karn.analysis.views import bp
from karn.callbacks.models import CallNote
from karn.extensions import db
from karn.learning import (
    competitor_page,  # noqa: F401  (its route, on bp)
    corrections,
)
from karn.learning.corrections import CorrectionError
from karn.surveys.models import Answer, Response

ERRORS = {
    "sentiment": _l("Choose a tone from the list: negative, neutral or positive."),
    "reason": _l("Choose a reason from the list."),
    "empty": _l("Choose a tone or a reason."),
    "no_text": _l("There is no text to tag here."),
}


def _fallback(row) -> str:
    """The customer's page the answer or note belongs to."""
    customer_id = None
    if isinstance(row, Answer):
        customer_id = db.session.get(Response, row.response_id).customer_id
    elif isinstance(row, CallNote):
        customer_id = row.customer_id
    if customer_id is None:
        return url_for("core.index")
    return url_for("customers.show", customer_id=customer_id)


def _safe_next(target: str | None, fallback: str) -> str:
    # Only paths on this site: no open redirect through the form.
    return local_path(target) or fallback


@bp.app_template_global("tag_correction")
def tag_correction(kind: str, target_id: int):
    """The last correction of an answer or note, for "corrected by ... on ..."."""
    return corrections.latest(kind, target_id)


@bp.route("/tags/<kind>/<int:target_id>", methods=["POST"])
@roles_required(*ALL_ROLES)
def correct_tags(kind: str, target_id: int):
    """Correct the sentiment and/or reason tag of an answer or a call note."""
    if kind not in corrections.KINDS:
        abort(404, description=_("Tags can be corrected on answers and notes only."))
    try:
        row = corrections.target(kind, target_id)
    except CorrectionError:
        abort(404)
    back = _safe_next(request.form.get("next"), _fallback(row))
    try:
        correction = corrections.correct(
            kind,
            target_id,
            current_user,
            sentiment=request.form.get("sentiment"),
            reason=request.form.get("reason"),
        )
    except CorrectionError as exc:
        db.session.rollback()
        flash(str(ERRORS.get(exc.code, exc.code)), "error")
        return redirect(back)
    db.session.commit()
    if correction is None:
        flash(_("Nothing changed."), "success")
    else:
        flash(_("Tags corrected. Re-tagging leaves them as they are now."), "success")
    return redirect(back)
