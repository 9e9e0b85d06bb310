"""Languages: catalogs complete and current, plurals right, negotiation in the documented order."""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from babel.support import Translations
from flask import Flask
from flask.testing import FlaskClient

from campaign.mail.render import render_email

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
TAJIK_LETTERS = set("ғӣқӯҳҷҒӢҚӮҲҶ")
LANGS = ("en", "ru", "tg")
SINGULAR = "%(num)d message waiting to be sent"
PLURAL = "%(num)d messages waiting to be sent"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{\{\s*\w+\s*\}\}|%[sd]")


def catalog(lang: str):  # type: ignore[no-untyped-def]
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=lang)


@pytest.mark.parametrize("lang", ["ru", "tg"])
def test_every_message_is_translated_and_none_is_fuzzy(lang: str) -> None:
    cat = catalog(lang)
    problems = []
    for message in cat:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(message.id)
    assert problems == []
    assert len([m for m in cat if m.id]) > 20


@pytest.mark.parametrize("lang", ["ru", "tg"])
def test_translations_keep_placeholders_and_add_no_markup(lang: str) -> None:
    for message in catalog(lang):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = sorted(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            assert sorted(PLACEHOLDER.findall(text)) == wanted, (message.id, text)
            assert text.count("<") == ids[0].count("<"), (message.id, text)


def test_tajik_uses_tajik_letters_and_no_mixed_scripts() -> None:
    cat = catalog("tg")
    joined = " ".join(
        s for m in cat if m.id for s in (m.string if isinstance(m.string, tuple) else (m.string,))
    )
    assert TAJIK_LETTERS & set(joined), "Tajik text must use the Tajik letters"
    for word in re.findall(r"\w+", joined):
        scripts = {unicodedata.name(ch).split()[0] for ch in word if ch.isalpha()}
        assert not {"LATIN", "CYRILLIC"} <= scripts, f"mixed Latin and Cyrillic in {word!r}"


def test_russian_text_has_no_tajik_letters_or_latin_inside_words() -> None:
    for message in catalog("ru"):
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            assert not TAJIK_LETTERS & set(text), text
            for word in re.findall(r"\w+", text):
                scripts = {unicodedata.name(ch).split()[0] for ch in word if ch.isalpha()}
                assert not {"LATIN", "CYRILLIC"} <= scripts, word


def load(lang: str) -> Translations:
    translations = Translations.load(str(TRANSLATIONS), [lang])
    assert isinstance(translations, Translations), f"{lang} catalog is not compiled"
    return translations


@pytest.mark.parametrize(
    ("n", "form"),
    [(1, 0), (2, 1), (5, 2), (11, 2), (21, 0), (22, 1), (25, 2), (0, 2), (111, 2), (104, 1)],
)
def test_russian_plural_forms(n: int, form: int) -> None:
    ru = load("ru")
    assert ru.plural(n) == form
    singular, plural = SINGULAR, PLURAL
    text = ru.ungettext(singular, plural, n)
    assert text not in {singular, plural}


def test_russian_plural_words_for_counts() -> None:
    ru = load("ru")
    words = {n: ru.ungettext(SINGULAR, PLURAL, n) % {"num": n} for n in (1, 2, 5, 11, 21, 22, 25)}
    assert words[1].startswith("1 сообщение ") and words[21].startswith("21 сообщение ")
    assert words[2].startswith("2 сообщения ") and words[22].startswith("22 сообщения ")
    assert words[5].startswith("5 сообщений ") and words[11].startswith("11 сообщений ")
    assert words[25].startswith("25 сообщений ")


def test_tajik_has_one_plural_form_and_never_falls_back_to_english() -> None:
    tg = load("tg")
    header = catalog("tg").plural_forms
    assert header.startswith("nplurals=1;"), header
    for n in (0, 1, 2, 5, 21):
        text = tg.ungettext(SINGULAR, PLURAL, n)
        assert text not in {SINGULAR, PLURAL}
        assert "паём" in text


def test_committed_template_is_current(tmp_path: Path) -> None:
    out = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "pyproject.toml",
         "-k", "_l", "-k", "lazy_gettext", "-k", "lazy_ngettext:1,2", "-k", "lazy_pgettext:1c,2",
         "--no-location", "--sort-output", "--project", "campaign-mailer", "--version", "0.1",
         "--copyright-holder", "Campaign mailer contributors", "--add-comments=Translators:",
         "-o", str(out), "."],
        cwd=ROOT, check=True, capture_output=True,
    )

    def body(path: Path) -> list[str]:
        lines = path.read_text(encoding="utf-8").splitlines()
        # The header comment carries the year and the header the creation date: not content.
        return [line for line in lines
                if not line.startswith(('"POT-Creation-Date', "# ")) and line != "#"]

    assert body(out) == body(TRANSLATIONS / "messages.pot"), "run `make translations`"


def test_all_three_locales_load_at_start_up(app: Flask) -> None:
    assert app.extensions["campaign.locales"] == ("en", "ru", "tg")


@pytest.mark.parametrize(("lang", "sample"), [("en", "Stand with"), ("ru", "политическ"),
                                               ("tg", "Помир")])
def test_public_home_in_each_language(client: FlaskClient, lang: str, sample: str) -> None:
    response = client.get(f"/{lang}/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<html lang="{lang}"' in html
    assert sample in html
    for other in ("en", "ru", "tg"):
        assert f'href="/{other}/"' in html  # the language switcher


def test_tajik_page_shows_tajik_text(client: FlaskClient) -> None:
    html = client.get("/tg/").get_data(as_text=True)
    assert TAJIK_LETTERS & set(html)


def test_unknown_language_prefix_is_not_found(client: FlaskClient) -> None:
    assert client.get("/fr/").status_code == 404
    assert client.get("/xx/").status_code == 404


def test_root_redirect_prefers_cookie_then_accept_language_then_english(
    client: FlaskClient,
) -> None:
    response = client.get("/", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/ru/")
    assert client.get("/").headers["Location"].endswith("/en/")
    assert client.get("/", headers={"Accept-Language": "de"}).headers["Location"].endswith("/en/")
    client.set_cookie("lang", "tg")
    response = client.get("/", headers={"Accept-Language": "ru"})
    assert response.headers["Location"].endswith("/tg/")


def test_visiting_a_language_remembers_it_for_root(client: FlaskClient) -> None:
    client.get("/tg/")
    assert client.get("/", headers={"Accept-Language": "en"}).headers["Location"].endswith("/tg/")


def test_error_pages_follow_the_visitors_language(client: FlaskClient) -> None:
    response = client.get("/nowhere/at/all", headers={"Accept-Language": "ru"})
    assert response.status_code == 404
    assert 'lang="ru"' in response.get_data(as_text=True)
    assert "не найдена" in response.get_data(as_text=True)


EMAIL_TEMPLATES = sorted(
    str(p.relative_to(ROOT / "templates" / "email").with_suffix(""))
    for p in (ROOT / "templates" / "email").rglob("*.txt")
    if p.stem not in ("layout", "plain"))
# Every variable any mail template reads, with a recognisable value.
MAIL_CONTEXT = {
    "url": "https://campaign.example.org/admin/x", "confirm_url": "https://campaign.example.org/c",
    "link": "https://campaign.example.org/l", "title": "Example title", "minutes": 60,
    "role": "viewer", "subject": "Letter subject", "text": "Letter text", "target": "OSCE ODIHR",
    "preheader": "Preheader", "body_html": "<p>Body</p>", "body_text": "Body",
    "alert_subject": "Alert subject", "preferences_url": "https://campaign.example.org/p",
    "unsubscribe_url": "https://campaign.example.org/u",
    "language_urls": {code: f"https://campaign.example.org/{code}" for code in LANGS},
}


@pytest.mark.parametrize("name", EMAIL_TEMPLATES)
def test_every_mail_template_renders_in_every_language(app: Flask, name: str) -> None:
    rendered = {}
    with app.test_request_context():
        for lang in LANGS:
            mail = render_email(name, lang, MAIL_CONTEXT)
            assert mail.subject.strip() and mail.text.strip(), (name, lang)
            for part in (mail.subject, mail.text, mail.html or ""):
                assert "{{" not in part and "{%" not in part and "Undefined" not in part
            if mail.html is not None:
                assert f'lang="{lang}"' in mail.html, (name, lang)
            rendered[lang] = mail
    if name in ("actions/letter", "alerts/alert"):
        return  # their words are the organiser's or the volunteer's, not ours
    english = rendered["en"].subject + rendered["en"].text
    for lang in ("ru", "tg"):
        words = rendered[lang].subject + rendered[lang].text
        assert re.search("[А-Яа-яЁёҒғӢӣҚқӮӯҲҳҶҷ]{4}", words) and words != english, (name, lang)
