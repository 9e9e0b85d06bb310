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
# A password spray: this many failed sign-ins from one address within the window, across any
# accounts, and that address (only) is refused until the window has passed.
IP_FAILURE_LIMIT = 10
IP_WINDOW = timedelta(minutes=15)
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
    The count is only cleared when the second factor passes too (:func:`clear_failures`), so
    knowing the password does not reset the wait for someone guessing TOTP codes.
    """
    organiser = find_by_email(session, email)
    if organiser is None or organiser.password_hash is None:
        _verify(_DUMMY_HASH, password)
        return None
    if is_locked(organiser, now) or not organiser.active:
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(organiser.password_hash, password):
        record_failure(organiser, now)
        session.flush()
        return None
    if _hasher.check_needs_rehash(organiser.password_hash):
        organiser.password_hash = _hasher.hash(password)
    session.flush()
    return organiser


def record_failure(organiser: Organiser, now: datetime) -> None:
    """A wrong password or a wrong second factor: throttle this account after LOCK_AFTER."""
    organiser.failed_logins = (organiser.failed_logins or 0) + 1
    if organiser.failed_logins >= LOCK_AFTER:
        minutes = min(2 ** min(organiser.failed_logins - LOCK_AFTER, 6), 60)
        organiser.locked_until = now + timedelta(minutes=minutes)


def clear_failures(organiser: Organiser) -> None:
    organiser.failed_logins = 0
    organiser.locked_until = None


def ip_throttled(session: SessionLike, ip: str | None, now: datetime) -> bool:
    """True when this address failed to sign in IP_FAILURE_LIMIT times within IP_WINDOW,
    whichever accounts it tried: a password spray is caught per address, and nobody else is
    locked out. The audit log is the record counted (failed sign-ins are always audited)."""
    digest = ip_hash(ip)
    if digest is None:
        return False
    failures = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.ip_hash == digest,
            AuditEvent.action == "login.failed",
            AuditEvent.at >= now - IP_WINDOW,
        )
    )
    return int(failures or 0) >= IP_FAILURE_LIMIT


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
    end_all_sessions(organiser)


def end_all_sessions(organiser: Organiser) -> None:
    """Every session of this account stops at its next request (see ``auth.load_organiser``)."""
    organiser.session_generation = (organiser.session_generation or 0) + 1


# --- accounts managed by an administrator ----------------------------------------------------


def find_by_public_id(session: SessionLike, oid: str) -> Organiser | None:
    return session.scalar(select(Organiser).where(Organiser.public_id == oid))


def _active_admins(session: SessionLike) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Organiser)
            .where(Organiser.role == Role.ADMIN.value, Organiser.active.is_(True))
        )
        or 0
    )


def _check_not_self_or_last_admin(session: SessionLike, target: Organiser,
                                  actor: Organiser) -> None:
    if target.id == actor.id:
        raise AccountError("self")
    if target.role == Role.ADMIN.value and target.active and _active_admins(session) <= 1:
        raise AccountError("last_admin")


def change_role(session: SessionLike, target: Organiser, role: Role, actor: Organiser) -> str:
    """Give ``target`` another role; returns the old one. Nobody changes their own role, and
    the last active administrator stays one."""
    old = target.role
    if old == role.value:
        return old
    if role is not Role.ADMIN:
        _check_not_self_or_last_admin(session, target, actor)
    elif target.id == actor.id:
        raise AccountError("self")
    target.role = role.value
    session.flush()
    return old


def disable(session: SessionLike, target: Organiser, actor: Organiser) -> None:
    """Pause an account: it cannot sign in and every one of its sessions ends now."""
    _check_not_self_or_last_admin(session, target, actor)
    target.active = False
    end_all_sessions(target)
    session.flush()


def enable(session: SessionLike, target: Organiser) -> None:
    target.active = True
    clear_failures(target)
    session.flush()


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
    end_all_sessions(organiser)
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
    end_all_sessions(organiser)


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
