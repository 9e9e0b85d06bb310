"""Who receives an alert, as SQL: the same conditions count the audience before sending and
select it, chunk by chunk, when the delivery rows are created.

The audience is every active subscriber, or the followers of the chosen cases (subscribers who
take all alerts always included), limited to the chosen languages, never a suppressed address.
A subscriber whose language has no complete translation gets English or nothing, as the
organiser chose (:class:`MissingRule`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, func, literal, or_, select
from sqlalchemy import case as sql_case

from campaign.alerts.models import Alert, AlertCase, Audience, MissingRule
from campaign.db import SessionLike
from campaign.i18n import DEFAULT_LOCALE, LOCALES
from campaign.subscribers.models import RECEIVING, Follow, Subscriber, Suppression


def translated_locales(alert: Alert) -> tuple[str, ...]:
    """Languages with a complete text (subject and body)."""
    return tuple(code for code in LOCALES if (t := alert.text(code)) is not None and t.complete)


def message_locale(subscriber_locale: str, translated: Iterable[str], rule: str) -> str | None:
    """The language a subscriber gets the alert in, or None when they get nothing."""
    available = set(translated)
    if subscriber_locale in available:
        return subscriber_locale
    if rule == MissingRule.ENGLISH.value and DEFAULT_LOCALE in available:
        return DEFAULT_LOCALE
    return None


def base_conditions(alert: Alert) -> list[ColumnElement[bool]]:
    """Everything but the translation rule."""
    conditions: list[ColumnElement[bool]] = [
        Subscriber.status.in_(RECEIVING),
        Subscriber.locale.in_(alert.language_list or ["-"]),
        ~exists().where(Suppression.email_index == Subscriber.email_index),
    ]
    if alert.audience == Audience.CASES.value:
        followed = exists().where(
            Follow.subscriber_id == Subscriber.id,
            Follow.case_id.in_(select(AlertCase.case_id).where(AlertCase.alert_id == alert.id)),
        )
        conditions.append(or_(Subscriber.all_alerts.is_(True), followed))
    return conditions


def receiving_locales(alert: Alert, rule: str | None = None) -> list[str]:
    """Subscriber languages that get something under ``rule`` (default: the alert's)."""
    translated = translated_locales(alert)
    rule = rule or alert.missing_rule
    return [c for c in LOCALES if message_locale(c, translated, rule) is not None]


def conditions(alert: Alert) -> list[ColumnElement[bool]]:
    return [*base_conditions(alert), Subscriber.locale.in_(receiving_locales(alert) or ["-"])]


def locale_expression(alert: Alert) -> ColumnElement[str]:
    """SQL for the language each selected subscriber gets (their own, or English)."""
    translated = translated_locales(alert)
    if not translated:
        return literal(DEFAULT_LOCALE)
    return sql_case((Subscriber.locale.in_(translated), Subscriber.locale),
                    else_=literal(DEFAULT_LOCALE))


@dataclass(frozen=True)
class LanguageCount:
    """Subscribers of one language in the audience, and what they would get."""

    locale: str
    subscribers: int
    gets: str | None  # the message language, None when skipped
    gets_if_english: str | None
    gets_if_skip: str | None


@dataclass(frozen=True)
class AudienceCount:
    rows: list[LanguageCount]

    def total(self, rule: str | None = None) -> int:
        def gets(row: LanguageCount) -> str | None:
            if rule == MissingRule.ENGLISH.value:
                return row.gets_if_english
            if rule == MissingRule.SKIP.value:
                return row.gets_if_skip
            return row.gets

        return sum(r.subscribers for r in self.rows if gets(r) is not None)

    def by_message_locale(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.rows:
            if row.gets is not None:
                out[row.gets] = out.get(row.gets, 0) + row.subscribers
        return out


def count(session: SessionLike, alert: Alert) -> AudienceCount:
    """Per subscriber language: how many, and what each rule would send them."""
    found = dict(
        session.execute(
            select(Subscriber.locale, func.count()).where(and_(*base_conditions(alert)))
            .group_by(Subscriber.locale)
        ).all()
    )
    translated = translated_locales(alert)
    rows = [
        LanguageCount(
            locale=code,
            subscribers=int(found.get(code, 0)),
            gets=message_locale(code, translated, alert.missing_rule),
            gets_if_english=message_locale(code, translated, MissingRule.ENGLISH.value),
            gets_if_skip=message_locale(code, translated, MissingRule.SKIP.value),
        )
        for code in LOCALES
        if code in alert.language_list
    ]
    return AudienceCount(rows)
