"""Forms of the privacy pages."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length

MAX_NOTICE = 20_000


class NoticeForm(FlaskForm):
    """The privacy notice in both languages; empty restores the default text."""

    nl = TextAreaField(
        _l("Dutch text"),
        description=_l(
            "Blank lines separate paragraphs. {company}, {months} and {days} are "
            "filled in. Leave empty for the default text."
        ),
        validators=[Length(max=MAX_NOTICE)],
        render_kw={"rows": 18, "lang": "nl"},
    )
    en = TextAreaField(
        _l("English text"),
        validators=[Length(max=MAX_NOTICE)],
        render_kw={"rows": 18, "lang": "en"},
    )
