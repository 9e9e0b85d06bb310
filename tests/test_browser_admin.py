"""Admin pages in a real browser, in every language: nothing leaves the origin, the CSP header
is there, and the browser reports no CSP (or Permissions-Policy) violation."""

from __future__ import annotations

import pytest
from flask import Flask

from campaign.admin.models import Role
from tests.admin_support import make_account
from tests.browser import RequestLog, chromium, live_server, sign_in

pytestmark = pytest.mark.browser

SIGNED_OUT = ("/admin/login", "/admin/reset", "/admin/reset/not-a-token", "/admin/nothing-here")
SIGNED_IN = (
    "/admin/", "/admin/account", "/admin/account/recovery-codes", "/admin/account/authenticator",
    "/admin/password", "/admin/organisers", "/admin/audit", "/admin/approvals",
    "/admin/security", "/admin/outbox", "/admin/reauth", "/admin/nothing-here",
    # The features' pages (demo data is seeded below).
    "/admin/cases/", "/admin/cases/new", "/admin/targets/", "/admin/subscribers/",
    "/admin/subscribers/list", "/admin/subscribers/search", "/admin/subscribers/import",
    "/admin/alerts/", "/admin/alerts/new", "/admin/actions/", "/admin/actions/new",
)
# List pages whose first object page the walk also opens (a case, target, alert, action).
OBJECT_LISTS = ("/admin/cases/", "/admin/targets/", "/admin/alerts/", "/admin/actions/")


def test_admin_pages_load_nothing_from_elsewhere_in_every_language(app: Flask) -> None:
    account = make_account(app, "admin@example.org", Role.ADMIN)
    from campaign.cli import demo_seeders
    from campaign.extensions import db

    with app.app_context():
        for seed in demo_seeders():
            seed()
            db.session.commit()
    with live_server(app) as origin, chromium() as browser:
        page = browser.new_page()
        log = RequestLog(page)
        for path in SIGNED_OUT:
            response = page.goto(origin + path)
            assert response is not None
            assert "default-src 'self'" in response.headers["content-security-policy"]
        sign_in(page, origin, account)
        for lang in ("en", "ru", "tg"):
            page.goto(f"{origin}/admin/")
            page.click(f"form.languages button[value={lang}]")
            page.wait_for_load_state()
            for path in SIGNED_IN:
                response = page.goto(origin + path)
                assert response is not None, path
                assert response.status in (200, 404), (lang, path, response.status)
                headers = response.headers
                assert "default-src 'self'" in headers["content-security-policy"], path
                assert headers["cache-control"] == "no-store", path
                assert page.get_attribute("html", "lang") == lang, (lang, path)
            for listing in OBJECT_LISTS:
                page.goto(origin + listing)
                links = page.locator(f"main a[href^='{listing}']:not([href$='/new'])")
                assert links.count() > 0, listing
                href = links.first.get_attribute("href")
                response = page.goto(origin + str(href))
                assert response is not None and response.status == 200, (lang, href)
                assert page.get_attribute("html", "lang") == lang, (lang, href)
        assert log.foreign(origin) == []
        problems = [m for m in log.console
                    if "Content Security Policy" in m or "Permissions-Policy" in m]
        assert problems == []
