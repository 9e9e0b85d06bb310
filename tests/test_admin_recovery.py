"""Recovery codes: ten, shown once after enrolment, stored as keyed hashes, each usable once in
place of a TOTP code, replaced together."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from campaign.admin import recovery
from campaign.admin.models import AuditEvent, RecoveryCode
from campaign.extensions import db
from tests.admin_support import (
    age_totp,
    csrf,
    make_account,
    organiser_of,
    password_step,
    sign_in,
    signed_in,
)

CODE = re.compile(r'<code class="secret">([a-z0-9]{4}(?:-[a-z0-9]{4}){3})</code>')


def enrol_and_read_codes(app: Flask) -> tuple[list[str], FlaskClient]:
    account = make_account(app, enrolled=False)
    client = app.test_client()
    assert "/admin/login/enrol" in password_step(client, account).headers["Location"]
    page = client.get("/admin/login/enrol").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert secret
    token = csrf(client, "/admin/login/enrol")
    done = client.post("/admin/login/enrol",
                       data={"csrf_token": token, "code": pyotp.TOTP(secret.group(1)).now()})
    assert done.headers["Location"] == "/admin/account/recovery-codes"
    shown = client.get(done.headers["Location"])
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"
    codes = CODE.findall(shown.get_data(as_text=True))
    return codes, client


def test_ten_codes_are_shown_once_after_enrolment_and_stored_only_as_keyed_hashes(
    app: Flask,
) -> None:
    codes, client = enrol_and_read_codes(app)
    assert len(codes) == recovery.COUNT == 10 and len(set(codes)) == 10
    again = client.get("/admin/account/recovery-codes")
    assert again.status_code == 302 and again.headers["Location"].endswith("/admin/account")
    assert not CODE.findall(client.get("/admin/account").get_data(as_text=True))
    with app.app_context():
        rows = db.session.scalars(select(RecoveryCode)).all()
        assert len(rows) == 10
        assert len({r.salt for r in rows}) == 10
        for row in rows:
            for code in codes:
                assert code.encode() not in row.code_hash
                assert code.replace("-", "").encode() not in row.code_hash


def test_a_recovery_code_replaces_a_totp_code_at_sign_in_and_works_only_once(
    app: Flask,
) -> None:
    account = make_account(app)
    with app.app_context():
        codes = recovery.generate(db.session, organiser_of(account), datetime.now(UTC))
        db.session.commit()
    first = app.test_client()
    sign_in(first, account, code=codes[3].upper().replace("-", " "))  # typed loosely
    assert first.get("/admin/").status_code == 200
    second = app.test_client()
    password_step(second, account)
    token = csrf(second, "/admin/login/code")
    replay = second.post("/admin/login/code", data={"csrf_token": token, "code": codes[3]})
    assert replay.status_code == 401
    assert second.get("/admin/").status_code == 302
    with app.app_context():
        assert recovery.remaining(db.session, organiser_of(account)) == 9
        used = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "recovery_code.used")).one()
        assert used.detail["remaining"] == 9
        login = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login")).one()
        assert login.detail == {"method": "recovery"}


def test_a_code_of_another_account_or_a_made_up_one_is_refused(app: Flask) -> None:
    mine = make_account(app, "mine@example.org")
    other = make_account(app, "other@example.org")
    with app.app_context():
        others = recovery.generate(db.session, organiser_of(other), datetime.now(UTC))
        recovery.generate(db.session, organiser_of(mine), datetime.now(UTC))
        db.session.commit()
    for attempt in (others[0], "aaaa-bbbb-cccc-dddd", "000000"):
        client = app.test_client()
        password_step(client, mine)
        token = csrf(client, "/admin/login/code")
        answer = client.post("/admin/login/code", data={"csrf_token": token, "code": attempt})
        assert answer.status_code == 401


def test_a_code_cannot_be_claimed_twice_even_by_racing_requests(app: Flask) -> None:
    account = make_account(app)
    with app.app_context():
        organiser = organiser_of(account)
        codes = recovery.generate(db.session, organiser, datetime.now(UTC))
        db.session.commit()
        now = datetime.now(UTC)
        assert recovery.use(db.session, organiser, codes[0], now)
        assert not recovery.use(db.session, organiser, codes[0], now)
        assert recovery.remaining(db.session, organiser) == 9


def test_new_codes_need_a_fresh_totp_code_and_replace_every_old_one(app: Flask) -> None:
    account = make_account(app)
    with app.app_context():
        old = recovery.generate(db.session, organiser_of(account), datetime.now(UTC))
        db.session.commit()
    client = signed_in(app, account)
    token = csrf(client, "/admin/account")
    age_totp(client)
    asked = client.post("/admin/account/recovery-codes/new", data={"csrf_token": token},
                        headers={"Referer": "http://localhost/admin/account"})
    assert asked.status_code == 302
    assert asked.headers["Location"].startswith("/admin/reauth?next=/admin/account")
    age_totp(client, -6 * 60)  # as if the code had just been entered again
    made = client.post("/admin/account/recovery-codes/new", data={"csrf_token": token})
    assert made.status_code == 200
    new = CODE.findall(made.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    with app.app_context():
        organiser = organiser_of(account)
        assert not recovery.use(db.session, organiser, old[0], datetime.now(UTC))
        assert recovery.use(db.session, organiser, new[0], datetime.now(UTC))


def test_after_a_one_time_password_is_replaced_the_codes_come_next(app: Flask) -> None:
    account = make_account(app)
    with app.app_context():
        organiser_of(account).password_temporary = True
        db.session.commit()
    client = signed_in(app, account)
    assert client.get("/admin/account").headers["Location"].endswith("/admin/password")
    token = csrf(client, "/admin/password")
    new = "my own passphrase, long enough"
    done = client.post("/admin/password", data={"csrf_token": token, "current": account.password,
                                                "new": new, "repeat": new})
    assert done.headers["Location"] == "/admin/account/recovery-codes"
    assert len(CODE.findall(client.get(done.headers["Location"]).get_data(as_text=True))) == 10
