"""Development mail is captured in a local maildir and shown to organisers at /admin/outbox."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask

from tests.conftest import wait_for_jobs
from tests.test_admin_login import make_organiser, sign_in
from tests.test_jobs_and_ledger import queue_invite


def test_captured_mail_is_listed_and_shown_without_running_its_html(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(SMTP_URL="")  # the development default: the maildir transport
    secret = make_organiser(app)
    assert secret
    queue_invite(app, address="captured@example.org", locale="ru")
    wait_for_jobs(app)
    client = app.test_client()
    sign_in(client, secret)
    listing = client.get("/admin/outbox")
    assert listing.status_code == 200
    html = listing.get_data(as_text=True)
    assert "captured@example.org" in html
    key = re.search(r'href="/admin/outbox/([^"/]+)"', html)
    assert key
    message = client.get(f"/admin/outbox/{key.group(1)}")
    assert message.status_code == 200
    page = message.get_data(as_text=True)
    assert "<iframe" in page and "sandbox" in page
    frame = client.get(f"/admin/outbox/{key.group(1)}/html")
    assert frame.status_code == 200
    csp = frame.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "script-src" not in csp
    assert client.get("/admin/outbox/no-such-key").status_code == 404


def test_outbox_needs_a_signed_in_organiser(make_app: Callable[..., Flask]) -> None:
    app = make_app(SMTP_URL="")
    response = app.test_client().get("/admin/outbox")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
