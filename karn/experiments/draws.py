"""Every draw of an experiment as CSV, so anyone can check the assignment:
keep calls, follow-ups and campaigns alike."""

import csv
import io

import sqlalchemy as sa
from flask import Response
from flask_babel import gettext as _

from karn.experiments.models import Assignment, Experiment
from karn.extensions import db


def csv_response(experiment: Experiment, name: str) -> Response:
    """The draws, one row per person, ordered by customer; ``name`` starts
    the file name (``keep-calls``, ``follow-up``, ``campaign``). The group is
    its code (``treated``, ``held_back``), as a program reading the file
    expects."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [_("Customer id"), _("Random draw"), _("Group"), _("Drawn at"), _("Until")]
    )
    for a in db.session.scalars(
        sa.select(Assignment)
        .where(Assignment.experiment_id == experiment.id)
        .order_by(Assignment.customer_id)
    ):
        writer.writerow(
            [
                a.customer_id,
                repr(a.draw),
                a.group.value,
                a.assigned_at.isoformat(),
                a.ends_at.isoformat(),
            ]
        )
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": (
                f"attachment; filename={name}-{experiment.id}-draws.csv"
            )
        },
    )
