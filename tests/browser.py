"""Helpers for browser tests: the app on a loopback port, Debian's Chromium under Playwright."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions",
]


@contextmanager
def live_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@contextmanager
def chromium() -> Iterator[Any]:
    if not shutil.which("chromium") and not shutil.which(CHROMIUM):
        pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
        try:
            yield browser
        finally:
            browser.close()


class RequestLog:
    """Every request a page makes, and every console message, for privacy assertions."""

    def __init__(self, page: Any) -> None:
        self.urls: list[str] = []
        self.console: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))
        page.on("console", lambda message: self.console.append(message.text))

    def foreign(self, *origins: str) -> list[str]:
        """Requests to anywhere but ``origins``."""
        return [u for u in self.urls if not u.startswith((*origins, "data:", "about:"))]


def sign_in(page: Any, origin: str, account: Any) -> None:
    """Sign ``account`` (a tests.admin_support.Account) in through the real forms: password,
    then the TOTP code; ends on the dashboard."""
    page.goto(f"{origin}/admin/login")
    page.fill("input[name=email]", account.email)
    page.fill("input[name=password]", account.password)
    page.click("main button[type=submit]")
    page.wait_for_url("**/admin/login/code**")
    page.fill("input[name=code]", account.totp())
    page.click("main button[type=submit]")
    page.wait_for_url(f"{origin}/admin/")
