"""The volunteer flow in Tajik in a real browser (Debian's Chromium through Playwright): open
the action, edit the letter, sign, confirm from the mail captured at the SMTP sink, see the
counter rise. Nothing is loaded from elsewhere and the CSP holds."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask

from campaign.actions import demo
from campaign.extensions import db
from tests.browser import RequestLog, chromium, live_server
from tests.conftest import wait_for_jobs
from tests.smtp_sink import SmtpSink
from tests.test_actions_flow import messages, text_of

pytestmark = pytest.mark.browser

ADDITION = "Ман низ аз Хоруғ ҳастам ва аз Шумо хоҳиш мекунам, ки чора андешед."


def test_the_volunteer_signs_and_confirms_in_tajik(make_app: Callable[..., Flask]) -> None:
    with SmtpSink() as sink:
        app = make_app(SMTP_URL=f"smtp://127.0.0.1:{sink.port}")
        with app.app_context():
            from campaign.cases import demo as cases_demo

            cases_demo.seed()
            db.session.commit()
            demo.seed()
            db.session.commit()
        with live_server(app) as origin, chromium() as browser:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            log = RequestLog(page)
            response = page.goto(f"{origin}/tg/actions/demo-letter")
            assert response is not None and response.status == 200
            assert page.get_attribute("html", "lang") == "tg"
            assert page.text_content("#live-count") == "0"

            letter = page.locator("#body_tg")
            assert "Муҳтарам" in letter.input_value() or "Номи ман" in letter.input_value()
            letter.fill(letter.input_value() + "\n\n" + ADDITION)
            page.fill("#name", "Гулноза Браузерова")
            page.fill("#email", "browser.volunteer@example.org")
            page.fill("#city", "Хоруғ")
            page.check("#reply")
            page.click("form.card button[type=submit]:not([formaction])")
            page.wait_for_url(re.compile(r".*/tg/actions/demo-letter/check-your-inbox$"))

            wait_for_jobs(app)
            [confirmation] = messages(sink)
            link = re.search(r"http://127\.0\.0\.1:5000(/tg/actions/demo-letter/confirm/\S+)",
                             text_of(confirmation))
            assert link
            page.goto(origin + link.group(1))
            assert page.locator("#live-count").count() == 0  # a button; nothing confirmed yet
            page.click("form.card button[type=submit]")
            page.wait_for_url(re.compile(r".*/tg/actions/demo-letter/thanks$"))
            assert page.text_content("#live-count") == "1"
            assert page.get_attribute("html", "lang") == "tg"

            wait_for_jobs(app)
            assert [rcpts for _f, rcpts, _d in sink.messages] == [
                ["browser.volunteer@example.org"], ["demo-committee@example.org"]]
            sent = text_of(messages(sink)[1])
            assert ADDITION in sent and "Гулноза Браузерова" in sent

            page.goto(f"{origin}/tg/actions/demo-letter")
            assert page.text_content("#live-count") == "1"
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390  # no horizontal scrolling on a phone
            assert log.foreign(origin) == []
            assert not [m for m in log.console if "Content Security Policy" in m]
