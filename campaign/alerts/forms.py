"""Forms of the alert pages. Labels and messages are lazy, translated when rendered; every
validator carries its own message (WTForms' own catalog has no Tajik)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    Form,
    FormField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from campaign.alerts.models import BODY_MAX, PREHEADER_MAX, SUBJECT_MAX
from campaign.i18n import LOCALE_NAMES, LOCALES


class TextForm(Form):
    """One language's text (a sub-form: the outer form carries the CSRF token)."""

    subject = StringField(_l("Subject"), validators=[
        Length(max=SUBJECT_MAX, message=_l("At most %(max)d characters.", max=SUBJECT_MAX))])
    preheader = StringField(_l("Preheader (the line inboxes show after the subject)"),
                            validators=[Length(max=PREHEADER_MAX, message=_l(
                                "At most %(max)d characters.", max=PREHEADER_MAX))])
    body = TextAreaField(_l("Message (Markdown)"), validators=[
        Length(max=BODY_MAX, message=_l("At most %(max)d characters.", max=BODY_MAX))])


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AlertForm(FlaskForm):
    en = FormField(TextForm, label=LOCALE_NAMES["en"])
    ru = FormField(TextForm, label=LOCALE_NAMES["ru"])
    tg = FormField(TextForm, label=LOCALE_NAMES["tg"])
    case = SelectField(_l("The case this alert is about (optional)"), choices=[])
    audience = RadioField(_l("Who receives it"), default="all", choices=[
        SelectChoice("all", _l("Every active subscriber")),
        SelectChoice("cases", _l("Followers of the cases chosen below (and everyone who "
                                 "takes all alerts)")),
    ], validators=[InputRequired(message=_l("Choose who receives it."))])
    cases = MultiCheckboxField(_l("Cases whose followers receive it"), choices=[])
    languages = MultiCheckboxField(
        _l("Subscriber languages that receive it"), default=list(LOCALES),
        choices=[SelectChoice(code, LOCALE_NAMES[code], render_kw={"lang": code})
                 for code in LOCALES],
        validators=[InputRequired(message=_l("Choose at least one language."))])
    missing_rule = RadioField(_l("Subscribers whose language has no translation"),
                              default="english", choices=[
        SelectChoice("english", _l("get the English text")),
        SelectChoice("skip", _l("get nothing")),
    ], validators=[InputRequired(message=_l("Choose one."))])


class ActionForm(FlaskForm):
    """A button: only the CSRF token."""


class ScheduleForm(FlaskForm):
    when = DateTimeLocalField(_l("Send at (UTC)"), format="%Y-%m-%dT%H:%M", validators=[
        InputRequired(message=_l("Give a date and a time."))])


class SendTestForm(FlaskForm):
    locale = SelectField(_l("Language"), default="en", choices=[
        SelectChoice(c, LOCALE_NAMES[c], render_kw={"lang": c}) for c in LOCALES])
