"""Helpers for the admin and security tests: accounts of each role, real sign-ins, tokens, and
a walk over every route of the app with made-up arguments (random public ids)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.routing import Rule
from werkzeug.routing.converters import (
    AnyConverter,
    IntegerConverter,
    PathConverter,
    UUIDConverter,
)

from campaign.admin import services as accounts
from campaign.admin.models import AuditEvent, Organiser, Role
from campaign.extensions import db

PASSWORD = "correct horse battery staple"
ROLES = (Role.ADMIN, Role.ORGANISER, Role.TRANSLATOR, Role.VIEWER)
CSRF_PATTERNS = (
    re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"'),
    re.compile(r'name="csrf_token" value="([^"]+)"'),
    re.compile(r'name="[\w-]*csrf_token" type="hidden" value="([^"]+)"'),
)


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    secret: str | None
    public_id: str
    role: Role

    def totp(self, when: datetime | None = None) -> str:
        assert self.secret
        return pyotp.TOTP(self.secret).at(when or datetime.now(UTC))


def make_account(app: Flask, email: str | None = None, role: Role = Role.ORGANISER, *,
                 enrolled: bool = True, password: str = PASSWORD) -> Account:
    email = email or f"{role.value}@example.org"
    with app.app_context():
        organiser = accounts.create_organiser(db.session, email, role, password=password)
        organiser.password_temporary = False
        secret = None
        if enrolled:
            secret = accounts.start_enrolment(organiser)
            past = datetime.now(UTC) - timedelta(minutes=5)
            assert accounts.confirm_enrolment(organiser, pyotp.TOTP(secret).at(past), past)
        db.session.commit()
        return Account(email, password, secret, organiser.public_id, role)


def allow_next_code(app: Flask, account: Account) -> None:
    """Forget the last accepted TOTP step, so the current code works again (a test that is not
    about replay needs several codes within one 30-second window)."""
    with app.app_context():
        organiser = organiser_of(account)
        organiser.totp_last_step = None
        db.session.commit()


def organiser_of(account: Account) -> Organiser:
    return db.session.scalars(
        select(Organiser).where(Organiser.public_id == account.public_id)).one()


def csrf(client: FlaskClient, path: str = "/admin/login") -> str:
    html = client.get(path).get_data(as_text=True)
    token = find_csrf(html)
    assert token, f"no CSRF token on {path}"
    return token


def find_csrf(html: str) -> str | None:
    for pattern in CSRF_PATTERNS:
        match = pattern.search(html)
        if match:
            return match.group(1)
    return None


def password_step(client: FlaskClient, account: Account, password: str | None = None,
                  **kwargs: Any) -> Any:
    token = csrf(client, "/admin/login")
    return client.post("/admin/login", data={"csrf_token": token, "email": account.email,
                                             "password": password or account.password},
                       **kwargs)


def sign_in(client: FlaskClient, account: Account, code: str | None = None) -> Any:
    response = password_step(client, account)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "/admin/login/code" in response.headers["Location"]
    token = csrf(client, "/admin/login/code")
    done = client.post("/admin/login/code",
                       data={"csrf_token": token, "code": code or account.totp()})
    assert done.status_code == 302, done.get_data(as_text=True)
    return done


def signed_in(app: Flask, account: Account) -> FlaskClient:
    client = app.test_client()
    allow_next_code(app, account)
    sign_in(client, account)
    return client


def age_totp(client: FlaskClient, seconds: int = 6 * 60) -> None:
    """Make the session's last code entry older than the fresh-TOTP window."""
    with client.session_transaction() as session:
        session["totp_at"] = int(session["totp_at"]) - seconds


def row_counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            table.name: int(db.session.scalar(select(func.count()).select_from(table)) or 0)
            for table in db.metadata.sorted_tables
        }


def audit_actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


# --- every route of the app ----------------------------------------------------------

# Reachable by anyone, by design: the public site and its feature blueprints (names not
# starting with "admin"), static files, the "/" redirect.
PUBLIC_ENDPOINTS = frozenset({"static", "root"})


@dataclass(frozen=True)
class Route:
    rule: Rule
    url: str
    methods: frozenset[str]

    @property
    def endpoint(self) -> str:
        return self.rule.endpoint

    @property
    def blueprint(self) -> str:
        return self.rule.endpoint.rpartition(".")[0]


def is_protected(rule: Rule) -> bool:
    """Must declare a permission (or be marked public_route): every admin blueprint, and any
    rule under /admin whatever blueprint it belongs to."""
    if rule.rule.startswith("/admin"):
        return True
    if rule.endpoint in PUBLIC_ENDPOINTS:
        return False
    return rule.endpoint.rpartition(".")[0].startswith("admin")


def _value(name: str, converter: Any) -> Any:
    if name == "lang":
        return "en"
    if isinstance(converter, IntegerConverter):
        return 1
    if isinstance(converter, UUIDConverter):
        return uuid.uuid4()
    if isinstance(converter, AnyConverter):
        return next(iter(converter.items))  # type: ignore[attr-defined]
    if isinstance(converter, PathConverter):
        return "nothing-here.txt"
    return uuid.uuid4().hex  # a public id that exists nowhere


def routes(app: Flask) -> Iterator[Route]:
    for rule in app.url_map.iter_rules():
        values = {name: _value(name, conv) for name, conv in rule._converters.items()}
        built = rule.build(values, append_unknown=False)
        assert built is not None, rule
        methods = frozenset((rule.methods or set()) - {"HEAD", "OPTIONS"})
        yield Route(rule, built[1], methods)


def permission_of(app: Flask, endpoint: str) -> Any:
    return getattr(app.view_functions[endpoint], "permission", "missing")
