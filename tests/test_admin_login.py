"""Organiser sign-in: argon2id password, then TOTP; enrolment with a QR code drawn by the site."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from campaign.admin import services as accounts
from campaign.admin.models import AuditEvent, Organiser, Role
from campaign.extensions import db

EMAIL = "organiser@example.org"
PASSWORD = "correct horse battery staple"


def csrf(client: FlaskClient, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def make_organiser(app: Flask, enrolled: bool = True, role: Role = Role.ORGANISER,
                   temporary: bool = False) -> str | None:
    with app.app_context():
        organiser = accounts.create_organiser(db.session, EMAIL, role, password=PASSWORD)
        organiser.password_temporary = temporary
        secret = None
        if enrolled:
            secret = accounts.start_enrolment(organiser)
            now = datetime.now(UTC) - timedelta(minutes=5)
            assert accounts.confirm_enrolment(organiser, pyotp.TOTP(secret).at(now), now)
        db.session.commit()
        return secret


def sign_in(client: FlaskClient, secret: str, code: str | None = None) -> None:
    token = csrf(client, "/admin/login")
    response = client.post("/admin/login", data={"csrf_token": token, "email": EMAIL,
                                                  "password": PASSWORD})
    assert response.status_code == 302 and "/admin/login/code" in response.headers["Location"]
    token = csrf(client, "/admin/login/code")
    response = client.post("/admin/login/code",
                           data={"csrf_token": token, "code": code or pyotp.TOTP(secret).now()})
    assert response.status_code == 302, response.get_data(as_text=True)


def test_password_is_stored_as_argon2id(app: Flask) -> None:
    make_organiser(app)
    with app.app_context():
        organiser = db.session.scalars(select(Organiser)).one()
        assert organiser.password_hash is not None
        assert organiser.password_hash.startswith("$argon2id$")
        assert EMAIL.encode() not in organiser.email_enc


def test_sign_in_needs_password_and_then_a_totp_code(app: Flask, client: FlaskClient) -> None:
    secret = make_organiser(app)
    assert secret
    assert client.get("/admin/").status_code == 302  # not signed in
    sign_in(client, secret)
    page = client.get("/admin/")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"


def test_password_alone_never_reaches_admin_pages(app: Flask, client: FlaskClient) -> None:
    make_organiser(app)
    token = csrf(client, "/admin/login")
    client.post("/admin/login", data={"csrf_token": token, "email": EMAIL, "password": PASSWORD})
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_a_totp_code_is_accepted_once(app: Flask, make_app) -> None:  # type: ignore[no-untyped-def]
    secret = make_organiser(app)
    assert secret
    code = pyotp.TOTP(secret).now()
    first, second = app.test_client(), app.test_client()
    sign_in(first, secret, code)
    token = csrf(second, "/admin/login")
    second.post("/admin/login", data={"csrf_token": token, "email": EMAIL, "password": PASSWORD})
    token = csrf(second, "/admin/login/code")
    replay = second.post("/admin/login/code", data={"csrf_token": token, "code": code})
    assert replay.status_code == 401
    assert second.get("/admin/").status_code == 302


def test_wrong_password_gives_the_same_answer_as_unknown_address(
    app: Flask, client: FlaskClient
) -> None:
    make_organiser(app)
    token = csrf(client, "/admin/login")
    wrong = client.post("/admin/login", data={"csrf_token": token, "email": EMAIL,
                                              "password": "wrong password, long enough"})
    unknown = client.post("/admin/login", data={"csrf_token": token,
                                                "email": "nobody@example.org",
                                                "password": "wrong password, long enough"})
    assert wrong.status_code == unknown.status_code == 401
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", wrong.get_data(as_text=True)) == strip.sub(
        "", unknown.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "login.failed")
        ) is not None


def test_repeated_failures_throttle_that_account_only(app: Flask) -> None:
    make_organiser(app)
    with app.app_context():
        other = accounts.create_organiser(db.session, "other@example.org", password=PASSWORD)
        db.session.commit()
        now = datetime.now(UTC)
        for _ in range(accounts.LOCK_AFTER):
            assert accounts.authenticate(db.session, EMAIL, "not the password at all", now) is None
        # Even the right password is refused while the account waits…
        assert accounts.authenticate(db.session, EMAIL, PASSWORD, now) is None
        # …while another account signs in normally.
        assert accounts.authenticate(db.session, "other@example.org", PASSWORD, now) is other
        later = now + timedelta(minutes=2)
        assert accounts.authenticate(db.session, EMAIL, PASSWORD, later) is not None


def test_first_login_enrols_totp_with_a_qr_code_drawn_by_the_site(
    app: Flask, client: FlaskClient
) -> None:
    make_organiser(app, enrolled=False)
    token = csrf(client, "/admin/login")
    response = client.post("/admin/login", data={"csrf_token": token, "email": EMAIL,
                                                 "password": PASSWORD})
    assert "/admin/login/enrol" in response.headers["Location"]
    page = client.get("/admin/login/enrol").get_data(as_text=True)
    assert "<svg" in page
    assert "<h1>Set up two-step verification</h1>" in page
    assert "Every account needs an authenticator app" in page
    assert "http" not in re.sub(r'xmlns(:\w+)?="[^"]+"', "", page.split("<svg", 1)[1].split(
        "</svg>")[0])
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert secret
    token = csrf(client, "/admin/login/enrol")
    bad = client.post("/admin/login/enrol", data={"csrf_token": token, "code": "000000"})
    assert bad.status_code == 400
    done = client.post("/admin/login/enrol",
                       data={"csrf_token": token, "code": pyotp.TOTP(secret.group(1)).now()})
    assert done.status_code == 302
    assert client.get("/admin/").status_code == 200
    with app.app_context():
        organiser = db.session.scalars(select(Organiser)).one()
        assert organiser.enrolled and organiser.totp_pending_enc is None
        assert secret.group(1).encode() not in (organiser.totp_secret_enc or b"")


def test_one_time_password_must_be_changed_and_the_change_ends_other_sessions(
    app: Flask,
) -> None:
    secret = make_organiser(app, temporary=True)
    assert secret
    first, other = app.test_client(), app.test_client()
    sign_in(first, secret)
    response = first.get("/admin/")
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/admin/password")
    with app.app_context():
        organiser = db.session.scalars(select(Organiser)).one()
        organiser.totp_last_step = None  # let the second browser use a fresh code
        db.session.commit()
    sign_in(other, secret)
    token = csrf(first, "/admin/password")
    short = first.post("/admin/password", data={"csrf_token": token, "current": PASSWORD,
                                                "new": "short", "repeat": "short"})
    assert short.status_code == 400
    new = "a much longer passphrase for this account"
    done = first.post("/admin/password", data={"csrf_token": token, "current": PASSWORD,
                                               "new": new, "repeat": new})
    assert done.status_code == 302
    assert first.get("/admin/").status_code == 200
    assert other.get("/admin/").status_code == 302  # the other session has ended


@pytest.mark.parametrize("target", ["//evil.example", "/\\evil.example", "https:evil.example",
                                    "https://evil.example/", "/%5Cevil.example"])
def test_next_parameter_only_accepts_local_paths(app: Flask, client: FlaskClient,
                                                 target: str) -> None:
    secret = make_organiser(app)
    assert secret
    token = csrf(client, "/admin/login")
    response = client.post(f"/admin/login?next={target}",
                           data={"csrf_token": token, "email": EMAIL, "password": PASSWORD})
    location = response.headers["Location"]
    code_token = csrf(client, "/admin/login/code")
    done = client.post(location, data={"csrf_token": code_token,
                                       "code": pyotp.TOTP(secret).now()})
    assert done.headers["Location"] == "/admin/"


def test_posting_without_csrf_token_changes_nothing(app: Flask, client: FlaskClient) -> None:
    make_organiser(app)
    response = client.post("/admin/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/login/code").status_code == 302
