"""Who is signed in: the session check every admin request runs, and the permission decorator.

Sessions are signed cookies checked against the organiser's ``session_generation``: bumping it
(password or TOTP change, disabling, "sign out everywhere") ends every session at once. A
session also ends after IDLE_TIMEOUT without a request and ABSOLUTE_TIMEOUT after login.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import abort, g, redirect, request, session, url_for
from sqlalchemy import select

from campaign.admin.models import Organiser
from campaign.admin.permissions import Permission, allowed
from campaign.extensions import db

IDLE_TIMEOUT = 30 * 60
ABSOLUTE_TIMEOUT = 12 * 3600
PENDING_TIMEOUT = 5 * 60  # between the password step and the TOTP step

F = TypeVar("F", bound=Callable[..., Any])


def begin_pending(organiser: Organiser) -> None:
    """Password accepted: the session may only reach the TOTP step, for a few minutes."""
    session.clear()
    session["pending_oid"] = organiser.public_id
    session["pending_at"] = int(time.time())


def pending_organiser() -> Organiser | None:
    oid = session.get("pending_oid")
    started = session.get("pending_at", 0)
    if not oid or time.time() - started > PENDING_TIMEOUT:
        return None
    organiser = db.session.scalar(select(Organiser).where(Organiser.public_id == oid))
    if organiser is None or not organiser.active:
        return None
    return organiser


def complete_login(organiser: Organiser) -> None:
    """Both factors passed: a fresh session (nothing carried over from before login)."""
    session.clear()
    now = int(time.time())
    session["oid"] = organiser.public_id
    session["gen"] = organiser.session_generation
    session["login_at"] = now
    session["seen_at"] = now
    session["totp_at"] = now
    session.permanent = True


def end_session() -> None:
    session.clear()


def load_organiser() -> None:
    """Before every admin request: g.organiser is the signed-in, valid account, or None."""
    g.organiser = None
    oid = session.get("oid")
    if not oid:
        return
    now = int(time.time())
    if now - session.get("login_at", 0) > ABSOLUTE_TIMEOUT or now - session.get(
        "seen_at", 0
    ) > IDLE_TIMEOUT:
        session.clear()
        return
    organiser = db.session.scalar(select(Organiser).where(Organiser.public_id == oid))
    if (
        organiser is None
        or not organiser.active
        or organiser.session_generation != session.get("gen")
        or not organiser.enrolled
    ):
        session.clear()
        return
    session["seen_at"] = now
    g.organiser = organiser


def require(permission: Permission) -> Callable[[F], F]:
    """Refuse (redirect to login, or 403) unless the organiser's role has ``permission``."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            organiser: Organiser | None = g.get("organiser")
            if organiser is None:
                return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
            if organiser.password_temporary and request.endpoint != "admin.password":
                return redirect(url_for("admin.password"))
            if not allowed(organiser.role, permission):
                abort(403)
            return view(*args, **kwargs)

        wrapped.permission = permission  # type: ignore[attr-defined]
        return cast(F, wrapped)

    return decorator


def public_route(view: F) -> F:
    """Marks an admin-blueprint view that needs no session (login steps, invitation)."""
    view.permission = None  # type: ignore[attr-defined]
    return view
