"""Rules for organiser accounts: passwords, TOTP, invitations, the audit log.

Functions flush and never commit; the view or command that calls them commits.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app
from sqlalchemy import func, select

from campaign.addresses import normalise
from campaign.admin.models import AuditEvent, Organiser, Role
from campaign.db import SessionLike, public_id, utcnow
from campaign.extensions import blind_index, cipher

TABLE = "organisers"
PASSWORD_MIN = 14
PASSWORD_MAX = 128
LOCK_AFTER = 5  # consecutive failures before the account is throttled
TOTP_ISSUER = "Campaign mailer"

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the address is unknown, so both cases cost the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(24))


class AccountError(ValueError):
    """A rule was broken; ``code`` names which, for the view to translate."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _hasher.hash(password)


def check_password_rules(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise AccountError("password_short")
    if len(password) > PASSWORD_MAX:
        raise AccountError("password_long")


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def email_of(organiser: Organiser) -> str:
    return cipher().decrypt(organiser.email_enc, table=TABLE, column="email",
                            row=organiser.public_id)


def find_by_email(session: SessionLike, email: str) -> Organiser | None:
    try:
        address = normalise(email)
    except ValueError:
        return None
    digest = blind_index().digest(address, purpose="organiser-email")
    return session.scalar(select(Organiser).where(Organiser.email_index == digest))


def count_organisers(session: SessionLike) -> int:
    return int(session.scalar(select(func.count()).select_from(Organiser)) or 0)


def create_organiser(
    session: SessionLike,
    email: str,
    role: Role = Role.ORGANISER,
    *,
    password: str | None = None,
    locale: str = "en",
) -> Organiser:
    """A new account. With a password it is temporary: it must be changed at first login."""
    address = normalise(email)
    if find_by_email(session, address) is not None:
        raise AccountError("exists")
    pid = public_id()
    organiser = Organiser(
        public_id=pid,
        email_enc=cipher().encrypt(address, table=TABLE, column="email", row=pid),
        email_index=blind_index().digest(address, purpose="organiser-email"),
        role=role.value,
        locale=locale,
        password_hash=_hasher.hash(password) if password else None,
        password_temporary=password is not None,
        session_generation=1,
        failed_logins=0,
        active=True,
    )
    session.add(organiser)
    session.flush()
    return organiser


def is_locked(organiser: Organiser, now: datetime) -> bool:
    return organiser.locked_until is not None and organiser.locked_until > now


def authenticate(
    session: SessionLike, email: str, password: str, now: datetime
) -> Organiser | None:
    """The account when the password is right, it is active and not throttled; else None.

    Failures are counted per account: after LOCK_AFTER in a row the account waits a growing
    time (1, 2, 4 … 60 minutes) before the next try counts. Other accounts are unaffected.
    """
    organiser = find_by_email(session, email)
    if organiser is None or organiser.password_hash is None:
        _verify(_DUMMY_HASH, password)
        return None
    if is_locked(organiser, now) or not organiser.active:
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(organiser.password_hash, password):
        organiser.failed_logins += 1
        if organiser.failed_logins >= LOCK_AFTER:
            minutes = min(2 ** (organiser.failed_logins - LOCK_AFTER), 60)
            organiser.locked_until = now + timedelta(minutes=minutes)
        session.flush()
        return None
    organiser.failed_logins = 0
    organiser.locked_until = None
    if _hasher.check_needs_rehash(organiser.password_hash):
        organiser.password_hash = _hasher.hash(password)
    session.flush()
    return organiser


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_password(organiser: Organiser, password: str) -> bool:
    return organiser.password_hash is not None and _verify(organiser.password_hash, password)


def set_password(organiser: Organiser, password: str) -> None:
    """A new password ends every other session of the account."""
    organiser.password_hash = hash_password(password)
    organiser.password_temporary = False
    organiser.session_generation += 1


# --- TOTP ------------------------------------------------------------------------------------


def _totp_secret(organiser: Organiser, column: str) -> str | None:
    blob = getattr(organiser, f"{column}_enc")
    if blob is None:
        return None
    return cipher().decrypt(blob, table=TABLE, column=column, row=organiser.public_id)


def start_enrolment(organiser: Organiser) -> str:
    """A pending secret, kept encrypted in the database (never in the session cookie)."""
    secret = _totp_secret(organiser, "totp_pending")
    if secret is None:
        secret = pyotp.random_base32()
        organiser.totp_pending_enc = cipher().encrypt(
            secret, table=TABLE, column="totp_pending", row=organiser.public_id
        )
    return secret


def provisioning_uri(organiser: Organiser, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email_of(organiser), issuer_name=TOTP_ISSUER)


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    step = int(now.timestamp()) // totp.interval
    for candidate in (step, step - 1, step + 1):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def confirm_enrolment(organiser: Organiser, code: str, now: datetime) -> bool:
    secret = _totp_secret(organiser, "totp_pending")
    if secret is None:
        return False
    step = _matching_step(secret, code, now)
    if step is None:
        return False
    # Re-encrypted for its new column: a ciphertext is bound to one table, column and row.
    organiser.totp_secret_enc = cipher().encrypt(
        secret, table=TABLE, column="totp_secret", row=organiser.public_id
    )
    organiser.totp_pending_enc = None
    organiser.totp_last_step = step
    organiser.session_generation += 1
    return True


def verify_totp(organiser: Organiser, code: str, now: datetime) -> bool:
    """A valid code for the current window, never one already used (replay refused)."""
    secret = _totp_secret(organiser, "totp_secret")
    if secret is None:
        return False
    step = _matching_step(secret, code, now)
    if step is None or (organiser.totp_last_step is not None and step <= organiser.totp_last_step):
        return False
    organiser.totp_last_step = step
    return True


# --- invitations -----------------------------------------------------------------------------


def start_invitation(organiser: Organiser) -> str:
    """A fresh single-use nonce for the invitation link; any older link stops working."""
    organiser.invite_nonce = secrets.token_urlsafe(24)
    return organiser.invite_nonce


def accept_invitation(organiser: Organiser, nonce: str, password: str) -> None:
    if not organiser.invite_nonce or not hmac.compare_digest(organiser.invite_nonce, nonce):
        raise AccountError("invite_used")
    organiser.password_hash = hash_password(password)
    organiser.password_temporary = False
    organiser.invite_nonce = None
    organiser.session_generation += 1


# --- audit -----------------------------------------------------------------------------------


def ip_hash(ip: str | None) -> str | None:
    if not ip:
        return None
    return blind_index().digest(ip, purpose="ip").hex()[:32]


def audit(
    session: SessionLike,
    action: str,
    *,
    actor: Organiser | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        detail=detail or {},
        ip_hash=ip_hash(ip),
    )
    session.add(event)
    session.flush()
    return event


def base_url() -> str:
    return str(current_app.extensions["campaign.config"].base_url)
