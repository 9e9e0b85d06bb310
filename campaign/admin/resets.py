"""Password reset by a single-use link that lives one hour.

The link proves control of the mailbox and nothing more: it sets a new password, ends every
session of the account, and never signs anyone in, so the TOTP step still follows. Only the
SHA-256 of the link's random token is stored. Functions flush and never commit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from campaign.admin import services as accounts
from campaign.admin.models import Organiser, PasswordReset
from campaign.db import SessionLike

LIFETIME = timedelta(hours=1)
# At most one reset mail per account in this time: the form cannot be used to flood a mailbox.
RESEND_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class ResetRequest:
    organiser: Organiser
    token: str  # goes into the mailed link only; never stored, logged or audited
    reset_id: int


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def request_reset(
    session: SessionLike, email: str, now: datetime
) -> ResetRequest | None:
    """A new reset token for the active account with this address, or None (unknown address,
    disabled or invitation-only account, or a link was sent moments ago). The caller gives the
    same answer in every case."""
    organiser = accounts.find_by_email(session, email)
    if organiser is None or not organiser.active or organiser.password_hash is None:
        return None
    recent = session.scalar(
        select(PasswordReset.id).where(
            PasswordReset.organiser_id == organiser.id,
            PasswordReset.used_at.is_(None),
            PasswordReset.created_at > now - RESEND_AFTER,
        )
    )
    if recent is not None:
        return None
    token = secrets.token_urlsafe(32)
    reset = PasswordReset(organiser_id=organiser.id, token_hash=_hash(token), created_at=now,
                          expires_at=now + LIFETIME)
    session.add(reset)
    session.flush()
    return ResetRequest(organiser, token, reset.id)


def find_valid(session: SessionLike, token: str, now: datetime) -> PasswordReset | None:
    if not token or len(token) > 128:
        return None
    reset = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == _hash(token)))
    if reset is None or reset.used_at is not None or reset.expires_at <= now:
        return None
    organiser = session.get(Organiser, reset.organiser_id)
    if organiser is None or not organiser.active:
        return None
    return reset


def complete_reset(
    session: SessionLike, token: str, password: str, now: datetime
) -> Organiser | None:
    """Set the new password through a valid link, once. Every link of the account stops
    working and every session ends. Raises ``AccountError`` for a password that breaks the
    rules (the link stays usable then); None when the link is not valid."""
    reset = find_valid(session, token, now)
    if reset is None:
        return None
    accounts.check_password_rules(password)
    claimed = session.execute(
        update(PasswordReset)
        .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return None
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.organiser_id == reset.organiser_id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    organiser = session.get(Organiser, reset.organiser_id)
    if organiser is None:  # pragma: no cover - the foreign key cascades
        return None
    accounts.set_password(organiser, password)  # also ends every session
    accounts.clear_failures(organiser)
    session.flush()
    return organiser
