"""Case pages in a real browser: nothing from elsewhere, no CSP violation (the editor's style
block carries the nonce), three columns on a desktop that stack on a phone, search without JS."""

from __future__ import annotations

import pytest
from flask import Flask

from campaign.admin.models import Role
from campaign.cases import demo
from campaign.extensions import db
from tests.browser import RequestLog, chromium, live_server
from tests.test_cases_admin import login  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser

CASE = demo.CASES[0].public_id


@pytest.fixture
def seeded(app: Flask) -> Flask:
    with app.app_context():
        demo.seed()
        db.session.commit()
    return app


def column_tops(page: object) -> list[float]:
    return page.eval_on_selector_all(  # type: ignore[attr-defined, no-any-return]
        ".lang-grid > .lang-col", "cols => cols.map(c => c.getBoundingClientRect().top)")


def test_public_case_pages_work_without_javascript_and_load_nothing_foreign(
    seeded: Flask,
) -> None:
    with live_server(seeded) as origin, chromium() as browser:
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        log = RequestLog(page)
        page.goto(f"{origin}/tg/cases/")
        page.fill("input[name=q]", "Kodir")
        page.click("main button[type=submit]")
        assert "q=Kodir" in page.url
        page.click("text=Қодир Мисолов")
        assert f"/tg/cases/{demo.CASES[2].public_id}-qodir-misolov" in page.url
        assert page.get_attribute("html", "lang") == "tg"
        response = page.goto(f"{origin}/ru/cases/{CASE}")
        assert response is not None and response.status == 200
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert log.foreign(origin) == []
        context.close()


def test_admin_editor_has_three_columns_that_stack_on_a_phone(
    seeded: Flask, login,  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    client = login(Role.ORGANISER)
    cookie = client.get_cookie("session")
    assert cookie is not None
    with live_server(seeded) as origin, chromium() as browser:
        for width, stacked in ((1400, False), (390, True)):
            context = browser.new_context(viewport={"width": width, "height": 900})
            context.add_cookies([{"name": "session", "value": cookie.value, "url": origin}])
            page = context.new_page()
            log = RequestLog(page)
            for path in (f"/admin/cases/{CASE}", f"/admin/cases/{CASE}/updates/new",
                         "/admin/cases/", "/admin/cases/new"):
                response = page.goto(origin + path)
                assert response is not None and response.status == 200, path
            page.goto(f"{origin}/admin/cases/{CASE}")
            tops = column_tops(page)
            assert len(tops) == 3
            assert (len(set(tops)) == 3) is stacked, tops
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.focus("#en-summary")
            outline = page.evaluate(
                "getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none"
            assert log.foreign(origin) == []
            assert not [m for m in log.console if "Content Security Policy" in m]
            context.close()
