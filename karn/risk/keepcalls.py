"""Planning keep calls from the at-risk page: the chosen customers, or the top
N by revenue at risk under the page's filters, drawn into called and held back.

Sits on the at-risk page's blueprint (karn.app imports it before registering).
"""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from karn.accounts.security import MANAGERS, roles_required
from karn.customers.models import Customer
from karn.experiments import keepcalls
from karn.experiments.operations import ExperimentError
from karn.extensions import db
from karn.risk.views import _filters, _query, bp, rank_order


def _chosen() -> list[int]:
    """Customer ids from the ticked boxes, or the top N under the filters."""
    if request.form.get("mode") == "top":
        top = request.form.get("top", type=int) or 0
        if not 1 <= top <= keepcalls.MAX_PLANNED:
            return []
        query = _query(_filters(), Customer.id).order_by(*rank_order())
        return list(db.session.scalars(query.limit(top)))
    ids = {int(v) for v in request.form.getlist("customer") if v.isdigit()}
    return sorted(ids)[: keepcalls.MAX_PLANNED + 1]


@bp.post("/keep-calls")
@roles_required(*MANAGERS)
def plan_keep_calls():
    """Put a random share of the chosen customers on the call list, hold the rest."""
    back = url_for("risk.index", **_filters())
    ids = _chosen()
    try:
        plan = keepcalls.plan(ids, current_user)
    except ExperimentError:
        flash(
            _(
                "Choose between 1 and %(most)s customers to plan keep calls for.",
                most=keepcalls.MAX_PLANNED,
            ),
            "error",
        )
        return redirect(back)
    db.session.commit()
    if plan.already:
        names = ", ".join(
            c.name or c.external_id or str(c.id) for c in plan.already[:10]
        )
        flash(
            ngettext(
                "%(num)s customer is in an open keep-call experiment already and "
                "was left out: %(names)s.",
                "%(num)s customers are in an open keep-call experiment already "
                "and were left out: %(names)s.",
                len(plan.already),
                names=names + ("…" if len(plan.already) > 10 else ""),
            ),
            "error",
        )
    skipped = []
    if plan.no_phone:
        skipped.append(
            ngettext(
                "%(num)s without a phone number",
                "%(num)s without a phone number",
                plan.no_phone,
            )
        )
    if plan.on_call_list:
        skipped.append(
            ngettext(
                "%(num)s on the call list already",
                "%(num)s on the call list already",
                plan.on_call_list,
            )
        )
    if plan.not_active:
        skipped.append(
            ngettext(
                "%(num)s no longer a customer",
                "%(num)s no longer customers",
                plan.not_active,
            )
        )
    if skipped:
        flash(_("Left out: %(list)s.", list="; ".join(skipped)), "error")
    if plan.experiment is None:
        return redirect(back)
    flash(
        _(
            "Keep calls planned: %(treated)s on the call list, %(held)s held back "
            "as the control group.",
            treated=plan.treated,
            held=plan.held_back,
        ),
        "success",
    )
    return redirect(url_for("experiments.show", experiment_id=plan.experiment.id))
