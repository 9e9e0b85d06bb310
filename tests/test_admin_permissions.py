"""Every view declares the permission it needs, and every role is refused what its permissions
do not cover, whatever id it puts in the URL. Generic: routes other features add are walked
too."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing.converters import IntegerConverter

from campaign.admin.models import Role
from campaign.admin.permissions import Permission, allowed
from tests.admin_support import (
    ROLES,
    csrf,
    is_protected,
    make_account,
    permission_of,
    routes,
    signed_in,
)

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


@pytest.fixture
def clients(app: Flask) -> dict[Role, FlaskClient]:
    return {role: signed_in(app, make_account(app, role=role)) for role in ROLES}


def test_every_admin_view_declares_its_permission(app: Flask) -> None:
    undeclared = [
        r.endpoint for r in routes(app)
        if is_protected(r.rule) and permission_of(app, r.endpoint) == "missing"
    ]
    assert undeclared == []
    declared = {permission_of(app, r.endpoint) for r in routes(app) if is_protected(r.rule)}
    assert declared - {None} <= set(Permission)


def test_no_admin_url_takes_a_sequential_id(app: Flask) -> None:
    sequential = [
        r.rule.rule for r in routes(app)
        if is_protected(r.rule)
        and any(isinstance(c, IntegerConverter) for c in r.rule._converters.values())
    ]
    assert sequential == []


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_each_role_is_refused_every_route_its_permissions_do_not_cover(
    app: Flask, clients: dict[Role, FlaskClient], role: Role
) -> None:
    client = clients[role]
    token = csrf(client, "/admin/")
    checked = 0
    for route in routes(app):
        permission = permission_of(app, route.endpoint)
        if not is_protected(route.rule) or permission in (None, "missing"):
            continue
        if allowed(role.value, permission):
            continue
        for method in sorted(route.methods & {"GET", "POST"}):
            response = client.open(route.url, method=method,
                                   data={"csrf_token": token} if method == "POST" else None)
            assert response.status_code == 403, (role, method, route.url)
            checked += 1
    if role is not Role.ADMIN:
        assert checked > 0
    assert client.get("/admin/").status_code == 200  # still signed in after all that


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_each_role_opens_the_pages_its_permissions_cover(
    app: Flask, clients: dict[Role, FlaskClient], role: Role
) -> None:
    client = clients[role]
    for route in routes(app):
        permission = permission_of(app, route.endpoint)
        if (not is_protected(route.rule) or permission in (None, "missing")
                or route.rule.arguments or "GET" not in route.methods
                or not allowed(role.value, permission)):
            continue
        response = client.get(route.url)
        assert response.status_code == 200, (role, route.url, response.status_code)


def test_signed_out_visitors_are_sent_to_the_sign_in_page(app: Flask) -> None:
    client = app.test_client()
    token = csrf(client, "/admin/login")
    for route in routes(app):
        permission = permission_of(app, route.endpoint)
        if not is_protected(route.rule) or permission in (None, "missing"):
            continue
        for method in sorted(route.methods & {"GET", "POST"}):
            response = client.open(route.url, method=method,
                                   data={"csrf_token": token} if method == "POST" else None)
            assert response.status_code == 302, (method, route.url)
            assert response.headers["Location"].startswith("/admin/login"), route.url


@pytest.mark.parametrize("role", [Role.TRANSLATOR, Role.VIEWER], ids=lambda r: r.value)
def test_translators_and_viewers_see_no_email_address_on_any_page(
    app: Flask, clients: dict[Role, FlaskClient], role: Role
) -> None:
    client = clients[role]
    for route in routes(app):
        permission = permission_of(app, route.endpoint)
        if (not is_protected(route.rule) or permission in (None, "missing")
                or "GET" not in route.methods or not allowed(role.value, permission)):
            continue
        html = client.get(route.url).get_data(as_text=True)
        assert EMAIL.findall(html) == [], (role, route.url)


def test_an_organiser_cannot_reach_account_management_by_editing_an_id(app: Flask) -> None:
    admin = make_account(app, "admin@example.org", Role.ADMIN)
    organiser = make_account(app, "organiser@example.org", Role.ORGANISER)
    client = signed_in(app, organiser)
    token = csrf(client, "/admin/")
    for path in (f"/admin/organisers/{admin.public_id}/role",
                 f"/admin/organisers/{admin.public_id}/disable",
                 f"/admin/organisers/{organiser.public_id}/role"):
        answer = client.post(path, data={"csrf_token": token, f"role-{admin.public_id}-role":
                                         "admin", "role": "admin"})
        assert answer.status_code == 403
