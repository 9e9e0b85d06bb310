"""Supporters: subscribers, what they follow, their consent, the suppression list.

Addresses and names are encrypted (campaign.crypto, bound to table, column and row); look-ups
go through keyed blind indexes: ``email_index`` of the normalised address (unique) and
``fold_index`` of the folded address (no +tags, no gmail dots), used against subscription
bombing. The suppression list holds blind indexes only, so an erased person leaves no
readable trace.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

import campaign.cases.models  # noqa: F401  (subscribers follow cases: the table must exist)
from campaign.db import Base, PublicId, UTCDateTime, public_id, utcnow


class Status(StrEnum):
    PENDING = "pending"  # signed up, not yet confirmed
    ACTIVE = "active"
    PAUSED = "paused"  # keeps the subscription, receives nothing for now
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


RECEIVING = (Status.ACTIVE.value,)


class SuppressionReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    ERASED = "erased"


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PublicId, unique=True, default=public_id)
    email_enc: Mapped[bytes] = mapped_column(LargeBinary)
    email_index: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    fold_index: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    locale: Mapped[str] = mapped_column(String(5), default="en")
    status: Mapped[str] = mapped_column(String(16), default=Status.PENDING.value, index=True)
    all_alerts: Mapped[bool] = mapped_column(Boolean, default=True)
    discreet: Mapped[bool] = mapped_column(Boolean, default=False)
    # A fresh nonce per confirmation mail: a confirmation link works once.
    confirm_nonce: Mapped[str | None] = mapped_column(String(32))
    # A change of address waits here until the new address confirms.
    pending_email_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    pending_email_index: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # Bumped to invalidate every preference and unsubscribe link mailed so far.
    link_version: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(16), default="form")  # form, import, action, api
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    follows: Mapped[list[Follow]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def followed_case_ids(self) -> set[int]:
        return {f.case_id for f in self.follows}


class Follow(Base):
    """A subscriber follows a case (used when ``all_alerts`` is off)."""

    __tablename__ = "subscriber_follows"
    __table_args__ = (UniqueConstraint("subscriber_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)

    subscriber: Mapped[Subscriber] = relationship(back_populates="follows")


class Consent(Base):
    """When, through which form, and which version of the consent text. No address, no IP."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    form: Mapped[str] = mapped_column(String(32))  # signup, import-attested, action
    text_version: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(5))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SubscriberEvent(Base):
    """A subscriber's history, for organisers: what happened, never what they typed."""

    __tablename__ = "subscriber_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class Suppression(Base):
    """Addresses that get nothing until a new double opt-in: blind index only."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_index: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    reason: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConfirmationSlot(Base):
    """At most one confirmation mail per folded address per day, enforced by this key."""

    __tablename__ = "confirmation_slots"
    __table_args__ = (UniqueConstraint("fold_index", "day", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fold_index: Mapped[bytes] = mapped_column(LargeBinary(32))
    day: Mapped[date] = mapped_column(Date)
    purpose: Mapped[str] = mapped_column(String(16))  # confirm, link
