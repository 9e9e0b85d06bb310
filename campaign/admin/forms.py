"""Forms of the admin pages. Labels are lazy: they are translated when rendered."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from campaign.admin.models import Role
from campaign.admin.services import PASSWORD_MAX, PASSWORD_MIN
from campaign.i18n import LOCALE_NAMES


class LoginForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=PASSWORD_MAX)])


class CodeForm(FlaskForm):
    code = StringField(
        _l("Six-digit code from your authenticator app"),
        validators=[DataRequired(), Length(min=6, max=8)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class SecondFactorForm(FlaskForm):
    """The sign-in and re-confirmation step: a TOTP code, or one of the recovery codes."""

    code = StringField(
        _l("Six-digit code from your authenticator app, or a recovery code"),
        validators=[DataRequired(), Length(min=6, max=32)],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "off",
                   "spellcheck": "false"},
    )


class ResetRequestForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=254)])


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    action = SelectField(lazy_pgettext("audit log", "Event"), choices=[], validate_choice=False)


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    new = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=PASSWORD_MIN, max=PASSWORD_MAX)],
        render_kw={"autocomplete": "new-password"},
    )
    repeat = PasswordField(
        _l("New password, again"),
        validators=[DataRequired(), EqualTo("new", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )


class SetPasswordForm(FlaskForm):
    new = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=PASSWORD_MIN, max=PASSWORD_MAX)],
        render_kw={"autocomplete": "new-password"},
    )
    repeat = PasswordField(
        _l("New password, again"),
        validators=[DataRequired(), EqualTo("new", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )


ROLE_CHOICES = [
    SelectChoice(Role.ORGANISER.value, _l("Organiser")),
    SelectChoice(Role.TRANSLATOR.value, _l("Translator")),
    SelectChoice(Role.VIEWER.value, _l("Viewer")),
    SelectChoice(Role.ADMIN.value, _l("Administrator")),
]


ROLE_LABELS = {choice.value: choice.label for choice in ROLE_CHOICES}


def language_choices() -> list[SelectChoice]:
    """Each language named in itself, marked with its own ``lang`` for screen readers."""
    return [
        SelectChoice(code, name, render_kw={"lang": code}) for code, name in LOCALE_NAMES.items()
    ]


class InviteForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=254)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default=Role.ORGANISER.value)
    locale = SelectField(
        _l("Language of the invitation"),
        choices=language_choices(),
        default="en",
    )


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
