"""Public pages in a real browser: nothing leaves the origin, CSP holds, keyboard works."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.browser import RequestLog, chromium, live_server

pytestmark = pytest.mark.browser


def test_public_pages_load_nothing_from_elsewhere_and_violate_no_csp(app: Flask) -> None:
    with live_server(app) as origin, chromium() as browser:
        page = browser.new_page()
        log = RequestLog(page)
        for lang in ("en", "ru", "tg"):
            response = page.goto(f"{origin}/{lang}/")
            assert response is not None and response.status == 200
            assert "default-src 'self'" in response.headers["content-security-policy"]
            assert page.get_attribute("html", "lang") == lang
        page.goto(f"{origin}/admin/login")
        page.goto(f"{origin}/tg/missing-page")
        assert log.foreign(origin) == []
        assert not [m for m in log.console if "Content Security Policy" in m]


PUBLIC_PAGES = ("/", "/subscribe", "/subscribe/embed", "/subscribe/check-your-inbox",
                "/preferences", "/cases/", "/actions/", "/actions/demo-letter")


def test_every_public_page_in_every_language_stays_on_the_origin(app: Flask) -> None:
    from campaign.cli import demo_seeders
    from campaign.extensions import db

    with app.app_context():
        for seed in demo_seeders():
            seed()
            db.session.commit()
    with live_server(app) as origin, chromium() as browser:
        page = browser.new_page()
        log = RequestLog(page)
        for lang in ("en", "ru", "tg"):
            for path in PUBLIC_PAGES:
                response = page.goto(f"{origin}/{lang}{path}")
                assert response is not None and response.status == 200, (lang, path)
                assert page.get_attribute("html", "lang") == lang
                assert response.headers.get("content-security-policy")
            # A case page, reached the way a visitor would.
            page.goto(f"{origin}/{lang}/cases/")
            page.locator("main a[href*='/cases/']").first.click()
            assert page.get_attribute("html", "lang") == lang
        assert log.foreign(origin) == []
        assert not [m for m in log.console if "Content Security Policy" in m]


def test_language_switcher_and_skip_link_work_with_the_keyboard(app: Flask) -> None:
    with live_server(app) as origin, chromium() as browser:
        page = browser.new_page(viewport={"width": 360, "height": 740})  # a phone
        page.goto(f"{origin}/en/")
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent")
        assert focused.strip() == "Skip to content"
        page.keyboard.press("Enter")
        assert page.evaluate("location.hash") == "#main"
        page.click("a[hreflang=tg]")
        assert page.url.endswith("/tg/")
        assert page.get_attribute("html", "lang") == "tg"
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360  # no horizontal scrolling on a phone
