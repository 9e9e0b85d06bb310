"""Site settings changed at run time, and the emergency lockdown.

A lockdown (an administrator suspects an account or the server is compromised) ends every
session of every organiser at once, lets only administrators sign in, and makes
:func:`exports_allowed` false until an administrator lifts it with a fresh TOTP code.
Features that export personal data must check ``exports_allowed()`` before doing so.
Functions flush and never commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from campaign.admin import services as accounts
from campaign.admin.models import Organiser, Setting
from campaign.db import SessionLike, utcnow
from campaign.extensions import db

LOCKDOWN = "lockdown"


def get_setting(session: SessionLike, key: str) -> str | None:
    row = session.get(Setting, key)
    return row.value if row is not None else None


def set_setting(session: SessionLike, key: str, value: str, actor: Organiser | None,
                now: datetime | None = None) -> None:
    row = session.get(Setting, key)
    if row is None:
        row = Setting(key=key, value=value)
        session.add(row)
    row.value = value
    row.updated_at = now or utcnow()
    row.updated_by = actor.id if actor is not None else None
    session.flush()


def lockdown_active(session: SessionLike | None = None) -> bool:
    return get_setting(session if session is not None else db.session, LOCKDOWN) == "on"


def exports_allowed(session: SessionLike | None = None) -> bool:
    """False during a lockdown: no subscriber, signer or other personal-data export."""
    return not lockdown_active(session)


def end_every_session(session: SessionLike) -> None:
    session.execute(
        update(Organiser)
        .values(session_generation=Organiser.session_generation + 1)
        .execution_options(synchronize_session=False)
    )
    for obj in list(session.identity_map.values()):  # keep loaded accounts in step
        if isinstance(obj, Organiser):
            session.expire(obj, ["session_generation"])


def start_lockdown(session: SessionLike, actor: Organiser | None, ip: str | None = None) -> None:
    set_setting(session, LOCKDOWN, "on", actor)
    end_every_session(session)
    accounts.audit(session, "lockdown.started", actor=actor, ip=ip)


def lift_lockdown(session: SessionLike, actor: Organiser, ip: str | None = None) -> None:
    set_setting(session, LOCKDOWN, "off", actor)
    accounts.audit(session, "lockdown.lifted", actor=actor, ip=ip)
