"""Who is signed in: the session check every admin request runs, and the permission decorators.

Sessions are signed cookies checked against the organiser's ``session_generation``: bumping it
(password or TOTP change, disabling, "sign out everywhere", a lockdown) ends every session at
once. A session also ends after IDLE_TIMEOUT without a request and ABSOLUTE_TIMEOUT after
login.

Every admin view declares what it needs: ``@auth.require(Permission.X)`` or, for the few pages
reached before signing in, ``@auth.public_route``. Dangerous acts add
``@auth.require_fresh_totp`` *below* ``require`` (so a role without the permission gets 403,
not a code prompt)::

    @bp.route("/thing/<thing_id>/export", methods=["POST"])
    @auth.require(Permission.EXPORT)
    @auth.require_fresh_totp
    def export(thing_id: str) -> Any: ...
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import abort, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from campaign.admin.models import Organiser
from campaign.admin.permissions import Permission, allowed
from campaign.extensions import db
from campaign.security import is_safe_next

IDLE_TIMEOUT = 30 * 60
ABSOLUTE_TIMEOUT = 12 * 3600
PENDING_TIMEOUT = 5 * 60  # between the password step and the TOTP step
FRESH_TOTP = 5 * 60  # how long a re-entered code covers dangerous acts

F = TypeVar("F", bound=Callable[..., Any])


def clock() -> int:
    """Seconds since the epoch; one place for tests to move time."""
    return int(time.time())


def begin_pending(organiser: Organiser) -> None:
    """Password accepted: the session may only reach the TOTP step, for a few minutes."""
    session.clear()
    session["pending_oid"] = organiser.public_id
    session["pending_at"] = clock()


def pending_organiser() -> Organiser | None:
    oid = session.get("pending_oid")
    started = session.get("pending_at", 0)
    if not oid or clock() - started > PENDING_TIMEOUT:
        return None
    organiser = db.session.scalar(select(Organiser).where(Organiser.public_id == oid))
    if organiser is None or not organiser.active:
        return None
    return organiser


def complete_login(organiser: Organiser) -> None:
    """Both factors passed: a fresh session (nothing carried over from before login)."""
    session.clear()
    now = clock()
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
    now = clock()
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


def current_organiser() -> Organiser | None:
    # Blueprints of other features may not run load_organiser themselves.
    if "organiser" not in g:
        load_organiser()
    organiser: Organiser | None = g.get("organiser")
    return organiser


def require(permission: Permission) -> Callable[[F], F]:
    """Refuse (redirect to login, or 403) unless the organiser's role has ``permission``."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            organiser = current_organiser()
            if organiser is None:
                return redirect(url_for("admin.login", next=_return_path()))
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


# --- fresh TOTP ------------------------------------------------------------------------------


def mark_totp_fresh() -> None:
    session["totp_at"] = clock()


def totp_is_fresh() -> bool:
    at = session.get("totp_at")
    return isinstance(at, int) and 0 <= clock() - at <= FRESH_TOTP


def require_fresh_totp(view: F) -> F:
    """A code from the authenticator app entered within FRESH_TOTP, or first the code page
    (``admin.reauth``), which returns to the page the act was started from."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_organiser() is None:
            return redirect(url_for("admin.login", next=_return_path()))
        if not totp_is_fresh():
            flash(_("Please enter a code from your authenticator app to confirm this step."),
                  "info")
            return redirect(url_for("admin.reauth", next=_return_path()))
        return view(*args, **kwargs)

    wrapped.fresh_totp = True  # type: ignore[attr-defined]
    return cast(F, wrapped)


def _return_path() -> str:
    """Where to come back to: this page for a GET; for a form, the page it was sent from (a
    POST cannot be replayed after a redirect)."""
    if request.method in ("GET", "HEAD"):
        return request.full_path.rstrip("?")
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host:
        path = referrer.path + (f"?{referrer.query}" if referrer.query else "")
        if is_safe_next(path):
            return path
    return url_for("admin.dashboard")
