"""Forms for signing in, managing users, one's own account and API keys."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import Email, EqualTo, InputRequired, Length, Optional

from karn.accounts.security import MIN_PASSWORD_LENGTH


def role_choices():
    return [
        SelectChoice("staff", _l("Staff: call list and call notes")),
        SelectChoice(
            "manager", _l("Manager: analysis, actions, call lists, customers")
        ),
        SelectChoice("admin", _l("Administrator: everything, users and settings")),
    ]


def language_choices():
    return [SelectChoice("nl", "Nederlands"), SelectChoice("en", "English")]


class LoginForm(FlaskForm):
    email = EmailField(
        _l("Email address"), validators=[InputRequired(), Length(max=254)]
    )
    password = PasswordField(_l("Password"), validators=[InputRequired()])
    remember = BooleanField(_l("Keep me signed in on this device"))


class UserForm(FlaskForm):
    email = EmailField(
        _l("Email address"), validators=[InputRequired(), Email(), Length(max=254)]
    )
    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=200)])
    role = SelectField(_l("Role"), choices=role_choices)
    language = SelectField(_l("Language"), choices=language_choices)
    active = BooleanField(_l("Active (may sign in)"), default=True)
    password = PasswordField(
        _l("New password"),
        description=_l(
            "Leave empty to keep the current one or, for a new user, to generate one."
        ),
        validators=[Optional(), Length(min=MIN_PASSWORD_LENGTH)],
    )


class UserEditForm(UserForm):
    """The user form without the email address, which identifies the account."""

    email = None


class AccountForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=200)])
    language = SelectField(_l("Language"), choices=language_choices)


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[InputRequired()])
    new = PasswordField(
        _l("New password"),
        validators=[InputRequired(), Length(min=MIN_PASSWORD_LENGTH)],
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[
            InputRequired(),
            EqualTo("new", message=_l("The two passwords differ.")),
        ],
    )


class ApiKeyForm(FlaskForm):
    name = StringField(
        _l("Name"),
        description=_l("What will use this key, e.g. 'CRM export' or 'billing'."),
        validators=[InputRequired(), Length(max=100)],
    )


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF token, for buttons that change state."""
