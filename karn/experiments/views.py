"""Keep-call experiments: the list, and one experiment's result in plain words."""

from flask import Blueprint, abort, render_template
from flask_babel import get_locale

from karn.accounts.security import MANAGERS, roles_required
from karn.enums import ExperimentKind
from karn.experiments import keepcalls
from karn.experiments.draws import csv_response
from karn.experiments.models import Experiment
from karn.extensions import db

bp = Blueprint("experiments", __name__, url_prefix="/keep-calls")


def _experiment(experiment_id: int) -> Experiment:
    experiment = db.session.get(Experiment, experiment_id)
    if experiment is None or experiment.kind != ExperimentKind.KEEP_CALL:
        abort(404)
    return experiment


@bp.get("/")
@roles_required(*MANAGERS)
def index():
    """Every keep-call experiment with its verdict in one sentence."""
    lang = str(get_locale())
    results = [keepcalls.measure(e, lang) for e in keepcalls.experiments()]
    return render_template("experiments/index.html", results=results)


@bp.get("/<int:experiment_id>")
@roles_required(*MANAGERS)
def show(experiment_id: int):
    """One keep-call experiment: both groups, the difference, and what it says."""
    experiment = _experiment(experiment_id)
    result = keepcalls.measure(experiment, str(get_locale()))
    return render_template("experiments/show.html", result=result, e=experiment)


@bp.get("/<int:experiment_id>/draws.csv")
@roles_required(*MANAGERS)
def draws(experiment_id: int):
    """Every draw with its group, so anyone can check the assignment."""
    return csv_response(_experiment(experiment_id), "keep-calls")
