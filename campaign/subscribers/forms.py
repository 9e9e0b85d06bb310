"""Forms of the supporter's pages. Labels are lazy: translated when rendered."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from campaign.addresses import AddressError, normalise
from campaign.i18n import LOCALE_NAMES
from campaign.subscribers.services import NAME_MAX
from campaign.text import strip_controls

ADDRESS_ERRORS = {
    "empty": _l("Please enter your email address."),
    "too_long": _l("This email address is too long."),
    "invalid": _l("This does not look like an email address. Please check it."),
    "smtputf8": _l("Addresses with non-Latin letters before the @ are not supported yet."),
    "control": _l("The address contains characters that are not allowed."),
}


def valid_address(form: FlaskForm, field: EmailField) -> None:
    try:
        normalise(field.data or "")
    except AddressError as exc:
        raise ValidationError(str(ADDRESS_ERRORS.get(exc.code, ADDRESS_ERRORS["invalid"]))) from exc


def no_control_characters(form: FlaskForm, field: StringField) -> None:
    value = field.data or ""
    if strip_controls(value) != " ".join(value.split()):
        raise ValidationError(str(_l("Please remove the invisible or control characters.")))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def language_choices() -> list[SelectChoice]:
    return [SelectChoice(code, name, render_kw={"lang": code})
            for code, name in LOCALE_NAMES.items()]


class FollowMixin:
    scope = RadioField(
        _l("What would you like to receive?"),
        choices=[SelectChoice("all", _l("All alerts")),
                 SelectChoice("cases", _l("Only news about the cases I choose"))],
        default="all",
        validators=[InputRequired()],
    )
    cases = MultiCheckboxField(_l("Cases to follow"), coerce=int, choices=[],
                               validate_choice=True)


class SubscribeForm(FollowMixin, FlaskForm):
    email = EmailField(_l("Email address"),
                       validators=[DataRequired(message=_l("Please enter your email address.")),
                                   Length(max=254), valid_address],
                       render_kw={"autocomplete": "email", "spellcheck": "false"})
    name = StringField(_l("Your name (optional)"),
                       validators=[Optional(), Length(max=NAME_MAX), no_control_characters],
                       render_kw={"autocomplete": "name"})
    language = SelectField(_l("Language of the alerts"), choices=language_choices())
    consent = BooleanField(
        _l("I agree to receive email alerts from this campaign. My address is kept encrypted, "
           "used for nothing else and never shared; I can leave at any time."),
        validators=[DataRequired(message=_l("Please tick the box to agree, or we cannot "
                                            "send you alerts."))],
    )
    # A honeypot: hidden from people (and from screen readers); bots fill it in.
    website = StringField(_l("Leave this field empty"), render_kw={
        "tabindex": "-1", "autocomplete": "off"})

    def validate_cases(self, field: MultiCheckboxField) -> None:
        if self.scope.data == "cases" and not field.data:
            raise ValidationError(str(_l("Choose at least one case, or choose all alerts.")))


class PreferencesForm(FollowMixin, FlaskForm):
    name = StringField(_l("Your name (optional)"),
                       validators=[Optional(), Length(max=NAME_MAX), no_control_characters])
    language = SelectField(_l("Language of the alerts"), choices=language_choices())
    paused = BooleanField(_l("Pause all mail for now"))
    discreet = BooleanField(
        _l("Discreet mode: a neutral sender name and subject lines that name no case"))

    def validate_cases(self, field: MultiCheckboxField) -> None:
        if self.scope.data == "cases" and not field.data:
            raise ValidationError(str(_l("Choose at least one case, or choose all alerts.")))


class EmailOnlyForm(FlaskForm):
    email = EmailField(_l("Email address"),
                       validators=[DataRequired(message=_l("Please enter your email address.")),
                                   Length(max=254), valid_address],
                       render_kw={"autocomplete": "email", "spellcheck": "false"})


class ConfirmForm(FlaskForm):
    """Only a button: the POST confirms, so link scanners confirm nothing."""


class ActionForm(FlaskForm):
    """A button for one action on the preferences page (unsubscribe, export, erase)."""


class EraseForm(FlaskForm):
    sure = BooleanField(_l("Yes, erase everything you hold about me"),
                        validators=[DataRequired(message=_l("Please tick the box to confirm."))])
