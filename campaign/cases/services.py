"""Rules for cases and case updates. Functions flush and never commit; callers commit.

Who may change what is decided here too: a :class:`Scope` of ``TRANSLATIONS`` (a translator)
changes only the Russian and Tajik text of a record, whatever else the caller passes in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

from sqlalchemy import select

from campaign.admin.models import Organiser
from campaign.admin.services import audit
from campaign.cases.inputs import (
    CONSENT_NOTE_MAX,
    NOTE_MAX,
    CaseError,
    CaseFields,
    CaseTextFields,
    Scope,
    Source,
    UpdateTextFields,
    check_source,
    check_status,
    clean_line,
    clean_text,
    editable_locales,
)
from campaign.cases.models import (
    BODY_MAX,
    FACT_MAX,
    NAME_MAX,
    SUMMARY_MAX,
    TITLE_MAX,
    Case,
    CaseSource,
    CaseStatus,
    CaseText,
    CaseUpdate,
    CaseUpdateText,
    TimelineEntry,
)
from campaign.cases.names import fold, search_text, sort_key
from campaign.db import SessionLike, utcnow
from campaign.i18n import DEFAULT_LOCALE, LOCALES
from campaign.text import render_markdown, sanitise_html


def preview_markdown(source: str) -> str:
    """The sanitised HTML a Markdown text will be published as (of its allowed length: the
    form reports a longer text; the preview never fails)."""
    limit = BODY_MAX
    return render_markdown(clean_text(source[:limit], limit, "body"))


# --------------------------------------------------------------------------- cases


def create_case(
    session: SessionLike,
    fields: CaseFields,
    texts: Mapping[str, CaseTextFields],
    sources: Sequence[Source] = (),
    *,
    actor: Organiser | None = None,
    public_id: str | None = None,
) -> Case:
    """A new case, unpublished and without recorded consent. ``public_id`` is for fixed demo
    records only; real cases get a random one."""
    case = Case(name_en="", status=CaseStatus.DETAINED.value)
    if public_id is not None:
        case.public_id = public_id
    _apply_fields(case, fields)
    _apply_case_texts(case, texts, LOCALES)
    _apply_sources(case, sources)
    session.add(case)
    session.flush()
    audit(session, "case.created", actor=actor, object_type="case", object_id=case.public_id)
    return case


def update_case(
    session: SessionLike,
    case: Case,
    *,
    fields: CaseFields | None,
    texts: Mapping[str, CaseTextFields],
    sources: Sequence[Source] | None,
    scope: Scope,
    actor: Organiser | None = None,
) -> None:
    """Save an edit. With ``Scope.TRANSLATIONS`` only the ru and tg texts change; names,
    status, sources and the English text stay as they were, whatever is passed."""
    if scope is Scope.ALL:
        if fields is not None:
            _apply_fields(case, fields)
        if sources is not None:
            _apply_sources(case, sources)
    _apply_case_texts(case, texts, editable_locales(scope))
    case.updated_at = utcnow()
    session.flush()
    audit(session, "case.edited", actor=actor, object_type="case", object_id=case.public_id,
          detail={"scope": scope.value})


def _apply_fields(case: Case, fields: CaseFields) -> None:
    name_en = clean_line(fields.name_en, NAME_MAX, "name_en")
    if not name_en:
        raise CaseError("required", "name_en")
    case.name_en = name_en
    case.name_tg = clean_line(fields.name_tg, NAME_MAX, "name_tg")
    case.name_ru = clean_line(fields.name_ru, NAME_MAX, "name_ru")
    aliases: list[str] = []
    for alias in fields.aliases:
        cleaned = clean_line(alias, NAME_MAX, "aliases")
        if cleaned and cleaned not in aliases:
            aliases.append(cleaned)
    case.aliases = "\n".join(aliases)
    case.status = check_status(fields.status)
    case.search_text = search_text([case.name_tg, case.name_ru, case.name_en, *aliases])


def _apply_case_texts(
    case: Case, texts: Mapping[str, CaseTextFields], locales: Iterable[str]
) -> None:
    for locale in locales:
        given = texts.get(locale)
        if given is None:
            continue
        row = case.text(locale)
        if row is None:
            row = CaseText(locale=locale)
            case.texts.append(row)
        row.summary = clean_text(given.summary, SUMMARY_MAX, f"{locale}.summary")
        row.summary_html = render_markdown(row.summary) if row.summary else ""
        row.detention_place = clean_text(given.detention_place, FACT_MAX,
                                         f"{locale}.detention_place")
        row.charges = clean_text(given.charges, FACT_MAX, f"{locale}.charges")
        row.sentence = clean_text(given.sentence, FACT_MAX, f"{locale}.sentence")


def _apply_sources(case: Case, sources: Sequence[Source]) -> None:
    checked = [check_source(s) for s in sources]
    case.sources.clear()
    for position, source in enumerate(checked):
        case.sources.append(CaseSource(position=position, url=source.url, title=source.title))


def record_consent(
    session: SessionLike,
    case: Case,
    *,
    given: bool,
    note: str,
    actor: Organiser | None,
    now: dt.datetime | None = None,
) -> None:
    """Record the family's decision. Withdrawn consent takes the case off the public pages."""
    case.consent_given = given
    case.consent_note = clean_line(note, CONSENT_NOTE_MAX, "consent_note")
    case.consent_recorded_at = now or utcnow()
    case.consent_recorded_by = actor
    if not given and case.published:
        case.published = False
    case.updated_at = utcnow()
    session.flush()
    audit(session, "case.consent_recorded" if given else "case.consent_withdrawn",
          actor=actor, object_type="case", object_id=case.public_id)


def set_published(
    session: SessionLike, case: Case, published: bool, *, actor: Organiser | None
) -> None:
    if published and not case.consent_given:
        raise CaseError("consent_required")
    if case.published == published:
        return
    case.published = published
    case.updated_at = utcnow()
    session.flush()
    audit(session, "case.published" if published else "case.unpublished", actor=actor,
          object_type="case", object_id=case.public_id)


# --------------------------------------------------------------------------- timeline


def _clean_notes(notes: Mapping[str, str], locales: Iterable[str], old: Mapping[str, str]
                 ) -> dict[str, str]:
    result = dict(old)
    for locale in locales:
        if locale in notes:
            text = clean_text(notes[locale], NOTE_MAX, f"{locale}.note")
            if text:
                result[locale] = text
            else:
                result.pop(locale, None)
    return result


def add_timeline_entry(
    session: SessionLike, case: Case, *, on: dt.date, status: str, notes: Mapping[str, str]
) -> TimelineEntry:
    entry = TimelineEntry(date=on, status=check_status(status),
                          notes=_clean_notes(notes, LOCALES, {}))
    case.timeline.append(entry)
    session.flush()
    _sync_status(case)
    session.flush()
    return entry


def edit_timeline_entry(
    session: SessionLike,
    entry: TimelineEntry,
    *,
    on: dt.date | None,
    status: str | None,
    notes: Mapping[str, str],
    scope: Scope,
) -> None:
    if scope is Scope.ALL:
        if on is not None:
            entry.date = on
        if status is not None:
            entry.status = check_status(status)
    entry.notes = _clean_notes(notes, editable_locales(scope), entry.notes or {})
    session.flush()
    if scope is Scope.ALL:
        _sync_status(entry.case)
        session.flush()


def delete_timeline_entry(session: SessionLike, entry: TimelineEntry) -> None:
    case = entry.case
    case.timeline.remove(entry)
    session.flush()
    _sync_status(case)
    session.flush()


def _sync_status(case: Case) -> None:
    """The case's status is that of its latest timeline entry, when it has any."""
    if case.timeline:
        latest = max(case.timeline, key=lambda e: (e.date, e.id or 0))
        case.status = latest.status
        case.updated_at = utcnow()


# --------------------------------------------------------------------------- updates


def add_update(
    session: SessionLike,
    case: Case,
    *,
    on: dt.date,
    texts: Mapping[str, UpdateTextFields],
    actor: Organiser | None = None,
) -> CaseUpdate:
    update = CaseUpdate(date=on, published=False)
    _apply_update_texts(update, texts, LOCALES)
    case.updates.append(update)
    session.flush()
    audit(session, "case_update.created", actor=actor, object_type="case_update",
          object_id=update.public_id, detail={"case": case.public_id})
    return update


def edit_update(
    session: SessionLike,
    update: CaseUpdate,
    *,
    on: dt.date | None,
    texts: Mapping[str, UpdateTextFields],
    scope: Scope,
) -> None:
    if scope is Scope.ALL and on is not None:
        update.date = on
    _apply_update_texts(update, texts, editable_locales(scope))
    update.updated_at = utcnow()
    session.flush()


def _apply_update_texts(
    update: CaseUpdate, texts: Mapping[str, UpdateTextFields], locales: Iterable[str]
) -> None:
    for locale in locales:
        given = texts.get(locale)
        if given is None:
            continue
        row = update.text(locale)
        if row is None:
            row = CaseUpdateText(locale=locale)
            update.texts.append(row)
        row.title = clean_line(given.title, TITLE_MAX, f"{locale}.title")
        row.body = clean_text(given.body, BODY_MAX, f"{locale}.body")
        row.body_html = render_markdown(row.body) if row.body else ""


def set_update_published(
    session: SessionLike,
    update: CaseUpdate,
    published: bool,
    *,
    actor: Organiser | None,
    now: dt.datetime | None = None,
) -> None:
    """Publish or withdraw an update. It needs a title in at least one language."""
    if published and not any(t.title for t in update.texts):
        raise CaseError("update_empty")
    if update.published == published:
        return
    update.published = published
    if published:
        update.published_at = now or utcnow()
    update.updated_at = now or utcnow()
    session.flush()
    audit(session, "case_update.published" if published else "case_update.unpublished",
          actor=actor, object_type="case_update", object_id=update.public_id,
          detail={"case": update.case.public_id})


# --------------------------------------------------------------------------- reading


def get_case(session: SessionLike, public_id: str, *, public_only: bool = False) -> Case | None:
    stmt = select(Case).where(Case.public_id == public_id)
    if public_only:
        stmt = stmt.where(Case.published.is_(True), Case.consent_given.is_(True))
    return session.scalar(stmt)


def get_update(session: SessionLike, case: Case, public_id: str) -> CaseUpdate | None:
    return session.scalar(
        select(CaseUpdate).where(CaseUpdate.public_id == public_id,
                                 CaseUpdate.case_id == case.id)
    )


def search(
    session: SessionLike, query: str = "", *, public_only: bool = False, locale: str = "en"
) -> list[Case]:
    """Cases whose name, in any spelling or script, or alias contains every word of the query
    (folded: case, Tajik letters, transliteration and common spelling variants ignored).
    Sorted by the name shown in ``locale``."""
    stmt = select(Case)
    for word in fold(query).split():
        stmt = stmt.where(Case.search_text.contains(word, autoescape=True))
    if public_only:
        stmt = stmt.where(Case.published.is_(True), Case.consent_given.is_(True))
    return sort_cases(session.scalars(stmt).all(), locale)


def public_cases(session: SessionLike, query: str = "", locale: str = "en") -> list[Case]:
    return search(session, query, public_only=True, locale=locale)


def published_updates(
    session: SessionLike, *, case: Case | None = None, limit: int = 50
) -> list[CaseUpdate]:
    """Published updates of public cases, newest first."""
    stmt = (
        select(CaseUpdate)
        .join(Case)
        .where(CaseUpdate.published.is_(True), Case.published.is_(True),
               Case.consent_given.is_(True))
        .order_by(CaseUpdate.date.desc(), CaseUpdate.published_at.desc(),
                  CaseUpdate.id.desc())
        .limit(limit)
    )
    if case is not None:
        stmt = stmt.where(CaseUpdate.case_id == case.id)
    return list(session.scalars(stmt).all())


def display_name(case: Case, locale: str) -> str:
    """The spelling readers of ``locale`` expect, else the nearest one available."""
    order = {
        "tg": (case.name_tg, case.name_ru, case.name_en),
        "ru": (case.name_ru, case.name_tg, case.name_en),
    }.get(locale, (case.name_en, case.name_ru, case.name_tg))
    return next((name for name in order if name), case.name_en)


def sort_cases(cases: Iterable[Case], locale: str) -> list[Case]:
    """By the displayed name, in Tajik alphabet order for Cyrillic (not code-point order)."""

    def key(case: Case) -> tuple[tuple[tuple[int, int], ...], str]:
        name = display_name(case, locale)
        return sort_key(name), name

    return sorted(cases, key=key)


class _Localised(Protocol):
    locale: str


T = TypeVar("T", bound=_Localised)


def pick_text(rows: Iterable[T], locale: str, present: Callable[[T], bool]) -> T | None:
    """The row in ``locale`` if it has what ``present`` asks for, else English, else the
    first other language that has it. The caller compares ``row.locale`` with ``locale`` to
    say the text is shown in another language."""
    usable = {row.locale: row for row in rows if present(row)}
    for code in (locale, DEFAULT_LOCALE, *LOCALES):
        if code in usable:
            return usable[code]
    return None


def safe_html(html: str) -> str:
    """HTML stored at save, sanitised once more when shown (a rule change applies at once)."""
    return sanitise_html(html)
