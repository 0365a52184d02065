"""The calling hours page: when staff call, so tasks Karn adds are due then."""

from babel.dates import get_day_names
from flask import flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectMultipleField, TimeField, widgets
from wtforms.validators import InputRequired, ValidationError

from karn import settings
from karn.accounts import audit
from karn.accounts.security import ADMINS, roles_required
from karn.callbacks import hours
from karn.extensions import db


class _Checkboxes(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _day_names() -> dict[int, str]:
    """ISO weekday -> its name in the reader's language."""
    names = get_day_names("wide", locale=get_locale() or "en")
    return {day: names[day - 1] for day in hours.WEEKDAYS}


def days_text(days) -> str:
    """(1, 2, 3, 4, 5) -> "Monday–Friday"; runs of three or more days shortened."""
    names = _day_names()
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(
        f"{names[run[0]]}–{names[run[-1]]}"
        if len(run) > 2
        else ", ".join(names[d] for d in run)
        for run in runs
    )


class HoursForm(FlaskForm):
    start = TimeField(_l("Calls from"), validators=[InputRequired(_l("Give a time."))])
    end = TimeField(_l("Calls until"), validators=[InputRequired(_l("Give a time."))])
    days = _Checkboxes(_l("Calling days"), choices=[], coerce=int)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.days.choices = [SelectChoice(d, n) for d, n in _day_names().items()]

    def validate_end(self, field):
        if self.start.data and field.data and field.data <= self.start.data:
            raise ValidationError(_("The end lies before the start."))

    def validate_days(self, field):
        if not field.data:
            raise ValidationError(_("Choose at least one day."))


@roles_required(*ADMINS)
def calling_hours():
    """When staff call: tasks Karn adds by itself are due in these hours."""
    current = hours.current()
    form = HoursForm(
        formdata=request.form if request.method == "POST" else None,
        start=current.start,
        end=current.end,
        days=list(current.days),
    )
    if request.method == "POST" and form.validate():
        values = {
            "CALL_HOURS_START": form.start.data.strftime("%H:%M"),
            "CALL_HOURS_END": form.end.data.strftime("%H:%M"),
            "CALL_DAYS": ",".join(str(d) for d in sorted(form.days.data)),
        }
        settings.save(values, current_user.id)
        audit.record("settings.calling_hours", **values)
        db.session.commit()
        flash(_("Calling hours saved."), "success")
        return redirect(url_for("calls.index"))
    page = render_template(
        "callbacks/hours.html", form=form, zone=settings.get("TIMEZONE")
    )
    return page, 422 if request.method == "POST" else 200
