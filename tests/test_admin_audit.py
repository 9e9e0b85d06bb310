"""The audit log: what is recorded, who can read it, paging and filtering, a formula-safe CSV
export behind a fresh code, and never a supporter's personal data."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from campaign.admin import approvals, lockdown, recovery
from campaign.admin import services as accounts
from campaign.admin.models import AuditEvent, Role
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
from tests.conftest import wait_for_jobs

ROW = re.compile(r"<tr><td><time ")
SUPPORTER = "canary.supporter-7f3a@example.org"


def add_events(app: Flask, count: int, action: str = "test.event", **fields: Any) -> None:
    with app.app_context():
        start = datetime.now(UTC) - timedelta(days=1)
        for i in range(count):
            event = accounts.audit(db.session, action, **fields)
            event.at = start + timedelta(seconds=i)
        db.session.commit()


def test_only_administrators_read_the_log(app: Flask) -> None:
    for role in (Role.ORGANISER, Role.TRANSLATOR, Role.VIEWER):
        client = signed_in(app, make_account(app, role=role))
        assert client.get("/admin/audit").status_code == 403
    admin = signed_in(app, make_account(app, role=Role.ADMIN))
    page = admin.get("/admin/audit")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"


def test_the_log_is_paged_newest_first_and_filtered_by_action(app: Flask) -> None:
    admin = signed_in(app, make_account(app, role=Role.ADMIN))
    add_events(app, 120, "test.bulk")
    add_events(app, 3, "test.other")
    first = admin.get("/admin/audit?action=test.bulk").get_data(as_text=True)
    assert len(ROW.findall(first)) == 50 and "Page 1 of 3" in first
    third = admin.get("/admin/audit?action=test.bulk&page=3").get_data(as_text=True)
    assert len(ROW.findall(third)) == 20
    other = admin.get("/admin/audit?action=test.other").get_data(as_text=True)
    assert len(ROW.findall(other)) == 3 and "test.bulk" not in other.split("<table>")[1]
    # Nonsense filters and pages fall back to everything, page one.
    assert admin.get("/admin/audit?action=%3Cscript%3E&page=-4").status_code == 200


def test_the_export_needs_a_fresh_code_and_neutralises_formulas(app: Flask) -> None:
    admin_account = make_account(app, role=Role.ADMIN)
    admin = signed_in(app, admin_account)
    add_events(app, 2, "test.formula", object_type="case", object_id="=HYPERLINK(\"x\")",
               detail={"note": "@SUM(A1)"})
    token = csrf(admin, "/admin/audit")
    age_totp(admin)
    asked = admin.post("/admin/audit/export", data={"csrf_token": token, "action": ""},
                       headers={"Referer": "http://localhost/admin/audit"})
    assert asked.headers["Location"] == "/admin/reauth?next=/admin/audit"
    age_totp(admin, -6 * 60)
    export = admin.post("/admin/audit/export", data={"csrf_token": token,
                                                     "action": "test.formula"})
    assert export.status_code == 200
    assert export.mimetype == "text/csv"
    assert export.headers["Content-Disposition"].startswith("attachment;")
    assert export.headers["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True))))
    assert rows[0][:3] == ["at", "actor", "action"]
    assert len(rows) == 3
    for row in rows[1:]:
        assert row[4] == "'=HYPERLINK(\"x\")"
        assert json.loads(row[5]) == {"note": "@SUM(A1)"}  # JSON text starts with "{": safe
        for cell in row:
            assert not cell or cell[0] not in "=+-@\t\r"
    with app.app_context():
        exported = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "audit.exported")).one()
        assert exported.detail == {"rows": 2, "action": "test.formula"}


def test_a_lockdown_does_not_stop_the_audit_export(app: Flask) -> None:
    admin_account = make_account(app, role=Role.ADMIN)
    with app.app_context():
        lockdown.start_lockdown(db.session, organiser_of(admin_account))
        db.session.commit()
    admin = signed_in(app, admin_account)
    token = csrf(admin, "/admin/audit")
    export = admin.post("/admin/audit/export", data={"csrf_token": token})
    assert export.status_code == 200 and export.mimetype == "text/csv"


def test_security_events_are_recorded_without_any_personal_data(
    make_app: Any,
) -> None:
    app = make_app(REQUIRE_SECOND_APPROVAL="1")
    admin = make_account(app, "boss.admin@example.org", Role.ADMIN)
    member = make_account(app, "member.org@example.org", Role.VIEWER)
    helper = make_account(app, "helper.org@example.org", Role.ORGANISER)
    boss = signed_in(app, admin)
    # A failed sign-in with an address that belongs to nobody (a supporter's, say).
    stranger = app.test_client()
    token = csrf(stranger, "/admin/login")
    stranger.post("/admin/login", data={"csrf_token": token, "email": SUPPORTER,
                                        "password": "not the password at all"})
    password_step(app.test_client(), member, "wrong password for this account")
    # Role change and disable.
    token = csrf(boss, "/admin/organisers")
    boss.post(f"/admin/organisers/{member.public_id}/role",
              data={"csrf_token": token, f"role-{member.public_id}-role": "translator"})
    boss.post(f"/admin/organisers/{member.public_id}/disable", data={"csrf_token": token})
    # Password reset for a known and an unknown address.
    for address in (helper.email, SUPPORTER):
        client = app.test_client()
        client.post("/admin/reset", data={"csrf_token": csrf(client, "/admin/reset"),
                                          "email": address})
    wait_for_jobs(app)
    # Approvals, a recovery code, a lockdown.
    with app.app_context():
        request = approvals.request_approval(db.session, action="subscribers.export",
                                             object_type="export", object_id="all",
                                             requester=organiser_of(helper))
        approvals.approve(db.session, request, organiser_of(admin))
        approvals.consume(db.session, action="subscribers.export", object_type="export",
                          object_id="all")
        codes = recovery.generate(db.session, organiser_of(helper), datetime.now(UTC))
        db.session.commit()
    sign_in(app.test_client(), helper, code=codes[0])
    shown = boss.get("/admin/account/recovery-codes").get_data(as_text=True)
    codes += re.findall(r'<code class="secret">([a-z0-9-]{19})</code>', shown)
    assert len(codes) == 20
    boss.post("/admin/security/lockdown", data={"csrf_token": csrf(boss, "/admin/security")})
    with app.app_context():
        events = db.session.scalars(select(AuditEvent)).all()
        actions = {e.action for e in events}
        assert {
            "login", "login.failed", "organiser.role_changed", "organiser.disabled",
            "password.reset_requested", "approval.requested", "approval.approved",
            "approval.used", "recovery_codes.generated", "recovery_code.used",
            "lockdown.started",
        } <= actions
        for event in events:
            text = json.dumps([event.action, event.object_type, event.object_id, event.detail,
                               event.ip_hash], ensure_ascii=False)
            assert "@" not in text, text
            assert "127.0.0.1" not in text
            assert "canary" not in text.lower()
            assert all(code not in text for code in codes)
