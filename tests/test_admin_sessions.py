"""Sessions end when they should: sign out everywhere, a disabled account, a new authenticator,
idle and absolute timeouts; sign-in is throttled per account and per address, never globally."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from campaign.admin import auth
from campaign.admin import services as accounts
from campaign.admin.models import AuditEvent, Role
from campaign.extensions import db
from tests.admin_support import (
    PASSWORD,
    csrf,
    make_account,
    organiser_of,
    password_step,
    sign_in,
    signed_in,
)


def two_of_mine_and_a_colleagues(app: Flask) -> tuple[FlaskClient, FlaskClient, FlaskClient]:
    """My laptop and phone signed in, and a colleague's session."""
    me = make_account(app, "me@example.org")
    colleague = make_account(app, "colleague@example.org")
    return signed_in(app, me), signed_in(app, me), signed_in(app, colleague)


def assert_only_mine_ended(*clients: FlaskClient) -> None:
    """Every client but the last (the colleague's) is back at the sign-in page."""
    *mine, theirs = clients
    assert [c.get("/admin/").status_code for c in mine] == [302] * len(mine)
    assert theirs.get("/admin/").status_code == 200


def test_sign_out_everywhere_ends_every_session_of_the_account_only(app: Flask) -> None:
    laptop, phone, theirs = two_of_mine_and_a_colleagues(app)
    token = csrf(laptop, "/admin/account")
    done = laptop.post("/admin/account/sign-out-everywhere", data={"csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"] == "/admin/login"
    assert_only_mine_ended(laptop, phone, theirs)
    with app.app_context():
        assert db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "sessions.ended")) is not None


def test_signing_out_kills_a_copy_of_the_cookie_and_the_accounts_other_sessions(
        app: Flask) -> None:
    laptop, phone, theirs = two_of_mine_and_a_colleagues(app)
    stolen = app.test_client()
    cookie = laptop.get_cookie("session")
    assert cookie is not None
    stolen.set_cookie("session", cookie.value)
    assert stolen.get("/admin/").status_code == 200  # the copy works while the session lives
    token = csrf(laptop, "/admin/")
    done = laptop.post("/admin/logout", data={"csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"] == "/admin/login"
    assert_only_mine_ended(stolen, laptop, phone, theirs)
    with app.app_context():
        assert db.session.scalar(
            select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1)) == "logout"


def test_disabling_an_account_ends_its_sessions_and_stops_its_sign_in(app: Flask) -> None:
    admin = make_account(app, "admin@example.org", Role.ADMIN)
    target = make_account(app, "target@example.org")
    boss, victim = signed_in(app, admin), signed_in(app, target)
    token = csrf(boss, "/admin/organisers")
    done = boss.post(f"/admin/organisers/{target.public_id}/disable", data={"csrf_token": token})
    assert done.status_code == 302
    assert victim.get("/admin/").status_code == 302
    again = app.test_client()
    assert password_step(again, target).status_code == 401
    with app.app_context():
        assert organiser_of(target).active is False


def test_an_administrator_cannot_disable_themself_or_the_last_administrator(
    app: Flask,
) -> None:
    admin = make_account(app, "admin@example.org", Role.ADMIN)
    client = signed_in(app, admin)
    token = csrf(client, "/admin/organisers")
    client.post(f"/admin/organisers/{admin.public_id}/disable", data={"csrf_token": token})
    assert client.get("/admin/").status_code == 200
    with app.app_context():
        me = organiser_of(admin)
        assert me.active
        other = accounts.create_organiser(db.session, "second@example.org", Role.ADMIN)
        with pytest.raises(accounts.AccountError, match="self"):
            accounts.disable(db.session, me, me)
        accounts.disable(db.session, other, me)  # two admins: fine
        with pytest.raises(accounts.AccountError, match="last_admin"):
            accounts.change_role(db.session, me, Role.VIEWER, other)


def test_a_new_authenticator_ends_other_sessions_and_the_old_app_stops_working(
    app: Flask,
) -> None:
    account = make_account(app)
    here, elsewhere = signed_in(app, account), signed_in(app, account)
    page = here.get("/admin/account/authenticator")
    assert page.status_code == 200  # the sign-in code is still fresh
    html = page.get_data(as_text=True)
    assert "<h1>Set up a new authenticator app</h1>" in html
    assert "<title>Set up a new authenticator app" in html
    assert "Until you do, your old app keeps working." in html
    assert "Every account needs an authenticator app" not in html
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.get_data(as_text=True))
    assert secret and secret.group(1) != account.secret
    token = csrf(here, "/admin/account/authenticator")
    done = here.post("/admin/account/authenticator",
                     data={"csrf_token": token, "code": pyotp.TOTP(secret.group(1)).now()})
    assert done.status_code == 302
    assert here.get("/admin/").status_code == 200
    assert elsewhere.get("/admin/").status_code == 302
    with app.app_context():
        organiser = organiser_of(account)
        organiser.totp_last_step = None
        db.session.commit()
        now = datetime.now(UTC)
        assert not accounts.verify_totp(organiser, pyotp.TOTP(account.secret or "").at(now), now)
        assert db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "totp.reenrolled")) is not None


def test_a_session_ends_after_thirty_idle_minutes(app: Flask,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    account = make_account(app)
    client = signed_in(app, account)
    start = auth.clock()
    monkeypatch.setattr(auth, "clock", lambda: start + 29 * 60)
    assert client.get("/admin/").status_code == 200  # activity renews the idle window
    monkeypatch.setattr(auth, "clock", lambda: start + 58 * 60)
    assert client.get("/admin/").status_code == 200
    monkeypatch.setattr(auth, "clock", lambda: start + 58 * 60 + auth.IDLE_TIMEOUT + 1)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_a_session_ends_twelve_hours_after_sign_in_however_active(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = make_account(app)
    client = signed_in(app, account)
    start = auth.clock()
    for minutes in range(20, 12 * 60, 20):
        monkeypatch.setattr(auth, "clock", lambda m=minutes: start + m * 60)
        assert client.get("/admin/").status_code == 200
    monkeypatch.setattr(auth, "clock", lambda: start + auth.ABSOLUTE_TIMEOUT + 1)
    assert client.get("/admin/").status_code == 302


def test_nothing_from_before_sign_in_survives_into_the_signed_in_session(app: Flask) -> None:
    account = make_account(app)
    client = app.test_client()
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        session["oid"] = "0" * 32
    sign_in(client, account)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["oid"] == account.public_id


def test_a_password_spray_from_one_address_is_stopped_without_locking_anyone_out(
    app: Flask,
) -> None:
    people = [make_account(app, f"person{i}@example.org") for i in range(4)]
    sprayer = app.test_client()
    spray = {"REMOTE_ADDR": "203.0.113.9"}
    for attempt in range(accounts.IP_FAILURE_LIMIT):
        target = people[attempt % len(people)]
        answer = password_step(sprayer, target, "Spring2026! Spring2026!", environ_base=spray)
        assert answer.status_code == 401
    # Even a right password is not tried from that address now…
    stopped = password_step(sprayer, people[0], environ_base=spray)
    assert stopped.status_code == 429
    # …while the same account signs in from anywhere else, and no account was locked.
    elsewhere = app.test_client()
    ok = password_step(elsewhere, people[0], environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert ok.status_code == 302
    with app.app_context():
        now = datetime.now(UTC)
        for person in people:
            assert not accounts.is_locked(organiser_of(person), now)
        assert not accounts.ip_throttled(db.session, "203.0.113.9",
                                         now + accounts.IP_WINDOW + timedelta(seconds=1))


def test_wrong_codes_throttle_the_account_even_for_someone_who_knows_the_password(
    app: Flask,
) -> None:
    account = make_account(app)
    client = app.test_client()
    for _ in range(accounts.LOCK_AFTER):
        password_step(client, account)
        token = csrf(client, "/admin/login/code")
        wrong = client.post("/admin/login/code", data={"csrf_token": token, "code": "123456"})
        assert wrong.status_code == 401
    # The account now waits; a right code does not get in, and the password does not reset it.
    assert password_step(client, account).status_code == 401
    with app.app_context():
        organiser = organiser_of(account)
        assert accounts.is_locked(organiser, datetime.now(UTC))
        organiser.locked_until = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    sign_in(client, account)
    with app.app_context():
        assert organiser_of(account).failed_logins == 0


def test_a_wrong_password_never_reveals_whether_the_code_step_would_follow(app: Flask) -> None:
    account = make_account(app)
    client = app.test_client()
    answer = password_step(client, account, PASSWORD + " wrong")
    assert answer.status_code == 401
    assert client.get("/admin/login/code").status_code == 302
