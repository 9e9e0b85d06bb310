"""Public pages in a real browser: nothing leaves the origin, CSP holds, keyboard works."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select

from campaign.extensions import db
from campaign.mail import services as mail
from campaign.mail.models import OutgoingMessage
from campaign.subscribers import services as subs
from campaign.subscribers.models import Subscriber
from tests.browser import RequestLog, chromium, live_server
from tests.smtp_sink import free_port

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


def test_pages_behind_mailed_links_and_error_pages_stay_on_the_origin(
    make_app: Callable[..., Flask],
) -> None:
    """The pages a supporter reaches from a mail (confirm, preferences, unsubscribe), a
    tampered link, a missing page and the database-down page, in a real browser."""
    app = make_app()
    client = app.test_client()
    page_html = client.get("/tg/subscribe").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page_html)
    assert token
    assert client.post("/tg/subscribe", data={
        "csrf_token": token.group(1), "email": "browser@example.org", "language": "tg",
        "scope": "all", "consent": "y"}).status_code == 302
    with app.app_context(), app.test_request_context():
        row = db.session.scalars(select(OutgoingMessage)).one()
        confirm = urlsplit(mail.context_of(row)["confirm_url"]).path
        subscriber = db.session.scalars(select(Subscriber)).one()
        links = subs.links(subscriber)
    preferences = urlsplit(links["preferences_url"]).path
    unsubscribe = urlsplit(links["unsubscribe_url"]).path
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x?connect_timeout=1"
    down = make_app(create_schema=False, DATABASE_URL=dead)
    with live_server(app) as origin, live_server(down) as down_origin, \
            chromium() as browser:
        page = browser.new_page()
        log = RequestLog(page)
        visits = [(confirm, 200), (confirm[:-3] + "xyz", 400), (preferences, 200),
                  (unsubscribe, 200), ("/tg/no-such-page", 404)]
        for path, status in visits:
            response = page.goto(origin + path)
            assert response is not None and response.status == status, path
            assert page.get_attribute("html", "lang") == "tg", path
        page.goto(origin + confirm)
        page.locator("main form button[type=submit]").click()  # the POST that confirms
        page.wait_for_load_state()
        with app.app_context():
            assert db.session.scalar(select(Subscriber.status)) == "active"
        response = page.goto(down_origin + "/tg/subscribe")
        assert response is not None and response.status == 503
        assert page.get_attribute("html", "lang") == "tg"
        assert log.foreign(origin, down_origin) == []
        assert not [m for m in log.console if "Content Security Policy" in m]
