"""Languages: which locales exist, how a request's locale is chosen, the start-up check.

Negotiation order for a web request:

1. the ``/<lang>/`` prefix of public pages (``g.lang``, set by the URL preprocessor);
2. the signed-in organiser's saved preference (admin pages);
3. the ``lang`` cookie, set whenever someone picks a language;
4. the browser's ``Accept-Language``;
5. English, the source language.

Only locales whose catalogs really load at start-up take part (English always does).
Mail is rendered with :func:`flask_babel.force_locale` and the recipient's stored locale,
never the locale of whoever triggered it. The database stores locale codes, never text.
"""

from __future__ import annotations

import logging
from pathlib import Path

from babel.support import Translations
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import get_locale

from campaign.extensions import babel

log = logging.getLogger(__name__)

LOCALES: tuple[str, ...] = ("en", "ru", "tg")
DEFAULT_LOCALE = "en"
LANG_COOKIE = "lang"
# Shown in the language switcher: each language names itself.
LOCALE_NAMES: dict[str, str] = {"en": "English", "ru": "Русский", "tg": "Тоҷикӣ"}


def translations_dir(app: Flask) -> Path:
    return Path(app.config["BABEL_TRANSLATION_DIRECTORIES"])


def loadable_locales(directory: Path) -> tuple[str, ...]:
    """The locales whose compiled catalog loads from ``directory`` (English always)."""
    found = [DEFAULT_LOCALE]
    for code in LOCALES:
        if code == DEFAULT_LOCALE:
            continue
        catalog = Translations.load(str(directory), [code])
        if isinstance(catalog, Translations):  # a missing catalog loads as NullTranslations
            found.append(code)
        else:
            log.warning("catalog for %s did not load from %s; run `make translations`", code,
                        directory)
    return tuple(found)


def enabled_locales() -> tuple[str, ...]:
    return tuple(current_app.extensions["campaign.locales"])


def is_enabled(code: str | None) -> bool:
    return bool(code) and code in enabled_locales()


def preferred_from_request() -> str:
    """Cookie, then Accept-Language, then English: the order used by ``/`` and admin pages."""
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie and is_enabled(cookie):
        return cookie
    best = request.accept_languages.best_match(enabled_locales())
    return best or DEFAULT_LOCALE


def select_locale() -> str:
    lang = g.get("lang")
    if lang and is_enabled(lang):
        return str(lang)
    if has_request_context():  # a page that does not exist under /tg/ is still Tajik
        first = request.path.lstrip("/").partition("/")[0]
        if is_enabled(first):
            return first
    organiser = g.get("organiser")
    if organiser is not None and is_enabled(getattr(organiser, "locale", None)):
        return str(organiser.locale)
    return preferred_from_request()


def init_app(app: Flask) -> None:
    directory = translations_dir(app)
    app.extensions["campaign.locales"] = loadable_locales(directory)
    babel.init_app(app, locale_selector=select_locale, default_locale=DEFAULT_LOCALE,
                   default_timezone="UTC")

    @app.context_processor
    def inject_locales() -> dict[str, object]:
        return {"locale_names": LOCALE_NAMES, "enabled_locales": enabled_locales(),
                "current_locale": lambda: str(get_locale() or DEFAULT_LOCALE)}
