"""Request facts that need care: the client address behind trusted proxies."""

from __future__ import annotations

from flask import request


def client_ip() -> str:
    """The client's address as seen after ProxyFix (configured by TRUSTED_PROXIES)."""
    return request.remote_addr or "0.0.0.0"  # noqa: S104 - a key, not a bind address
