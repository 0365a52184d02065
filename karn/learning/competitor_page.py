"""The administrators' competitor list: names and aliases that tag brand.

It sits on the dashboard's blueprint (imported by ``karn.learning.views``).
Saving a changed list stores it under the next version; the worker then tags
the stored answers, notes and CRM comments again (``retag.run_retag_job``).
"""

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length, ValidationError

from karn.accounts import audit
from karn.accounts.security import ADMINS, roles_required
from karn.analysis.views import bp
from karn.extensions import db
from karn.learning import retag
from karn.text import competitor_store


def _valid_list(form, field):
    try:
        competitor_store.parse_lines(field.data or "")
    except ValueError as exc:
        raise ValidationError(
            _(
                "At most %(companies)s companies with %(aliases)s aliases each.",
                companies=competitor_store.MAX_COMPANIES,
                aliases=competitor_store.MAX_ALIASES,
            )
        ) from exc


class CompetitorForm(FlaskForm):
    companies = TextAreaField(
        _l("Competitors"),
        description=_l(
            "One company a line: its name, then any other names people use "
            "for it, separated by commas (e.g. Klaverweb, Klaver, KW)."
        ),
        validators=[Length(max=50_000), _valid_list],
        render_kw={"rows": 12},
    )


@bp.route("/competitors", methods=["GET", "POST"])
@roles_required(*ADMINS)
def competitors():
    """Names and aliases of competitors; comments naming one are tagged brand."""
    form = CompetitorForm()
    listed = competitor_store.stored()
    if not form.is_submitted():
        form.companies.data = competitor_store.as_lines(listed)
    if form.validate_on_submit():
        companies = competitor_store.parse_lines(form.companies.data or "")
        version = competitor_store.save(companies, current_user.id)
        if version is None:
            flash(_("Nothing changed."), "success")
        else:
            audit.record(
                "settings.competitors",
                version=version,
                companies=[c["name"] for c in companies],
            )
            db.session.commit()
            flash(
                _(
                    "The competitor list is saved. Stored comments are tagged "
                    "again in the background."
                ),
                "success",
            )
        return redirect(url_for("analysis.competitors"))
    waiting = None
    if listed.version != competitor_store.retagged_version():
        waiting = sum(retag.remaining(competitors=listed.version).values())
    return render_template(
        "learning/competitors.html", form=form, listed=listed, waiting=waiting
    )
