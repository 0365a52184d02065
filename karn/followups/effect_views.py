"""The effect of follow-ups and campaigns: every one with its verdict, and one
in detail."""

from flask import Blueprint, abort, render_template
from flask_babel import get_locale

from karn.accounts.security import MANAGERS, roles_required
from karn.enums import ExperimentKind
from karn.experiments.draws import csv_response
from karn.followups import campaigns, effect

bp = Blueprint("effect", __name__)


@bp.get("/effect")
@roles_required(*MANAGERS)
def index():
    """Every follow-up and campaign, newest first, each with its verdict."""
    lang = str(get_locale())
    results = [effect.measure(e, lang) for e in effect.experiments()]
    return render_template("followups/effect_index.html", results=results)


@bp.get("/effect/<int:experiment_id>")
@roles_required(*MANAGERS)
def experiment(experiment_id: int):
    """One follow-up or campaign: both groups, the difference, what it says."""
    found = effect.get(experiment_id) or abort(404)
    result = effect.measure(found, str(get_locale()))
    return render_template(
        "followups/effect_show.html",
        result=result,
        e=found,
        campaign=campaigns.for_experiment(found.id),
    )


@bp.get("/effect/<int:experiment_id>/draws.csv")
@roles_required(*MANAGERS)
def draws(experiment_id: int):
    """Every draw of a follow-up or campaign with its group."""
    found = effect.get(experiment_id) or abort(404)
    name = "campaign" if found.kind == ExperimentKind.CAMPAIGN else "follow-up"
    return csv_response(found, name)
