"""Every state-changing route refuses a request without a CSRF token, or from another site's
Origin even with a valid token, and the database is left exactly as it was. The only
exceptions are endpoints marked ``csrf.exempt`` (the RFC 8058 one-click unsubscribe, which a
mail provider posts without cookies)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from campaign.admin.models import Role
from campaign.extensions import db
from campaign.security import csrf_exempt
from tests.admin_support import Route, csrf, make_account, routes, signed_in


def snapshot(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: a refused request must not change a single value."""
    with app.app_context():
        return {
            table.name: sorted((tuple(row) for row in db.session.execute(select(table))),
                               key=repr)
            for table in db.metadata.sorted_tables
        }


def state_changing(app: Flask) -> list[Route]:
    found = [r for r in routes(app) if r.methods & {"POST", "PUT", "PATCH", "DELETE"}]
    assert found
    return found


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    client = signed_in(app, make_account(app, "admin@example.org", Role.ADMIN))
    make_account(app, "someone@example.org", Role.VIEWER)
    return client


def test_no_admin_route_is_exempt_from_csrf(app: Flask) -> None:
    exempt = [r.endpoint for r in routes(app) if csrf_exempt(app, r.endpoint)]
    assert not [e for e in exempt if e.startswith("admin") or "/admin" in e]


def test_every_state_changing_route_refuses_a_missing_token_and_changes_nothing(
    app: Flask, admin: FlaskClient
) -> None:
    before = snapshot(app)
    for route in state_changing(app):
        if csrf_exempt(app, route.endpoint):
            continue
        for method in sorted(route.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            response = admin.open(route.url, method=method,
                                  data={"email": "x@example.org", "lang": "ru"})
            assert response.status_code in (400, 302, 303), (method, route.url)
            if response.status_code == 400:
                assert "form had expired" in response.get_data(as_text=True)
            assert snapshot(app) == before, route.url
    assert admin.get("/admin/").status_code == 200


def test_a_foreign_origin_is_refused_even_with_a_valid_token(
    app: Flask, admin: FlaskClient
) -> None:
    token = csrf(admin, "/admin/")
    before = snapshot(app)
    for origin in ("https://evil.example", "null", "http://127.0.0.1:5000.evil.example"):
        for route in state_changing(app):
            if csrf_exempt(app, route.endpoint):
                continue
            response = admin.post(route.url, data={"csrf_token": token, "lang": "ru"},
                                  headers={"Origin": origin})
            assert response.status_code == 400, (origin, route.url)
            assert snapshot(app) == before, route.url
    assert admin.get("/admin/").status_code == 200


def test_the_sites_own_origin_is_accepted(app: Flask, admin: FlaskClient) -> None:
    token = csrf(admin, "/admin/")
    for origin in ("http://127.0.0.1:5000", "http://localhost"):  # BASE_URL, the request host
        response = admin.post("/admin/language", headers={"Origin": origin},
                              data={"csrf_token": token, "lang": "ru", "next": "/admin/"})
        assert response.status_code == 302, origin


def test_csrf_exempt_endpoints_are_recognised(app: Flask) -> None:
    from campaign.extensions import csrf as protect

    def hook() -> str:
        return "ok"

    protect.exempt(hook)
    try:
        app.add_url_rule("/hook", "hook", hook, methods=["POST"])
        assert csrf_exempt(app, "hook")
        assert not csrf_exempt(app, "admin.logout")
        response = app.test_client().post("/hook",
                                          headers={"Origin": "https://elsewhere.example"})
        assert response.status_code == 200
    finally:
        protect._exempt_views.discard(f"{hook.__module__}.{hook.__name__}")
