"""What case templates need besides the records: labels, names, fallbacks, safe HTML, URLs."""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for
from flask_babel import format_date
from markupsafe import Markup

from campaign.cases import services
from campaign.cases.labels import STATUS_LABELS, status_label
from campaign.cases.models import Case, CaseText, CaseUpdate, CaseUpdateText, TimelineEntry
from campaign.cases.names import slugify
from campaign.i18n import DEFAULT_LOCALE, LOCALES
from config import Config


def base_url() -> str:
    """The public origin from the settings: never the request's Host header."""
    config: Config = current_app.extensions["campaign.config"]
    return config.base_url


def case_slug(case: Case) -> str:
    return slugify(case.name_en or case.name_ru or case.name_tg)


def case_path(case: Case, lang: str | None = None) -> str:
    values: dict[str, Any] = {"pid": case.public_id, "slug": case_slug(case)}
    if lang is not None:
        values["lang"] = lang
    return url_for("cases.case", **values)


def absolute(path: str) -> str:
    return base_url() + path


def summary_of(case: Case, lang: str) -> CaseText | None:
    return services.pick_text(case.texts, lang, lambda t: bool(t.summary))


def facts_of(case: Case, lang: str) -> CaseText | None:
    return services.pick_text(case.texts, lang, lambda t: t.has_facts)


def update_text(update: CaseUpdate, lang: str) -> CaseUpdateText | None:
    return services.pick_text(update.texts, lang, lambda t: bool(t.title or t.body))


def timeline_note(entry: TimelineEntry, lang: str) -> tuple[str, str] | None:
    """(locale, note) in ``lang``, else English, else any language that has one."""
    notes = entry.notes or {}
    for code in (lang, DEFAULT_LOCALE, *LOCALES):
        if notes.get(code):
            return code, notes[code]
    return None


def status_since(case: Case) -> TimelineEntry | None:
    matching = [e for e in case.timeline if e.status == case.status]
    return max(matching, key=lambda e: e.date) if matching else None


def other_spellings(case: Case, lang: str) -> list[str]:
    shown = services.display_name(case, lang)
    forms = [case.name_tg, case.name_ru, case.name_en, *case.alias_list]
    result: list[str] = []
    for form in forms:
        if form and form != shown and form not in result:
            result.append(form)
    return result


def safe_html(html: str) -> Markup:
    """Stored HTML was sanitised at save; it is sanitised again here, at render."""
    return Markup(services.safe_html(html))  # noqa: S704 - sanitised by nh3 just now


def helpers() -> dict[str, object]:
    return {
        "display_name": services.display_name,
        "status_label": status_label,
        "status_labels": STATUS_LABELS,
        "case_path": case_path,
        "summary_of": summary_of,
        "facts_of": facts_of,
        "update_text": update_text,
        "timeline_note": timeline_note,
        "status_since": status_since,
        "other_spellings": other_spellings,
        "safe_html": safe_html,
        "format_date": format_date,
    }
