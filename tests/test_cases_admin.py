"""Case admin pages: who may change what, CSRF, bad input, audit, the update preview."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from campaign.admin import services as accounts
from campaign.admin.models import AuditEvent, Role
from campaign.cases import services
from campaign.cases.models import Case
from campaign.cases.services import CaseFields, CaseTextFields
from campaign.extensions import db
from tests.test_admin_login import PASSWORD, csrf

Login = Callable[..., FlaskClient]


@pytest.fixture
def login(app: Flask) -> Login:
    """A signed-in client for a new organiser with ``role`` (and admin ``locale``)."""

    def make(role: Role, locale: str = "en") -> FlaskClient:
        email = f"{role.value}@example.org"
        with app.app_context():
            organiser = accounts.create_organiser(db.session, email, role, password=PASSWORD,
                                                  locale=locale)
            organiser.password_temporary = False
            secret = accounts.start_enrolment(organiser)
            then = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
            assert accounts.confirm_enrolment(organiser, pyotp.TOTP(secret).at(then), then)
            db.session.commit()
        client = app.test_client()
        token = csrf(client, "/admin/login")
        client.post("/admin/login", data={"csrf_token": token, "email": email,
                                          "password": PASSWORD})
        token = csrf(client, "/admin/login/code")
        done = client.post("/admin/login/code", data={"csrf_token": token,
                                                      "code": pyotp.TOTP(secret).now()})
        assert done.status_code == 302
        return client

    return make


@pytest.fixture
def case_id(app: Flask) -> str:
    with app.app_context():
        case = services.create_case(
            db.session,
            CaseFields(name_en="Farhod Kholiqnazarov", name_tg="Фарҳод Холиқназаров",
                       name_ru="Фарход Холикназаров", status="detained"),
            {"en": CaseTextFields(summary="English summary.", charges="Extremism"),
             "ru": CaseTextFields(summary="Старый текст.")},
        )
        db.session.commit()
        return case.public_id


def load(app: Flask, pid: str) -> dict[str, Any]:
    with app.app_context():
        db.session.expire_all()
        case = services.get_case(db.session, pid)
        assert case is not None
        texts = {t.locale: (t.summary, t.charges) for t in case.texts}
        return {"name_en": case.name_en, "name_tg": case.name_tg, "status": case.status,
                "published": case.published, "consent": case.consent_given, "texts": texts,
                "sources": [s.url for s in case.sources], "aliases": case.aliases}


def full_form(token: str, **overrides: str) -> dict[str, str]:
    data = {
        "csrf_token": token, "name_en": "Farhod Kholiqnazarov", "name_tg": "Фарҳод Холиқназаров",
        "name_ru": "Фарход Холикназаров", "aliases": "Kholiknazarov\nХоликназаров",
        "status": "sentenced", "sources": "https://example.org/report Report of May 2023",
        "en-summary": "New **English** summary.", "en-charges": "Extremism",
        "ru-summary": "Новый текст.", "tg-summary": "Матни нав.",
    }
    data.update(overrides)
    return data


def actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_admin_nav_links_to_cases(login: Login) -> None:
    client = login(Role.VIEWER)
    assert 'href="/admin/cases/"' in client.get("/admin/").get_data(as_text=True)


def test_organiser_creates_a_case_in_three_languages(app: Flask, login: Login) -> None:
    client = login(Role.ORGANISER)
    page = client.get("/admin/cases/new").get_data(as_text=True)
    assert 'class="lang-grid"' in page and page.count('class="lang-col"') == 3
    for field_id in ("en-summary", "ru-summary", "tg-summary", "name_tg", "sources"):
        assert f'for="{field_id}"' in page, field_id
    token = csrf(client, "/admin/cases/new")
    response = client.post("/admin/cases/new", data=full_form(token))
    assert response.status_code == 302
    with app.app_context():
        case = db.session.scalars(select(Case)).one()
        pid = case.public_id
    saved = load(app, pid)
    assert saved["status"] == "sentenced" and not saved["published"] and not saved["consent"]
    assert saved["texts"]["tg"][0] == "Матни нав."
    assert saved["sources"] == ["https://example.org/report"]
    assert "case.created" in actions(app)
    assert client.get(f"/admin/cases/{pid}").status_code == 200


def test_consent_then_publish_is_audited_and_reaches_the_public_pages(
    app: Flask, login: Login, case_id: str
) -> None:
    client = login(Role.ORGANISER)
    token = csrf(client, f"/admin/cases/{case_id}")
    early = client.post(f"/admin/cases/{case_id}/publish",
                        data={"csrf_token": token, "published": "1"})
    assert early.status_code == 400 and not load(app, case_id)["published"]
    assert client.get(f"/en/cases/{case_id}").status_code == 404
    client.post(f"/admin/cases/{case_id}/consent",
                data={"csrf_token": token, "given": "y", "note": "Brother, by phone"})
    assert client.post(f"/admin/cases/{case_id}/publish",
                       data={"csrf_token": token, "published": "1"}).status_code == 302
    assert load(app, case_id)["published"]
    page = client.get(f"/admin/cases/{case_id}").get_data(as_text=True)
    assert "organiser@example.org" in page  # who recorded the consent
    assert client.get(f"/en/cases/{case_id}", follow_redirects=True).status_code == 200

    token = csrf(client, f"/admin/cases/{case_id}/updates/new")
    response = client.post(f"/admin/cases/{case_id}/updates/new", data={
        "csrf_token": token, "action": "save", "date": "2025-03-10",
        "en-title": "Moved to hospital", "en-body": "He was *moved*.",
        "tg-title": "Ба беморхона интиқол дода шуд", "tg-body": "Ӯро интиқол доданд.",
    })
    assert response.status_code == 302
    edit_url = response.headers["Location"]
    assert "Moved to hospital" not in client.get("/en/cases/feed.atom").get_data(as_text=True)
    client.post(edit_url + "/publish", data={"csrf_token": token, "published": "1"})
    assert "Moved to hospital" in client.get("/en/cases/feed.atom").get_data(as_text=True)
    assert {"case.created", "case.consent_recorded", "case.published", "case_update.created",
            "case_update.published"} <= set(actions(app))


def test_viewer_reads_but_cannot_change_anything(app: Flask, login: Login, case_id: str
                                                  ) -> None:
    client = login(Role.VIEWER)
    assert client.get("/admin/cases/").status_code == 200
    page = client.get(f"/admin/cases/{case_id}").get_data(as_text=True)
    assert "English summary." in page and 'name="en-summary"' not in page
    before = load(app, case_id)
    token = csrf(client, "/admin/cases/")
    for path, data in [
        (f"/admin/cases/{case_id}", full_form(token, status="released")),
        ("/admin/cases/new", full_form(token)),
        (f"/admin/cases/{case_id}/consent", {"csrf_token": token, "given": "y"}),
        (f"/admin/cases/{case_id}/publish", {"csrf_token": token, "published": "1"}),
        (f"/admin/cases/{case_id}/timeline", {"csrf_token": token, "date": "2024-01-01",
                                              "status": "released"}),
        (f"/admin/cases/{case_id}/updates/new", {"csrf_token": token, "date": "2024-01-01"}),
    ]:
        assert client.post(path, data=data).status_code == 403, path
    assert load(app, case_id) == before


def test_translator_changes_only_the_russian_and_tajik_text(
    app: Flask, login: Login, case_id: str
) -> None:
    client = login(Role.TRANSLATOR)
    page = client.get(f"/admin/cases/{case_id}").get_data(as_text=True)
    assert 'name="ru-summary"' in page and 'name="tg-summary"' in page
    assert 'name="en-summary"' not in page and 'name="name_en"' not in page
    token = csrf(client, f"/admin/cases/{case_id}")
    response = client.post(f"/admin/cases/{case_id}", data=full_form(
        token, name_en="Someone Else", name_tg="Каси дигар", status="released",
        sources="https://evil.example/ x", **{"en-summary": "Changed English.",
                                              "en-charges": "Nothing"}))
    assert response.status_code == 302
    after = load(app, case_id)
    assert after["name_en"] == "Farhod Kholiqnazarov" and after["name_tg"] == "Фарҳод Холиқназаров"
    assert after["status"] == "detained" and after["sources"] == [] and after["aliases"] == ""
    assert after["texts"]["en"] == ("English summary.", "Extremism")
    assert after["texts"]["ru"][0] == "Новый текст." and after["texts"]["tg"][0] == "Матни нав."
    for path in ("/admin/cases/new", f"/admin/cases/{case_id}/publish",
                 f"/admin/cases/{case_id}/consent"):
        assert client.post(path, data={"csrf_token": token, "published": "1"}).status_code == 403


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(
    app: Flask, login: Login, case_id: str
) -> None:
    client = login(Role.ORGANISER)
    before = load(app, case_id)
    data = full_form("")
    del data["csrf_token"]
    assert client.post(f"/admin/cases/{case_id}", data=data).status_code == 400
    assert client.post(f"/admin/cases/{case_id}/publish", data={"published": "1"}
                       ).status_code == 400
    assert client.post("/admin/cases/new", data=data).status_code == 400
    assert load(app, case_id) == before
    with app.app_context():
        assert db.session.scalars(select(Case)).all().__len__() == 1


@pytest.mark.parametrize("locale", ["en", "ru", "tg"])
def test_bad_input_answers_400_in_the_page_language_keeping_the_form(
    app: Flask, login: Login, case_id: str, locale: str
) -> None:
    client = login(Role.ORGANISER, locale=locale)
    before = load(app, case_id)
    token = csrf(client, f"/admin/cases/{case_id}")
    response = client.post(f"/admin/cases/{case_id}", data=full_form(
        token, name_en="", sources="javascript:alert(1) Bad", status="nonsense",
        **{"tg-summary": "Матни нигоҳдошташуда"}))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'<html lang="{locale}"' in page
    assert "Матни нигоҳдошташуда" in page and "javascript:alert(1) Bad" in page
    with app.test_request_context(), force_locale(locale):
        assert _("Please fill in this field.") in page
        assert _("Please choose one of the statuses in the list.") in page
    assert 'aria-invalid="true"' in page
    assert load(app, case_id) == before
    bad_date = client.post(f"/admin/cases/{case_id}/timeline", data={
        "csrf_token": token, "date": "31/02/2024", "status": "released"})
    assert bad_date.status_code == 400
    with app.test_request_context(), force_locale(locale):
        assert _("Please enter a date as YYYY-MM-DD, for example 2022-05-18.") in (
            bad_date.get_data(as_text=True))


def test_timeline_entries_are_added_edited_and_deleted(app: Flask, login: Login, case_id: str
                                                      ) -> None:
    client = login(Role.ORGANISER)
    token = csrf(client, f"/admin/cases/{case_id}")
    response = client.post(f"/admin/cases/{case_id}/timeline", data={
        "csrf_token": token, "date": "2024-01-05", "status": "released",
        "note_en": "Released.", "note_tg": "Озод шуд."})
    assert response.status_code == 302 and load(app, case_id)["status"] == "released"
    page = client.get(f"/admin/cases/{case_id}").get_data(as_text=True)
    match = re.search(rf"/admin/cases/{case_id}/timeline/([0-9a-f]{{32}})", page)
    assert match
    entry_url = match.group(0)
    assert client.post(entry_url, data={"csrf_token": token, "date": "2024-01-05",
                                        "status": "sentenced", "note_en": "Sentenced."}
                       ).status_code == 302
    assert load(app, case_id)["status"] == "sentenced"
    assert client.post(entry_url + "/delete", data={"csrf_token": token}).status_code == 302
    assert "Sentenced." not in client.get(f"/admin/cases/{case_id}").get_data(as_text=True)


def test_update_preview_shows_sanitised_html_and_saves_nothing(
    app: Flask, login: Login, case_id: str
) -> None:
    client = login(Role.ORGANISER)
    page = client.get(f"/admin/cases/{case_id}/updates/new").get_data(as_text=True)
    assert page.count('class="lang-col"') == 3
    token = csrf(client, f"/admin/cases/{case_id}/updates/new")
    response = client.post(f"/admin/cases/{case_id}/updates/new", data={
        "csrf_token": token, "action": "preview", "date": "2025-01-01",
        "en-title": "T", "en-body": "**Bold** <script>alert(1)</script>",
        "ru-body": "[x](javascript:alert(2))"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<strong>Bold</strong> &lt;script&gt;" in html
    assert "<script>alert" not in html and 'href="javascript' not in html
    with app.app_context():
        case = services.get_case(db.session, case_id)
        assert case is not None and case.updates == []


def test_translator_edits_update_translations_only(app: Flask, login: Login, case_id: str
                                                  ) -> None:
    with app.app_context():
        case = services.get_case(db.session, case_id)
        assert case is not None
        update = services.add_update(db.session, case, on=dt.date(2025, 1, 1), texts={
            "en": services.UpdateTextFields(title="English title", body="English body")})
        upid = update.public_id
        db.session.commit()
    client = login(Role.TRANSLATOR)
    url = f"/admin/cases/{case_id}/updates/{upid}"
    token = csrf(client, url)
    response = client.post(url, data={"csrf_token": token, "action": "save",
                                      "date": "2000-01-01", "en-title": "Hacked",
                                      "ru-title": "Русский заголовок", "ru-body": "Текст"})
    assert response.status_code == 302
    assert client.post(url + "/publish", data={"csrf_token": token, "published": "1"}
                       ).status_code == 403
    with app.app_context():
        case = services.get_case(db.session, case_id)
        assert case is not None
        saved = case.updates[0]
        assert saved.date == dt.date(2025, 1, 1) and not saved.published
        english, russian = saved.text("en"), saved.text("ru")
        assert english is not None and english.title == "English title"
        assert russian is not None and russian.title == "Русский заголовок"


def test_translator_edits_only_ru_and_tg_notes_of_a_timeline_entry(
    app: Flask, login: Login, case_id: str
) -> None:
    with app.app_context():
        case = services.get_case(db.session, case_id)
        assert case is not None
        entry = services.add_timeline_entry(db.session, case, on=dt.date(2022, 5, 18),
                                            status="detained", notes={"en": "Detained."})
        eid = entry.public_id
        db.session.commit()
    client = login(Role.TRANSLATOR)
    url = f"/admin/cases/{case_id}/timeline/{eid}"
    token = csrf(client, url)
    response = client.post(url, data={"csrf_token": token, "date": "2030-01-01",
                                      "status": "released", "note_en": "Changed.",
                                      "note_ru": "Задержан.", "note_tg": "Боздошт шуд."})
    assert response.status_code == 302
    assert client.post(url + "/delete", data={"csrf_token": token}).status_code == 403
    with app.app_context():
        case = services.get_case(db.session, case_id)
        assert case is not None
        saved = case.timeline[0]
        assert saved.date == dt.date(2022, 5, 18) and saved.status == "detained"
        assert saved.notes == {"en": "Detained.", "ru": "Задержан.", "tg": "Боздошт шуд."}
        assert case.status == "detained"
