"""The alert pages in a real browser: three languages side by side on a desktop and stacked on
a phone, the sandboxed preview, the progress page updating itself without a reload, nothing
loaded from elsewhere and no CSP violation."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select, update

from campaign.admin.models import Role
from campaign.alerts import demo
from campaign.alerts.models import Alert, AlertDelivery, AlertText
from campaign.extensions import db
from tests.admin_support import make_account
from tests.browser import RequestLog, chromium, live_server, sign_in
from tests.test_alerts_support import add_subscribers, send_now

pytestmark = pytest.mark.browser


class _Hold:
    def __init__(self) -> None:
        self.specs: list = []  # type: ignore[type-arg]

    def enqueue(self, spec: object) -> None:
        self.specs.append(spec)


def test_alert_pages_in_a_browser(app: Flask) -> None:
    account = make_account(app, "organiser@example.org", Role.ORGANISER)
    add_subscribers(app, 9)
    with app.app_context():
        demo.seed()
        db.session.commit()
        pid = db.session.scalars(select(Alert.public_id)).one()
    with live_server(app) as origin, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        log = RequestLog(page)
        sign_in(page, origin, account)

        page.goto(f"{origin}/admin/alerts/{pid}/edit")
        boxes = [page.locator(".lang-col").nth(i).bounding_box() for i in range(3)]
        assert all(b is not None for b in boxes)
        assert len({round(b["y"]) for b in boxes if b}) == 1  # side by side
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        boxes = [page.locator(".lang-col").nth(i).bounding_box() for i in range(3)]
        ys = [b["y"] for b in boxes if b]
        assert ys == sorted(ys) and len(set(ys)) == 3  # stacked on a phone
        page.set_viewport_size({"width": 1400, "height": 900})

        page.goto(f"{origin}/admin/alerts/{pid}/preview/tg")
        frame = page.frame_locator("iframe.mail-preview")
        assert "Салом" in frame.locator("body").inner_text()

        app.extensions["campaign.runner"] = _Hold()  # the rows wait: "sending" stays
        send_now(app, pid)
        from workers.alerts import fan_out

        with app.app_context():
            fan_out(app.extensions["campaign.runner"].specs[0].args[0])
        page.goto(f"{origin}/admin/alerts/{pid}/progress")
        assert page.locator('[data-field="sent"]').inner_text() == "0"
        page.evaluate("window.notReloaded = true")
        with app.app_context():
            db.session.execute(update(AlertDelivery).values(status="sent"))
            db.session.commit()
        from playwright.sync_api import expect

        expect(page.locator('[data-field="sent"]')).to_have_text("9", timeout=10_000)
        assert page.evaluate("window.notReloaded") is True
        assert page.locator("progress#bar-all").get_attribute("value") == "9"
    assert log.foreign(origin) == []
    problems = [m for m in log.console if "Content Security Policy" in m
                or "Permissions-Policy" in m or "Refused" in m]
    assert problems == []


XSS = ("<script>alert(1)</script> <img src=x onerror=alert(2)> "
       "<svg onload=alert(3)></svg> [click](javascript:alert(4)) "
       "<iframe src=\"https://evil.example/\"></iframe> "
       "<a href=\"https://evil.example/\" onclick=\"alert(5)\">link</a> "
       "<style>body{background:url(https://evil.example/bg.png)}</style>")


def test_the_preview_executes_nothing_even_from_a_tampered_row(app: Flask) -> None:
    """Hostile Markdown written into the database directly (past the editor's sanitiser, as
    an old or tampered row): the preview sanitises again at render and runs nothing."""
    account = make_account(app, "organiser@example.org", Role.ORGANISER)
    with app.app_context():
        demo.seed()
        db.session.commit()
        pid = db.session.scalars(select(Alert.public_id)).one()
        db.session.execute(update(AlertText).values(body=XSS, body_html=XSS))
        db.session.commit()
    with live_server(app) as origin, chromium() as browser:
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        log = RequestLog(page)
        sign_in(page, origin, account)
        for lang in ("en", "ru", "tg"):
            page.goto(f"{origin}/admin/alerts/{pid}/preview/{lang}")
            frame = page.frame_locator("iframe.mail-preview")
            frame.locator("body").wait_for()
            for tag in ("script", "img", "svg", "iframe", "style[data-x]"):
                assert frame.locator(f"body {tag}").count() == 0, (lang, tag)
            hrefs = frame.locator("body a").evaluate_all("els => els.map(e => e.href)")
            assert not [h for h in hrefs if h.startswith("javascript:")]
            handlers = frame.locator("body *").evaluate_all(
                "els => els.flatMap(e => [...e.attributes].map(a => a.name))"
                ".filter(n => n.startsWith('on'))")
            assert handlers == [], (lang, handlers)
            assert "alert(1)" in frame.locator("body").inner_text()  # shown as text, inert
    assert dialogs == []
    assert not [u for u in log.foreign(origin) if "evil.example" in u]
