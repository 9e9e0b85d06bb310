"""The volunteer's own mail program: RFC 6068 links that decode back to the exact letter, within
a length budget; over it, copy fields instead. Nothing is stored."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from babel.support import Translations
from flask import Flask

from campaign.actions import mailto, services
from campaign.actions.models import Letter
from campaign.actions.texts import Person, finish, prefill, signature
from campaign.extensions import db
from campaign.mail.models import OutgoingMessage
from tests.test_actions_flow import count, form_of, make_action, make_target

LETTERS = {
    "ru": mailto.MailtoLetter(
        "odihr-office@example.org", "Срочно: дело № 5 & «свобода» = 100%",
        "Уважаемые члены Комитета,\n\nПрошу: освободить #всех + сразу?\nС уважением,\nАня"),
    "tg": mailto.MailtoLetter(
        "demo-committee@example.org", "Муроҷиати фаврӣ: Ҷамшед",
        "Муҳтарам аъзои Кумита,\n\nҒ ӣ қ ӯ ҳ ҷ — озодии фаврӣ; 50% & #1\n\nБо эҳтиром,\nГулноза"),
}


@pytest.mark.parametrize("lang", ["ru", "tg"])
def test_a_mailto_link_decodes_back_to_the_exact_letter(lang: str) -> None:
    letter = LETTERS[lang]
    link = mailto.link(letter)
    assert link is not None and link.startswith(f"mailto:{letter.address}?subject=")
    assert link.isascii() and " " not in link and "\n" not in link
    assert "%0D%0A" in link  # RFC 6068: line breaks as CRLF
    assert mailto.parse(link) == letter


TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


def test_over_the_budget_there_is_no_link() -> None:
    long_letter = mailto.MailtoLetter("a@example.org", "Тема", "Ҷ" * 400)
    assert len(mailto.build(long_letter)) > mailto.BUDGET
    assert mailto.link(long_letter) is None
    assert mailto.link(mailto.MailtoLetter("a@example.org", "Тема", "Ҷ" * 100)) is not None


def setup(app: Flask) -> None:
    with app.app_context():
        ru_body = make_target("ru_body", languages=("ru", "en"), address="ru-body@example.org")
        tg_body = make_target("tg_body", languages=("tg",), address="tg-body@example.org")
        make_action("own", [(ru_body, "mailto", None), (tg_body, "mailto", None)])
        db.session.commit()


def expected(app: Flask, lang: str, body: str, person: Person) -> tuple[str, str]:
    with app.test_request_context():
        action = services.by_slug(db.session, "own")
        assert action is not None
        shown = prefill(action, lang, 0)
        assert shown is not None
        variant = action.variants_in(lang)[0]
        subject, text = finish(action, lang, variant.subject, body, person)
        return subject, f"{text}\n\n{signature(person)}\n"


def test_the_page_gives_links_that_decode_to_the_letters_in_russian_and_tajik(
    app: Flask
) -> None:
    setup(app)
    client = app.test_client()
    page = client.get("/ru/actions/own").get_data(as_text=True)
    ru = Translations.load(str(TRANSLATIONS), ["ru"])
    assert ru.gettext("Sign and send") not in page
    assert ru.gettext("Send it from my own mail program") in page
    data = form_of(page)
    data.update({"variant_ru": "0", "variant_tg": "0", "name": "Анна Канарейкина",
                 "city": "Москва"})
    data["body_ru"] = "Уважаемые члены Комитета,\n\nПрошу освободить всех & сразу: 100%.\n"
    data["body_tg"] = "Муҳтарам аъзои Кумита,\n\nҒ ӣ қ ӯ ҳ ҷ: озодии фаврӣ; 50% & #1."
    answer = client.post("/ru/actions/own/mailto", data=data)
    assert answer.status_code == 200
    links = [html.unescape(h) for h in re.findall(r'href="(mailto:[^"]+)"',
                                                  answer.get_data(as_text=True))]
    assert len(links) == 2
    person = Person("Анна Канарейкина", "Москва")
    decoded = {mailto.parse(link).address: mailto.parse(link) for link in links}
    subject, body = expected(app, "ru", str(data["body_ru"]).rstrip("\n"), person)
    assert decoded["ru-body@example.org"] == mailto.MailtoLetter("ru-body@example.org",
                                                                 subject, body)
    tg_subject, tg_body = expected(app, "tg", str(data["body_tg"]).strip("\n"), person)
    assert decoded["tg-body@example.org"] == mailto.MailtoLetter("tg-body@example.org",
                                                                 tg_subject, tg_body)
    assert count(app, Letter) == 0 and count(app, OutgoingMessage) == 0


def test_a_long_letter_gets_copy_fields_instead_of_a_link(app: Flask) -> None:
    setup(app)
    client = app.test_client()
    data = form_of(client.get("/tg/actions/own").get_data(as_text=True))
    data.update({"name": "Гулноза", "body_tg": "Муҳтарам аъзои Кумита,\n\n" + "ҳ " * 600})
    answer = client.post("/tg/actions/own/mailto", data=data).get_data(as_text=True)
    section = answer.split("tg-body@example.org")[0].rsplit("<section", 1)[1]
    assert "href=\"mailto:" not in section
    assert 'data-copy="body-' in answer and "hidden" in answer
    assert "ҳ ҳ ҳ" in answer
