"""What an alert says, per language: placeholders, the message built once, filled per recipient.

Organiser text is data. ``{{ name }}``, ``{{ case_name }}`` and ``{{ case_url }}`` are the only
placeholders (``campaign.text.substitute``); everything else that looks like template syntax is
reported to the organiser and never evaluated. The message for one (alert, language, discreet)
is rendered once from ``templates/email/alerts/alert.{txt,html}`` and prepared with
``compose.prepare``; per recipient only To, Message-ID, the signed links and the name are
filled in (``%%TOKEN%%`` placeholders, HTML-escaped in the HTML part).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from flask import current_app, url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from campaign.alerts.models import Alert, AlertText
from campaign.cases.models import Case
from campaign.mail.compose import OutgoingMail, PreparedMessage, make_message_id, prepare
from campaign.mail.render import RenderedEmail, render_email
from campaign.subscribers import services as subscribers
from campaign.subscribers.models import Subscriber
from campaign.text import check_placeholders, escape_markdown, markdown_to_text, render_markdown
from campaign.text import substitute as substitute_text
from config import Config

TEMPLATE: Final = "alerts/alert"
BODY_PLACEHOLDERS: Final = ("name", "case_name", "case_url")
# The subject is the same for every recipient of a language: no {{ name }} there.
SUBJECT_PLACEHOLDERS: Final = ("case_name", "case_url")
LANG_TOKENS: Final = {"en": "LANG_EN", "ru": "LANG_RU", "tg": "LANG_TG"}
TOKENS: Final = ("NAME", "PREFERENCES_URL", "UNSUBSCRIBE_URL", *LANG_TOKENS.values())

_STYLES: Final = {
    "p": "margin:0 0 16px;",
    "h2": "font-size:21px;line-height:1.3;margin:24px 0 8px;",
    "h3": "font-size:18px;line-height:1.3;margin:20px 0 8px;",
    "h4": "font-size:16px;line-height:1.3;margin:16px 0 8px;",
    "a": "color:#0b4f8a;",
    "ul": "margin:0 0 16px;padding-left:24px;",
    "ol": "margin:0 0 16px;padding-left:24px;",
    "blockquote": "margin:0 0 16px;padding:0 0 0 12px;border-left:3px solid #d0d0c8;"
                  "color:#4a4a4a;",
    "pre": "white-space:pre-wrap;background:#f4f4f1;padding:8px;margin:0 0 16px;",
    "hr": "border:0;border-top:1px solid #d0d0c8;margin:24px 0;",
}
_TAG: Final = re.compile(r"<(" + "|".join(_STYLES) + r")(?=[\s>/])")


def _config() -> Config:
    return current_app.extensions["campaign.config"]


def case_name(case: Case, locale: str) -> str:
    """The person's name as written in ``locale``, else the Latin spelling."""
    spelled = {"en": case.name_en, "ru": case.name_ru, "tg": case.name_tg}.get(locale)
    return spelled or case.name_en or case.name_ru or case.name_tg


def case_url(case: Case, locale: str) -> str:
    return _config().base_url + url_for("cases.case", lang=locale, pid=case.public_id)


def allowed_placeholders(case: Case | None, subject: bool = False) -> tuple[str, ...]:
    """``case_name`` needs a case; ``case_url`` needs a case the public may see."""
    names: tuple[str, ...] = SUBJECT_PLACEHOLDERS if subject else BODY_PLACEHOLDERS
    if case is None:
        names = tuple(n for n in names if not n.startswith("case_"))
    elif not case.is_public:
        names = tuple(n for n in names if n != "case_url")
    return names


def text_problems(text: AlertText, case: Case | None) -> dict[str, list[str]]:
    """Unknown or malformed placeholders per field, as the organiser wrote them."""
    found = {
        "subject": check_placeholders(text.subject, allowed_placeholders(case, subject=True)),
        "preheader": check_placeholders(text.preheader, allowed_placeholders(case)),
        "body": check_placeholders(text.body, allowed_placeholders(case)),
    }
    return {field: tokens for field, tokens in found.items() if tokens}


def styled(html: str) -> str:
    """Inline CSS on the tags of sanitised HTML (it carries no attributes but ``href``)."""
    return _TAG.sub(lambda m: f'<{m.group(1)} style="{_STYLES[m.group(1)]}"', html)


@dataclass(frozen=True)
class Recipient:
    """The per-recipient values: a name (may be empty) and the signed links."""

    name: str
    preferences_url: str
    unsubscribe_url: str
    language_urls: Mapping[str, str]

    def replacements(self, fallback_name: str) -> dict[str, str]:
        values = {"NAME": self.name or fallback_name, "PREFERENCES_URL": self.preferences_url,
                  "UNSUBSCRIBE_URL": self.unsubscribe_url}
        for code, token in LANG_TOKENS.items():
            values[token] = self.language_urls.get(code, self.preferences_url)
        return values


TOKEN_RECIPIENT: Final = Recipient(
    name="%%NAME%%",
    preferences_url="%%PREFERENCES_URL%%",
    unsubscribe_url="%%UNSUBSCRIBE_URL%%",
    language_urls={code: f"%%{token}%%" for code, token in LANG_TOKENS.items()},
)


def neutral_subject(locale: str) -> str:
    with force_locale(locale):
        # Translators: the subject discreet subscribers see instead of the alert's own.
        return _("News from the campaign")


def test_subject(locale: str, subject: str) -> str:
    with force_locale(locale):
        return _("[Test] %(subject)s", subject=subject)


def fallback_name(locale: str) -> str:
    with force_locale(locale):
        # Translators: put in place of {{ name }} for a subscriber who gave no name.
        return _("friend")


def context(alert: Alert, locale: str, *, discreet: bool, case: Case | None,
            recipient: Recipient = TOKEN_RECIPIENT) -> dict[str, Any]:
    """The template context of ``alerts/alert`` (JSON-serialisable, so the test send can go
    through the outgoing-mail ledger). Raises PlaceholderError for bad organiser text."""
    text = alert.text(locale)
    if text is None or not text.complete:
        raise ValueError(f"alert has no complete {locale} text")
    values = {"name": recipient.name}
    if case is not None:
        values["case_name"] = case_name(case, locale)
        if case.is_public:
            values["case_url"] = case_url(case, locale)
    body = substitute_text(text.body, values, allowed_placeholders(case), escape=escape_markdown)
    subject = substitute_text(text.subject, values, allowed_placeholders(case, subject=True))
    preheader = substitute_text(text.preheader, values, allowed_placeholders(case))
    if discreet:  # the inbox line shows nothing about a case or a prisoner
        subject, preheader = neutral_subject(locale), ""
    return {
        "alert_subject": subject,
        "preheader": preheader,
        # render_markdown sanitises with nh3; the template marks this (and only this) safe.
        "body_html": styled(render_markdown(body)),
        "body_text": markdown_to_text(body),
        "preferences_url": recipient.preferences_url,
        "unsubscribe_url": recipient.unsubscribe_url,
        "language_urls": dict(recipient.language_urls),
    }


def render(alert: Alert, locale: str, *, discreet: bool, case: Case | None,
           recipient: Recipient = TOKEN_RECIPIENT) -> RenderedEmail:
    return render_email(TEMPLATE, locale,
                        context(alert, locale, discreet=discreet, case=case, recipient=recipient))


def prepare_message(alert: Alert, locale: str, *, discreet: bool,
                    case: Case | None) -> PreparedMessage:
    """Everything every recipient of this language (and discreet flag) shares, built once."""
    config = _config()
    rendered = render(alert, locale, discreet=discreet, case=case)
    mail = OutgoingMail(
        from_name=config.discreet_from_name if discreet else config.mail_from_name,
        from_addr=config.mail_from,
        to_name="",
        to_addr=config.mail_from,  # per recipient in render()
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id="<unused@localhost>",  # per recipient in render()
        list_id=config.list_id,
    )
    return prepare(mail, tokens=TOKENS)


_CACHE_KEY: Final = "campaign.alerts.prepared"
CACHE_SECONDS: Final = 60.0


def cached_message(alert: Alert, locale: str, *, discreet: bool,
                   case: Case | None) -> PreparedMessage:
    """:func:`prepare_message`, kept for a minute per worker process and keyed by the alert's
    last change, so consecutive batches share it (its Date header is at most a minute old)."""
    cache: dict[tuple[Any, ...], tuple[float, PreparedMessage]] = (
        current_app.extensions.setdefault(_CACHE_KEY, {}))
    key = (alert.id, alert.updated_at, case.updated_at if case else None, locale, discreet)
    now = time.monotonic()
    found = cache.get(key)
    if found is not None and now - found[0] < CACHE_SECONDS:
        return found[1]
    prepared = prepare_message(alert, locale, discreet=discreet, case=case)
    for stale in [k for k, (at, _prepared) in cache.items() if now - at >= CACHE_SECONDS]:
        del cache[stale]
    cache[key] = (now, prepared)
    return prepared


def message_id(alert_public_id: str, subscriber_public_id: str) -> str:
    """Stable across re-sends of the same delivery, so a duplicate is recognisable."""
    config = _config()
    seed = f"alert:{alert_public_id}:{subscriber_public_id}".encode()
    return make_message_id(config.mail_domain, seed=seed, key=config.link_key)


def personalise(prepared: PreparedMessage, *, to_name: str, to_addr: str, message_id: str,
                recipient: Recipient, fallback: str) -> bytes:
    return prepared.render(to_name, to_addr, message_id,
                           unsubscribe_url=recipient.unsubscribe_url,
                           replacements=recipient.replacements(fallback))


class Links:
    """``subscribers.services.links`` for a whole batch: the same URLs (a test compares
    them), with the tokens made by that module and the URL around them built once."""

    _MARK: Final = "TOKEN0MARK"

    def __init__(self) -> None:
        base = _config().base_url
        self._prefs = {code: base + url_for("subscribers.preferences", lang=code,
                                            token=self._MARK) for code in LANG_TOKENS}
        self._unsub = base + url_for("unsubscribe.one_click", token=self._MARK)

    def recipient(self, subscriber: Subscriber, name: str) -> Recipient:
        prefs = subscribers.preferences_token(subscriber)
        unsub = subscribers.unsubscribe_token(subscriber)
        language_urls = {code: url.replace(self._MARK, prefs) for code, url in self._prefs.items()}
        return Recipient(name, language_urls.get(subscriber.locale, language_urls["en"]),
                         self._unsub.replace(self._MARK, unsub), language_urls)


def sample_recipient(locale: str) -> Recipient:
    """For previews: links that look real but carry no one's token."""
    base, dummy = _config().base_url, "preview"

    def prefs(code: str) -> str:
        return base + url_for("subscribers.preferences", lang=code, token=dummy)

    return Recipient(
        name="",
        preferences_url=prefs(locale),
        unsubscribe_url=base + url_for("unsubscribe.one_click", token=dummy),
        language_urls={code: prefs(code) for code in LANG_TOKENS},
    )
