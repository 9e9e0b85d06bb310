"""Password reset: the same answer for every address; a single-use link that lives one hour,
mailed through the ledger; it sets a password, ends every session, and never signs in or skips
the TOTP step."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from campaign.admin import resets
from campaign.admin.models import AuditEvent, PasswordReset
from campaign.extensions import db
from campaign.mail.models import OutgoingMessage
from campaign.mail.render import render_email
from tests.admin_support import (
    csrf,
    make_account,
    organiser_of,
    password_step,
    sign_in,
    signed_in,
)
from tests.conftest import wait_for_jobs

NEW_PASSWORD = "a brand new passphrase, long enough"
TOKEN_FIELD = re.compile(r'value="[^"]*"')


def ask(client: FlaskClient, email: str) -> Any:
    token = csrf(client, "/admin/reset")
    return client.post("/admin/reset", data={"csrf_token": token, "email": email})


def mailed_link(app: Flask, outbox: Any) -> str:
    wait_for_jobs(app)
    assert len(outbox.outbox) == 1
    message = BytesParser(policy=policy.default).parsebytes(outbox.outbox[-1][2])
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    link = re.search(r"http://127\.0\.0\.1:5000(/admin/reset/\S+)", body.get_content())
    assert link
    return link.group(1)


def set_new_password(client: FlaskClient, path: str) -> Any:
    opened = client.get(path)
    assert opened.status_code == 302 and opened.headers["Location"] == "/admin/reset/password"
    token = csrf(client, "/admin/reset/password")
    return client.post("/admin/reset/password", data={"csrf_token": token, "new": NEW_PASSWORD,
                                                      "repeat": NEW_PASSWORD})


def test_known_and_unknown_addresses_get_the_same_answer(app: Flask, outbox: Any) -> None:
    account = make_account(app, "known@example.org")
    known = ask(app.test_client(), account.email)
    unknown = ask(app.test_client(), "unknown@example.org")
    assert known.status_code == unknown.status_code == 200
    assert TOKEN_FIELD.sub("", known.get_data(as_text=True)) == TOKEN_FIELD.sub(
        "", unknown.get_data(as_text=True))
    wait_for_jobs(app)
    assert [to for _, to, _ in outbox.outbox] == ["known@example.org"]
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "password.reset_requested")).all()
        assert len(events) == 2
        for event in events:
            assert "@" not in repr((event.detail, event.object_id))


def test_the_link_sets_a_password_once_ends_every_session_and_never_signs_in(
    app: Flask, outbox: Any
) -> None:
    account = make_account(app)
    other_session = signed_in(app, account)
    ask(app.test_client(), account.email)
    path = mailed_link(app, outbox)
    browser = app.test_client()
    done = set_new_password(browser, path)
    assert done.status_code == 302 and done.headers["Location"] == "/admin/login"
    assert browser.get("/admin/").status_code == 302  # not signed in by the link
    assert other_session.get("/admin/").status_code == 302  # every session has ended
    assert password_step(app.test_client(), account).status_code == 401  # old password
    # The new password leads to the TOTP step, never past it.
    after = password_step(browser, account, NEW_PASSWORD)
    assert after.status_code == 302 and "/admin/login/code" in after.headers["Location"]
    assert browser.get("/admin/").status_code == 302
    # Used once: the link is dead now.
    again = app.test_client().get(path)
    assert again.status_code == 400
    with app.app_context():
        assert db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "password.reset")) is not None


def test_the_link_expires_after_an_hour(app: Flask, outbox: Any) -> None:
    account = make_account(app)
    ask(app.test_client(), account.email)
    path = mailed_link(app, outbox)
    with app.app_context():
        now = datetime.now(UTC)
        token = path.rsplit("/", 1)[1]
        assert resets.find_valid(db.session, token, now + timedelta(minutes=59)) is not None
        assert resets.find_valid(db.session, token, now + timedelta(minutes=61)) is None
        db.session.execute(update(PasswordReset).values(
            expires_at=now - timedelta(seconds=1)))
        db.session.commit()
    assert app.test_client().get(path).status_code == 400


def test_the_token_is_stored_hashed_and_leaves_the_address_bar_at_once(
    app: Flask, outbox: Any
) -> None:
    account = make_account(app)
    ask(app.test_client(), account.email)
    path = mailed_link(app, outbox)
    token = path.rsplit("/", 1)[1]
    with app.app_context():
        reset = db.session.scalars(select(PasswordReset)).one()
        assert token.encode() not in reset.token_hash
        message = db.session.scalars(select(OutgoingMessage)).one()
        assert token not in message.dedupe_key
        for event in db.session.scalars(select(AuditEvent)):
            assert token not in repr((event.detail, event.object_id))
    opened = app.test_client().get(path)
    assert token not in opened.headers["Location"]


def test_a_reset_in_progress_keeps_asking_for_a_valid_password(app: Flask, outbox: Any) -> None:
    account = make_account(app)
    ask(app.test_client(), account.email)
    path = mailed_link(app, outbox)
    browser = app.test_client()
    browser.get(path)
    token = csrf(browser, "/admin/reset/password")
    short = browser.post("/admin/reset/password", data={"csrf_token": token, "new": "short",
                                                        "repeat": "short"})
    assert short.status_code == 400
    assert set_new_password(browser, path).status_code == 302


def test_disabled_accounts_get_no_mail_and_one_mail_per_ten_minutes_at_most(
    app: Flask, outbox: Any
) -> None:
    active = make_account(app, "active@example.org")
    paused = make_account(app, "paused@example.org")
    with app.app_context():
        organiser_of(paused).active = False
        db.session.commit()
    for _ in range(3):
        ask(app.test_client(), active.email)
        ask(app.test_client(), paused.email)
    wait_for_jobs(app)
    assert [to for _, to, _ in outbox.outbox] == ["active@example.org"]


def test_signing_in_after_a_reset_still_needs_the_authenticator(app: Flask, outbox: Any) -> None:
    account = make_account(app)
    ask(app.test_client(), account.email)
    browser = app.test_client()
    set_new_password(browser, mailed_link(app, outbox))
    token = csrf(browser, "/admin/login")
    browser.post("/admin/login", data={"csrf_token": token, "email": account.email,
                                       "password": NEW_PASSWORD})
    code_token = csrf(browser, "/admin/login/code")
    wrong = browser.post("/admin/login/code", data={"csrf_token": code_token, "code": "000000"})
    assert wrong.status_code == 401
    assert browser.get("/admin/").status_code == 302
    fresh = app.test_client()
    with app.app_context():
        organiser_of(account).totp_last_step = None
        db.session.commit()
    sign_in(fresh, replace(account, password=NEW_PASSWORD))
    assert fresh.get("/admin/").status_code == 200


@pytest.mark.parametrize("lang", ["en", "ru", "tg"])
def test_the_reset_mail_renders_in_every_language(app: Flask, lang: str) -> None:
    with app.test_request_context():
        mail = render_email("password_reset", lang,
                            {"link": "https://campaign.example.org/admin/reset/x", "minutes": 60})
    assert mail.subject
    assert "https://campaign.example.org/admin/reset/x" in mail.text
    assert mail.html and 'href="https://campaign.example.org/admin/reset/x"' in mail.html
    assert "60" in mail.text
