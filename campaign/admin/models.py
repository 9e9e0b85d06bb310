"""Organiser accounts, their recovery codes and password resets, two-person approvals, site
settings (the lockdown switch) and the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from campaign.db import Base, PublicId, UTCDateTime, public_id, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    ORGANISER = "organiser"
    TRANSLATOR = "translator"
    VIEWER = "viewer"


class Organiser(Base):
    __tablename__ = "organisers"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PublicId, unique=True, default=public_id)
    # The address is personal data: encrypted, found through its keyed blind index.
    email_enc: Mapped[bytes] = mapped_column(LargeBinary)
    email_index: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    role: Mapped[str] = mapped_column(String(16), default=Role.ORGANISER.value)
    locale: Mapped[str] = mapped_column(String(5), default="en")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_temporary: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_pending_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The last TOTP time step accepted: a code is accepted once.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    invite_nonce: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped to end every session of this organiser at once.
    session_generation: Mapped[int] = mapped_column(Integer, default=1)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def enrolled(self) -> bool:
        return self.totp_secret_enc is not None


class RecoveryCode(Base):
    """One single-use code that stands in for a TOTP code. Only a keyed, salted hash is kept:
    HMAC-SHA256 under INDEX_KEY (not in the database) of a per-code random salt and the code,
    so a leaked dump alone cannot be used to test guesses."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    organiser_id: Mapped[int] = mapped_column(
        ForeignKey("organisers.id", ondelete="CASCADE"), index=True
    )
    salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PasswordReset(Base):
    """A single-use, short-lived password-reset link. Only the SHA-256 of the random token is
    stored, so a leaked dump holds no usable link."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    organiser_id: Mapped[int] = mapped_column(
        ForeignKey("organisers.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    USED = "used"


class Approval(Base):
    """A second organiser's consent to one dangerous act on one object (a bulk send, an export).
    ``object_id`` is a public id; never personal data."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_object", "action", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PublicId, unique=True, default=public_id)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64))
    requested_by: Mapped[int] = mapped_column(ForeignKey("organisers.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("organisers.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=ApprovalStatus.PENDING.value,
                                        index=True)


class Setting(Base):
    """A site-wide switch changed at run time (the emergency lockdown), not a deploy setting."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(
        ForeignKey("organisers.id", ondelete="SET NULL")
    )


class AuditEvent(Base):
    """Who did what, when. Never a supporter's personal data; the IP only as a keyed hash."""

    __tablename__ = "audit_events"
    # Failed sign-ins are counted per (hashed) IP to catch a password spray across accounts.
    __table_args__ = (Index("ix_audit_events_ip", "ip_hash", "action", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("organisers.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    ip_hash: Mapped[str | None] = mapped_column(String(64))
