"""Forms of the organisers' action pages. Labels are lazy; every validator carries its own
message from our catalog. The targets table is parsed from ``mode-<target>`` fields (one per
row of the directory); the service decides what each target's policy allows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    Form,
    FormField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from campaign.actions.models import (
    BODY_MAX,
    INTRO_MAX,
    REFERENCE_MAX,
    SLUG_MAX,
    SUBJECT_MAX,
    TITLE_MAX,
    VARIANTS_MAX,
)
from campaign.actions.services import TargetChoice, TextFields, VariantFields
from campaign.i18n import LOCALES
from campaign.subscribers.forms import MultiCheckboxField

TOO_LONG = _l("This is too long: at most %(max)d characters.")
BAD_DATE = _l("Please enter a date and time such as 2026-12-01 09:00.")


def _long(limit: int) -> Length:
    return Length(max=limit, message=TOO_LONG)


class LetterTextForm(Form):
    """One language's column of the three-language editor."""

    title = StringField(_l("Title"), validators=[_long(TITLE_MAX)])
    introduction = TextAreaField(_l("Introduction (Markdown)"), validators=[_long(INTRO_MAX)],
                                 render_kw={"rows": 6})
    subject_0 = StringField(_l("Subject, wording 1"), validators=[_long(SUBJECT_MAX)])
    body_0 = TextAreaField(_l("Letter, wording 1"), validators=[_long(BODY_MAX)],
                           render_kw={"rows": 14})
    subject_1 = StringField(_l("Subject, wording 2"), validators=[_long(SUBJECT_MAX)])
    body_1 = TextAreaField(_l("Letter, wording 2"), validators=[_long(BODY_MAX)],
                           render_kw={"rows": 14})
    subject_2 = StringField(_l("Subject, wording 3"), validators=[_long(SUBJECT_MAX)])
    body_2 = TextAreaField(_l("Letter, wording 3"), validators=[_long(BODY_MAX)],
                           render_kw={"rows": 14})

    def values(self) -> TextFields:
        variants = [VariantFields(getattr(self, f"subject_{i}").data or "",
                                  getattr(self, f"body_{i}").data or "")
                    for i in range(VARIANTS_MAX)]
        return TextFields(self.title.data or "", self.introduction.data or "", variants)


class ActionForm(FlaskForm):
    slug = StringField(_l("Address part (after /actions/)"),
                       validators=[DataRequired(message=_l("Please fill in this field.")),
                                   _long(SLUG_MAX)])
    goal = IntegerField(_l("Goal: number of letters (optional)"),
                        validators=[Optional(), NumberRange(min=1, max=10_000_000)])
    opens_at = DateTimeLocalField(_l("Opens (UTC, optional)"), format="%Y-%m-%dT%H:%M",
                                  validators=[Optional()], invalid_value_message=BAD_DATE)
    closes_at = DateTimeLocalField(_l("Closes (UTC, optional)"), format="%Y-%m-%dT%H:%M",
                                   validators=[Optional()], invalid_value_message=BAD_DATE)
    cases = MultiCheckboxField(_l("Cases"), coerce=int, choices=[], validate_choice=True)
    en = FormField(LetterTextForm)
    ru = FormField(LetterTextForm)
    tg = FormField(LetterTextForm)

    def texts(self) -> dict[str, TextFields]:
        return {code: getattr(self, code).form.values() for code in LOCALES}

    @staticmethod
    def utc(value: dt.datetime | None) -> dt.datetime | None:
        return value.replace(tzinfo=dt.UTC) if value is not None else None


def target_choices(form: Mapping[str, str]) -> list[TargetChoice]:
    """The rows of the targets table that name a delivery mode, in the page's order."""
    choices = []
    for key in form:
        if not key.startswith("mode-") or not form.get(key):
            continue
        pid = key.removeprefix("mode-")
        locale = form.get(f"lang-{pid}") or None
        choices.append(TargetChoice(target_public_id=pid, mode=form[key],
                                    digest_period=form.get(f"period-{pid}") or None,
                                    letter_locale=locale))
    return choices


class ReplyForm(FlaskForm):
    date = DateField(_l("Date of the reply"), validators=[Optional()],
                     invalid_value_message=_l("Please enter a date as YYYY-MM-DD."))
    reference = StringField(_l("Reference"), validators=[_long(REFERENCE_MAX)])


class ReviewForm(FlaskForm):
    decision = SelectField(choices=[SelectChoice("delivered", _l("It arrived")),
                                    SelectChoice("resend", _l("Send it again")),
                                    SelectChoice("failed", _l("Give it up"))])


class ButtonForm(FlaskForm):
    """A button (publish, approve, export): only the CSRF token."""
