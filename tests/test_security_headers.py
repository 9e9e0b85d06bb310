"""Security headers on every response (pages, redirects, errors, static files), cookies that
scripts and other sites cannot use, and no version banner."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from campaign.admin.models import Role
from campaign.security import content_security_policy
from tests.admin_support import csrf, make_account, routes, signed_in

ROOT = Path(__file__).resolve().parent.parent
OWN_TEMPLATES = [*(ROOT / "templates" / "admin").glob("*.html"),
                 *(ROOT / "templates" / "errors").glob("*.html")]


def directives(response: TestResponse) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    parts = (p.strip().split(None, 1) for p in policy.split(";") if p.strip())
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


def assert_secure_headers(response: TestResponse, where: str) -> None:
    csp = directives(response)
    assert csp["default-src"] in ("'self'", "'none'"), where
    for name in ("script-src", "style-src", "default-src"):
        value = csp.get(name, "")
        assert "'unsafe-eval'" not in value, where
        assert "http" not in value and "*" not in value, where
    assert "'unsafe-inline'" not in csp.get("script-src", ""), where
    assert csp["frame-ancestors"] in ("'none'", "'self'"), where
    assert "form-action" in csp or csp["default-src"] == "'none'", where
    assert response.headers["X-Content-Type-Options"] == "nosniff", where
    assert response.headers["Referrer-Policy"] == "same-origin", where
    assert "camera=()" in response.headers["Permissions-Policy"], where
    assert "Server" not in response.headers, where


def test_the_policy_allows_nothing_from_elsewhere_and_no_inline_script() -> None:
    policy = content_security_policy("abc")
    assert "default-src 'self'" in policy
    assert "script-src 'self' 'nonce-abc'" in policy
    assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
    assert "object-src 'none'" in policy and "base-uri 'none'" in policy
    assert "unsafe" not in policy and "http" not in policy


def test_every_route_answers_with_the_security_headers(app: Flask) -> None:
    """Signed in as an administrator and signed out, every GET of every route, whatever it
    answers (page, redirect, 403, 404), carries the headers."""
    admin = signed_in(app, make_account(app, role=Role.ADMIN))
    anonymous = app.test_client()
    seen = set()
    for client in (admin, anonymous):
        for route in routes(app):
            if "GET" not in route.methods:
                continue
            response = client.get(route.url)
            assert_secure_headers(response, route.url)
            if route.url.startswith("/admin"):
                assert response.headers["Cache-Control"] == "no-store", route.url
            seen.add(response.status_code)
    assert {200, 302, 404} <= seen


def test_error_responses_and_static_files_carry_the_headers_too(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()

    def boom() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/boom", "boom", boom)
    client = app.test_client()
    responses = {
        "404": client.get("/en/no-such-page"),
        "404 admin": client.get("/admin/no-such-page"),
        "405": client.put("/admin/login"),
        "400 csrf": client.post("/admin/login", data={"email": "x"}),
        "413": client.post("/admin/login", data={"x": "y" * (3 * 1024 * 1024)}),
        "500": client.get("/boom"),
        "static": client.get("/static/css/site.css"),
        "static 404": client.get("/static/nothing.css"),
        "redirect": client.get("/"),
    }
    for name, response in responses.items():
        assert_secure_headers(response, name)
    assert responses["500"].status_code == 500
    assert "a bug" not in responses["500"].get_data(as_text=True)
    assert responses["static"].status_code == 200
    assert responses["404 admin"].headers["Cache-Control"] == "no-store"
    for response in responses.values():
        response.close()


def test_each_response_has_its_own_nonce(app: Flask) -> None:
    client = app.test_client()
    first, second = client.get("/admin/login"), client.get("/admin/login")
    nonce = re.compile(r"'nonce-([^']+)'")
    a = nonce.findall(first.headers["Content-Security-Policy"])
    b = nonce.findall(second.headers["Content-Security-Policy"])
    assert a and b and a[0] != b[0] and len(a[0]) >= 16


@pytest.mark.parametrize("path", OWN_TEMPLATES, ids=lambda p: p.name)
def test_admin_and_error_templates_have_no_inline_script_style_or_remote_resource(
    path: Path,
) -> None:
    text = path.read_text(encoding="utf-8")
    for match in re.finditer(r"<(script|style)\b[^>]*>", text):
        assert "nonce" in match.group(0), (path.name, match.group(0))
    assert not re.search(r"\sstyle=", text), path.name
    assert not re.search(r"\son[a-z]+=", text), path.name
    assert not re.search(r"(src|href)=\"(https?:)?//", text), path.name


def test_hsts_and_host_prefixed_secure_cookies_when_the_site_is_https(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(BASE_URL="https://campaign.example.org")
    response = app.test_client().get("/admin/login", base_url="https://campaign.example.org")
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    cookie = response.headers["Set-Cookie"]  # the session, holding the CSRF secret
    assert cookie.startswith("__Host-session=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite", "path"} <= attributes
    assert "domain" not in attributes
    assert "SameSite=Lax" in cookie and "Path=/" in cookie


def test_no_hsts_and_plain_cookies_over_http_in_development(app: Flask,
                                                           client: FlaskClient) -> None:
    response = client.get("/admin/login")
    assert "Strict-Transport-Security" not in response.headers
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_the_session_cookie_changes_at_sign_in(app: Flask) -> None:
    account = make_account(app)
    client = app.test_client()
    csrf(client, "/admin/login")
    before = client.get_cookie("session")
    assert before is not None
    signed = signed_in(app, account)
    after = signed.get_cookie("session")
    assert after is not None and after.value != before.value
