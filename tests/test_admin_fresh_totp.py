"""Dangerous acts: a TOTP code re-entered within five minutes, a second person where the
settings ask for one, and the emergency lockdown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.test import TestResponse

from campaign.admin import approvals, lockdown
from campaign.admin.models import Approval, AuditEvent, Role
from campaign.admin.permissions import Permission
from campaign.extensions import db
from tests.admin_support import (
    Account,
    age_totp,
    allow_next_code,
    audit_actions,
    csrf,
    make_account,
    organiser_of,
    password_step,
    signed_in,
)

ORGANISERS = "http://localhost/admin/organisers"


def test_a_role_change_asks_for_a_fresh_code_then_returns_to_the_page(app: Flask) -> None:
    admin = make_account(app, "admin@example.org", Role.ADMIN)
    target = make_account(app, "target@example.org", Role.VIEWER)
    client = signed_in(app, admin)
    token = csrf(client, "/admin/organisers")
    field = f"role-{target.public_id}-role"
    age_totp(client)
    asked = client.post(f"/admin/organisers/{target.public_id}/role",
                        data={"csrf_token": token, field: "organiser"},
                        headers={"Referer": ORGANISERS})
    assert asked.status_code == 302
    assert asked.headers["Location"] == "/admin/reauth?next=/admin/organisers"
    with app.app_context():
        assert organiser_of(target).role == "viewer"
    # The code used to sign in cannot be replayed here.
    replay = client.post(asked.headers["Location"],
                         data={"csrf_token": token, "code": admin.totp()})
    assert replay.status_code == 401
    allow_next_code(app, admin)
    back = client.post(asked.headers["Location"], data={"csrf_token": token,
                                                         "code": admin.totp()})
    assert back.status_code == 302 and back.headers["Location"] == "/admin/organisers"
    done = client.post(f"/admin/organisers/{target.public_id}/role",
                       data={"csrf_token": token, field: "organiser"})
    assert done.status_code == 302
    with app.app_context():
        assert organiser_of(target).role == "organiser"
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "organiser.role_changed")).one()
        assert event.detail == {"from": "viewer", "to": "organiser"}
        assert event.object_id == target.public_id
    assert "reauth" in audit_actions(app)


@pytest.mark.parametrize("target", ["//evil.example", "/\\evil.example", "https://evil.example",
                                    "https:evil.example", "/%5Cevil.example"])
def test_the_code_page_only_returns_to_local_paths(app: Flask, target: str) -> None:
    account = make_account(app)
    client = signed_in(app, account)
    token = csrf(client, "/admin/reauth")
    allow_next_code(app, account)
    answer = client.post(f"/admin/reauth?next={target}",
                         data={"csrf_token": token, "code": account.totp()})
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/"


def test_guessing_codes_on_the_code_page_ends_the_session(app: Flask) -> None:
    account = make_account(app)
    client = signed_in(app, account)
    token = csrf(client, "/admin/reauth")
    for _ in range(4):
        assert client.post("/admin/reauth", data={"csrf_token": token,
                                                  "code": "000000"}).status_code == 401
    last = client.post("/admin/reauth", data={"csrf_token": token, "code": "000000"})
    assert last.status_code == 302 and last.headers["Location"] == "/admin/login"
    assert client.get("/admin/").status_code == 302


def test_a_fresh_code_lasts_five_minutes(app: Flask) -> None:
    account = make_account(app, role=Role.ADMIN)
    client = signed_in(app, account)
    age_totp(client, 4 * 60)
    assert client.get("/admin/account/authenticator").status_code == 200
    age_totp(client, 2 * 60)
    answer = client.get("/admin/account/authenticator")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/admin/reauth?next=/admin/account/authenticator"


# --- two people ------------------------------------------------------------------------------


def test_the_requester_cannot_approve_and_an_approval_is_used_once(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(REQUIRE_SECOND_APPROVAL="1")
    asker = make_account(app, "asker@example.org")
    second = make_account(app, "second@example.org")
    key = {"action": "subscribers.export", "object_type": "export", "object_id": "all"}
    with app.app_context():
        me, other = organiser_of(asker), organiser_of(second)
        assert not approvals.is_approved(db.session, **key)
        request = approvals.request_approval(db.session, requester=me, **key)
        assert approvals.request_approval(db.session, requester=me, **key).id == request.id
        with pytest.raises(approvals.ApprovalError, match="own"):
            approvals.approve(db.session, request, me)
        assert not approvals.is_approved(db.session, **key)
        approvals.approve(db.session, request, other)
        with pytest.raises(approvals.ApprovalError, match="decided"):
            approvals.approve(db.session, request, other)
        assert approvals.is_approved(db.session, **key)
        assert approvals.consume(db.session, actor=me, **key)
        assert not approvals.consume(db.session, actor=me, **key)
        assert not approvals.is_approved(db.session, **key)
        # An approval is good for a day, not for ever.
        again = approvals.request_approval(db.session, requester=me, **key)
        approvals.approve(db.session, again, other)
        later = datetime.now(UTC) + approvals.MAX_AGE + timedelta(minutes=1)
        assert not approvals.is_approved(db.session, now=later, **key)
        db.session.commit()
    assert {"approval.requested", "approval.approved", "approval.used"} <= set(
        audit_actions(app))


def test_no_second_person_is_needed_when_the_setting_is_off(make_app: Callable[..., Flask]) -> None:
    app = make_app(REQUIRE_SECOND_APPROVAL="0")
    with app.app_context():
        assert not approvals.approval_required()
        assert approvals.is_approved(db.session, action="alert.send", object_type="alert",
                                     object_id="x")


def test_a_second_organiser_approves_on_the_page_and_the_requester_cannot(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(REQUIRE_SECOND_APPROVAL="1")
    asker = make_account(app, "asker@example.org")
    second = make_account(app, "second@example.org")
    translator = make_account(app, "words@example.org", Role.TRANSLATOR)
    with app.app_context():
        approvals.register_action("alert.send", Permission.SEND, "Send an alert")
        request = approvals.request_approval(db.session, action="alert.send",
                                             object_type="alert", object_id="a" * 32,
                                             requester=organiser_of(asker))
        db.session.commit()
        pid = request.public_id
    mine = signed_in(app, asker)
    token = csrf(mine, "/admin/approvals")
    mine.post(f"/admin/approvals/{pid}/approve", data={"csrf_token": token})
    with app.app_context():
        assert db.session.scalars(select(Approval)).one().status == "pending"
    words = signed_in(app, translator)
    assert words.post(f"/admin/approvals/{pid}/approve",
                      data={"csrf_token": csrf(words, "/admin/")}).status_code == 403
    theirs = signed_in(app, second)
    page = theirs.get("/admin/approvals").get_data(as_text=True)
    assert "Send an alert" in page and f"/admin/approvals/{pid}/approve" in page
    done = theirs.post(f"/admin/approvals/{pid}/approve",
                       data={"csrf_token": csrf(theirs, "/admin/approvals")})
    assert done.status_code == 302
    with app.app_context():
        row = db.session.scalars(select(Approval)).one()
        assert row.status == "approved" and row.approved_by == organiser_of(second).id
        assert approvals.is_approved(db.session, action="alert.send", object_type="alert",
                                     object_id="a" * 32)


# --- lockdown --------------------------------------------------------------------------------


def test_lockdown_ends_every_session_stops_exports_and_lets_only_admins_back(
    app: Flask,
) -> None:
    admin = make_account(app, "admin@example.org", Role.ADMIN)
    organiser = make_account(app, "organiser@example.org")
    boss, worker = signed_in(app, admin), signed_in(app, organiser)
    with app.app_context():
        assert lockdown.exports_allowed()
    token = csrf(boss, "/admin/security")
    started = boss.post("/admin/security/lockdown", data={"csrf_token": token})
    assert started.status_code == 302
    assert boss.get("/admin/").status_code == 302
    assert worker.get("/admin/").status_code == 302
    with app.app_context():
        assert not lockdown.exports_allowed()
    # An organiser with password and code cannot get back in…
    refused = signed_in_attempt(app, organiser)
    assert refused.status_code == 302 and refused.headers["Location"] == "/admin/login"
    # …an administrator can, and lifting it needs a fresh code.
    boss = signed_in(app, admin)
    assert "Lockdown is on" in boss.get("/admin/").get_data(as_text=True)
    age_totp(boss)
    token = csrf(boss, "/admin/security")
    asked = boss.post("/admin/security/lockdown/lift", data={"csrf_token": token},
                      headers={"Referer": "http://localhost/admin/security"})
    assert asked.headers["Location"] == "/admin/reauth?next=/admin/security"
    with app.app_context():
        assert lockdown.lockdown_active()
    age_totp(boss, -6 * 60)
    boss.post("/admin/security/lockdown/lift", data={"csrf_token": token})
    with app.app_context():
        assert lockdown.exports_allowed()
    assert signed_in(app, organiser).get("/admin/").status_code == 200
    actions = audit_actions(app)
    assert {"lockdown.started", "lockdown.lifted", "login.refused_lockdown"} <= set(actions)


def signed_in_attempt(app: Flask, account: Account) -> TestResponse:
    client = app.test_client()
    allow_next_code(app, account)
    password_step(client, account)
    token = csrf(client, "/admin/login/code")
    return client.post("/admin/login/code", data={"csrf_token": token, "code": account.totp()})
