"""Forms of the case admin pages. Labels and messages are lazy, translated when rendered.

Every validator carries its own message from our catalog (WTForms' own catalog has no Tajik).
A translator gets the ``*TranslationForm`` variants, which hold only the ru and tg fields.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    Form,
    FormField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, ValidationError

from campaign.cases.inputs import (
    CONSENT_NOTE_MAX,
    NOTE_MAX,
    CaseError,
    CaseFields,
    CaseTextFields,
    Source,
    UpdateTextFields,
    check_source,
)
from campaign.cases.labels import STATUS_LABELS
from campaign.cases.models import (
    ALIASES_MAX,
    BODY_MAX,
    FACT_MAX,
    NAME_MAX,
    SUMMARY_MAX,
    TITLE_MAX,
    URL_MAX,
    Case,
    CaseStatus,
    CaseUpdate,
    TimelineEntry,
)
from campaign.i18n import LOCALES

REQUIRED = _l("Please fill in this field.")
TOO_LONG = _l("This is too long: at most %(max)d characters.")
BAD_DATE = _l("Please enter a date as YYYY-MM-DD, for example 2022-05-18.")
BAD_STATUS = _l("Please choose one of the statuses in the list.")
SOURCES_MAX = 20


def _long(limit: int) -> Length:
    return Length(max=limit, message=TOO_LONG)


def _status_choices() -> list[tuple[str, Any]]:
    return [(status.value, STATUS_LABELS[status.value]) for status in CaseStatus]


def _check_status(form: Any, field: SelectField) -> None:
    if field.data not in set(CaseStatus):
        raise ValidationError(str(BAD_STATUS))


def _date_field(label: Any) -> DateField:
    return DateField(label, validators=[DataRequired(message=BAD_DATE)],
                     invalid_value_message=BAD_DATE)


def lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class CaseTextForm(Form):
    """One language's text of a case (a column of the three-column editor)."""

    summary = TextAreaField(_l("Summary (Markdown)"), validators=[_long(SUMMARY_MAX)],
                            render_kw={"rows": 10})
    detention_place = TextAreaField(_l("Place of detention"), validators=[_long(FACT_MAX)],
                                    render_kw={"rows": 2})
    charges = TextAreaField(_l("Charges"), validators=[_long(FACT_MAX)], render_kw={"rows": 3})
    sentence = TextAreaField(_l("Sentence"), validators=[_long(FACT_MAX)],
                             render_kw={"rows": 2})

    def values(self) -> CaseTextFields:
        return CaseTextFields(
            summary=self.summary.data or "",
            detention_place=self.detention_place.data or "",
            charges=self.charges.data or "",
            sentence=self.sentence.data or "",
        )


class CaseTranslationForm(FlaskForm):
    ru = FormField(CaseTextForm)
    tg = FormField(CaseTextForm)

    def texts(self) -> dict[str, CaseTextFields]:
        return {code: getattr(self, code).form.values()
                for code in ("en", "ru", "tg") if hasattr(self, code)}


class CaseForm(CaseTranslationForm):
    name_en = StringField(_l("Name in Latin letters"),
                          validators=[DataRequired(message=REQUIRED), _long(NAME_MAX)])
    name_tg = StringField(_l("Name in Tajik (Cyrillic)"), validators=[_long(NAME_MAX)])
    name_ru = StringField(_l("Name in Russian"), validators=[_long(NAME_MAX)])
    aliases = TextAreaField(_l("Other spellings, one per line"),
                            validators=[_long(ALIASES_MAX)], render_kw={"rows": 3})
    status = SelectField(_l("Current status"), choices=_status_choices, validate_choice=False,
                         validators=[_check_status])
    sources = TextAreaField(
        _l("Sources, one per line: the address, a space, then the title"),
        validators=[_long(SOURCES_MAX * (URL_MAX + TITLE_MAX))], render_kw={"rows": 4},
    )
    en = FormField(CaseTextForm)

    def validate_sources(self, field: TextAreaField) -> None:
        found = lines(field.data)
        if len(found) > SOURCES_MAX:
            raise ValidationError(_("At most %(max)d sources.", max=SOURCES_MAX))
        for number, line in enumerate(found, start=1):
            url, _space, title = line.partition(" ")
            try:
                check_source(Source(url=url, title=title.strip()))
            except CaseError as exc:
                raise ValidationError(_(
                    "Line %(line)d: a source must start with an address beginning with "
                    "http:// or https://, followed by its title (at most %(max)d characters).",
                    line=number, max=TITLE_MAX)) from exc

    def case_fields(self) -> CaseFields:
        return CaseFields(
            name_en=self.name_en.data or "",
            name_tg=self.name_tg.data or "",
            name_ru=self.name_ru.data or "",
            aliases=tuple(lines(self.aliases.data)),
            status=self.status.data or CaseStatus.DETAINED.value,
        )

    def source_list(self) -> list[Source]:
        result = []
        for line in lines(self.sources.data):
            url, _space, title = line.partition(" ")
            result.append(Source(url=url, title=title.strip()))
        return result


class ConsentForm(FlaskForm):
    given = BooleanField(_l("The family consents to publication of this case"))
    note = StringField(
        _l("How consent was given (no names or contacts of relatives)"),
        validators=[_long(CONSENT_NOTE_MAX)],
    )


class PublishForm(FlaskForm):
    published = HiddenField()


class DeleteForm(FlaskForm):
    """Only the CSRF token: the button says what it deletes."""


class TimelineTranslationForm(FlaskForm):
    note_ru = TextAreaField(_l("Note in Russian"), validators=[_long(NOTE_MAX)],
                            render_kw={"rows": 2, "lang": "ru"})
    note_tg = TextAreaField(_l("Note in Tajik"), validators=[_long(NOTE_MAX)],
                            render_kw={"rows": 2, "lang": "tg"})

    def notes(self) -> dict[str, str]:
        return {code: getattr(self, f"note_{code}").data or ""
                for code in ("en", "ru", "tg") if hasattr(self, f"note_{code}")}


class TimelineForm(TimelineTranslationForm):
    date = _date_field(_l("Date"))
    status = SelectField(_l("Status from this date"), choices=_status_choices,
                         validate_choice=False, validators=[_check_status])
    note_en = TextAreaField(_l("Note in English"), validators=[_long(NOTE_MAX)],
                            render_kw={"rows": 2, "lang": "en"})


class UpdateTextForm(Form):
    title = StringField(_l("Title"), validators=[_long(TITLE_MAX)])
    body = TextAreaField(_l("Text (Markdown)"), validators=[_long(BODY_MAX)],
                         render_kw={"rows": 12})

    def values(self) -> UpdateTextFields:
        return UpdateTextFields(title=self.title.data or "", body=self.body.data or "")


class UpdateTranslationForm(FlaskForm):
    ru = FormField(UpdateTextForm)
    tg = FormField(UpdateTextForm)

    def texts(self) -> dict[str, UpdateTextFields]:
        return {code: getattr(self, code).form.values()
                for code in ("en", "ru", "tg") if hasattr(self, code)}


class UpdateForm(UpdateTranslationForm):
    date = _date_field(_l("Date of the update"))
    en = FormField(UpdateTextForm)


# --------------------------------------------------------------------------- stored values


def case_data(case: Case | None) -> dict[str, Any]:
    """The stored values in the shape of CaseForm (blank for a new case)."""
    data: dict[str, Any] = {
        "name_en": case.name_en, "name_tg": case.name_tg, "name_ru": case.name_ru,
        "aliases": case.aliases, "status": case.status,
        "sources": "\n".join(f"{s.url} {s.title}".strip() for s in case.sources),
    } if case is not None else {"sources": ""}
    for code in LOCALES:
        text = case.text(code) if case is not None else None
        data[code] = {
            "summary": text.summary if text else "",
            "detention_place": text.detention_place if text else "",
            "charges": text.charges if text else "",
            "sentence": text.sentence if text else "",
        }
    return data


def update_data(update: CaseUpdate | None) -> dict[str, Any]:
    data: dict[str, Any] = {"date": update.date} if update is not None else {}
    for code in LOCALES:
        text = update.text(code) if update is not None else None
        data[code] = {"title": text.title if text else "", "body": text.body if text else ""}
    return data


def entry_data(entry: TimelineEntry) -> dict[str, Any]:
    data: dict[str, Any] = {"date": entry.date, "status": entry.status}
    for code in LOCALES:
        data[f"note_{code}"] = (entry.notes or {}).get(code, "")
    return data
