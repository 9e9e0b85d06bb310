"""Security plumbing shared by every blueprint: headers, CSP nonces, the Origin check on
state-changing requests, safe redirects, tokens.

Authentication decorators live in ``campaign.admin.auth``; this module owns nothing that needs
the database.

Every response, error pages and static files included, carries the headers set by
:func:`set_security_headers` (an ``after_request`` hook runs for error handlers' responses
too). The CSP allows nothing from another origin: no CDN, font, analytics or image host; no
inline script or style without the response's nonce; no ``eval``; no framing by anyone.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from flask_wtf.csrf import CSRFError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from config import Config


def csp_nonce() -> str:
    """The per-response nonce for the (rare) inline script or style a page needs."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = secrets.token_urlsafe(16)
        g.csp_nonce = nonce
    return str(nonce)


def content_security_policy(nonce: str) -> str:
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "frame-src 'self'",
        )
    )


# Features the site never uses, switched off for it and anything it could embed.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media",
        "fullscreen", "geolocation", "gyroscope", "magnetometer", "microphone", "midi",
        "payment", "picture-in-picture", "publickey-credentials-get", "screen-wake-lock",
        "serial", "usb", "xr-spatial-tracking",
    )
)


def is_private_path(path: str) -> bool:
    """Admin and personal pages (and the one-click unsubscribe, whose URL is a personal
    token): never cached anywhere."""
    return (path.startswith(("/admin", "/api", "/u/")) or "/preferences" in path
            or "/confirm" in path)


def set_security_headers(response: Response) -> Response:
    config: Config = current_app.extensions["campaign.config"]
    # A view may set its own, stricter policy (the sandboxed mail preview does).
    if "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = content_security_policy(csp_nonce())
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = PERMISSIONS_POLICY
    if config.https:
        response.headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    if is_private_path(request.path):
        response.headers["Cache-Control"] = "no-store"
    response.headers.pop("Server", None)
    return response


def is_safe_next(target: str | None) -> bool:
    """Only local absolute paths: refuses //host, /\\host, scheme:…, and encoded forms."""
    if not target or not target.startswith("/"):
        return False
    if target.startswith(("//", "/\\")) or "\\" in target:
        return False
    if any(ch in target for ch in "\r\n\t\x00") or "%5c" in target.lower():
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_next(target: str | None, default: str) -> str:
    return target if target is not None and is_safe_next(target) else default


class TokenError(Exception):
    """A signed link is invalid (``expired`` says whether it was only too old)."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def _serializer(key: bytes | str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=f"campaign:{purpose}")


def sign_link(payload: Any, purpose: str) -> str:
    """A long-lived link token (preferences, unsubscribe) signed with LINK_KEY, not SECRET_KEY."""
    config: Config = current_app.extensions["campaign.config"]
    return _serializer(config.link_key, purpose).dumps(payload)


def read_link(token: str, purpose: str, max_age: int | None = None) -> Any:
    config: Config = current_app.extensions["campaign.config"]
    try:
        return _serializer(config.link_key, purpose).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenError(expired=True) from exc
    except BadSignature as exc:
        raise TokenError() from exc


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def csrf_exempt(app: Flask, endpoint: str | None) -> bool:
    """Whether Flask-WTF's CSRFProtect was told to skip this endpoint (``csrf.exempt``), as
    the RFC 8058 one-click unsubscribe is: a mail provider posts it without cookies."""
    if not endpoint:
        return False
    csrf = app.extensions.get("csrf")
    if csrf is None:
        return False
    blueprint = endpoint.rpartition(".")[0]
    if app.blueprints.get(blueprint) in getattr(csrf, "_exempt_blueprints", set()):
        return True
    view = app.view_functions.get(endpoint)
    if view is None:
        return False
    return f"{view.__module__}.{view.__name__}" in getattr(csrf, "_exempt_views", set())


def check_origin() -> None:
    """A state-changing request whose ``Origin`` header names another site is refused, even
    with a valid CSRF token. Runs after CSRFProtect's own check; skips what it exempts.

    Accepted: BASE_URL's origin, and the origin the request itself was addressed to (a
    browser cannot be made to send a Host header of another site, and cookies are per host).
    Refused: any other origin, and ``null`` (sandboxed frames, privacy-stripped redirects)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if request.method not in app.config.get("WTF_CSRF_METHODS", ()):
        return
    origin = request.headers.get("Origin")
    if origin is None or csrf_exempt(app, request.endpoint):
        return
    config: Config = app.extensions["campaign.config"]
    allowed = {origin_of(config.base_url), origin_of(request.host_url)}
    if origin.strip().lower() not in allowed:
        raise CSRFError("The request came from another site.")


def init_app(app: Flask) -> None:
    app.after_request(set_security_headers)
    # Registered after CSRFProtect's hook, so a missing token is reported first.
    app.before_request(check_origin)

    @app.context_processor
    def inject_nonce() -> dict[str, object]:
        return {"csp_nonce": csp_nonce}
