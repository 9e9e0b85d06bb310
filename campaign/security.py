"""Security plumbing shared by every blueprint: headers, CSP nonces, safe redirects, tokens.

Authentication decorators live in ``campaign.admin.auth``; this module owns nothing that needs
the database.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
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


def is_private_path(path: str) -> bool:
    """Admin and personal pages: never cached anywhere."""
    return path.startswith(("/admin", "/api")) or "/preferences" in path or "/confirm" in path


def set_security_headers(response: Response) -> Response:
    config: Config = current_app.extensions["campaign.config"]
    # A view may set its own, stricter policy (the sandboxed mail preview does).
    if "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = content_security_policy(csp_nonce())
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = (
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
    )
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


def init_app(app: Flask) -> None:
    app.after_request(set_security_headers)

    @app.context_processor
    def inject_nonce() -> dict[str, object]:
        return {"csp_nonce": csp_nonce}
