"""The outgoing-mail ledger: one row per message, the record of what must be sent.

States (see docs/ARCHITECTURE.md)::

    pending --claim--> claimed --just before DATA--> submitting --250--> sent
    pending <--4xx, next_attempt_at-- claimed/submitting
    failed (5.x.x; 5.1.x also suppressed) · paused · expired (retry horizon) · review

Redis only carries work: ``reconcile`` finds rows that are due or whose lease ran out.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from campaign.db import Base, PublicId, UTCDateTime, public_id, utcnow


class Status(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SUBMITTING = "submitting"
    SENT = "sent"
    FAILED = "failed"
    PAUSED = "paused"
    EXPIRED = "expired"
    REVIEW = "review"
    CANCELLED = "cancelled"


FINAL = frozenset({Status.SENT, Status.FAILED, Status.EXPIRED, Status.CANCELLED})


class Kind(StrEnum):
    TRANSACTIONAL = "transactional"  # at least once, same Message-ID on a re-send
    ALERT = "alert"  # at least once, same Message-ID on a re-send
    LETTER = "letter"  # at most once: an unknown outcome goes to review


class OutgoingMessage(Base):
    __tablename__ = "outgoing_messages"
    __table_args__ = (Index("ix_outgoing_messages_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PublicId, unique=True, default=public_id)
    kind: Mapped[str] = mapped_column(String(16), default=Kind.TRANSACTIONAL.value)
    template: Mapped[str] = mapped_column(String(64))
    # One row per logical message: a retry or a double click never makes a second one.
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=Status.PENDING.value)
    locale: Mapped[str] = mapped_column(String(5), default="en")
    to_enc: Mapped[bytes] = mapped_column(LargeBinary)
    to_index: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    # Template variables, encrypted: they may hold names or links.
    context_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    message_id: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_code: Mapped[int | None] = mapped_column(Integer)
    last_reply: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
