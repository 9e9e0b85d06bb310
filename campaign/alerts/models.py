"""Alerts: what organisers write (per language), whom it goes to, and the delivery ledger.

An :class:`Alert` moves through::

    draft -> awaiting_approval -> approved -> sending -> sent
      |          (second organiser, when required)   ^  |
      +-> scheduled (scheduled_at, in the database) -+  +-> paused <-> sending
    any state before "sent" -> cancelled

:class:`AlertDelivery` is one row per recipient (unique on alert and subscriber), with the
ledger states of docs/ARCHITECTURE.md. It holds no address: a batch loads the encrypted
addresses of its subscribers with one query.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

import campaign.admin.models
import campaign.cases.models
import campaign.subscribers.models  # noqa: F401  (foreign keys: the tables must exist)
from campaign.db import Base, PublicId, UTCDateTime, public_id, utcnow

SUBJECT_MAX = 200
PREHEADER_MAX = 200
BODY_MAX = 50_000


class AlertStatus(StrEnum):
    DRAFT = "draft"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


EDITABLE = frozenset({AlertStatus.DRAFT, AlertStatus.AWAITING_APPROVAL, AlertStatus.APPROVED,
                      AlertStatus.SCHEDULED})


class Audience(StrEnum):
    ALL = "all"  # every active subscriber
    CASES = "cases"  # followers of the chosen cases, and everyone who takes all alerts


class MissingRule(StrEnum):
    ENGLISH = "english"  # a subscriber whose language has no translation gets English
    SKIP = "skip"  # … or nothing


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SUBMITTING = "submitting"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


OPEN = (DeliveryStatus.PENDING.value, DeliveryStatus.CLAIMED.value,
        DeliveryStatus.SUBMITTING.value)


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PublicId, unique=True, default=public_id)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(24), default=AlertStatus.DRAFT.value, index=True)
    audience: Mapped[str] = mapped_column(String(16), default=Audience.ALL.value)
    # Subscriber languages that receive it, e.g. "en,ru,tg".
    languages: Mapped[str] = mapped_column(String(32), default="en,ru,tg")
    missing_rule: Mapped[str] = mapped_column(String(16), default=MissingRule.ENGLISH.value)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pause_reason: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("organisers.id", ondelete="SET NULL")
    )
    # Who asked for the second organiser's approval, and who gave it.
    requested_by: Mapped[int | None] = mapped_column(
        ForeignKey("organisers.id", ondelete="SET NULL")
    )
    approved_by: Mapped[int | None] = mapped_column(
        ForeignKey("organisers.id", ondelete="SET NULL")
    )
    sent_by: Mapped[int | None] = mapped_column(ForeignKey("organisers.id", ondelete="SET NULL"))
    # Fan-out progress: deliveries exist for every subscriber id up to the cursor.
    fanout_cursor: Mapped[int] = mapped_column(Integer, default=0)
    fanout_done: Mapped[bool] = mapped_column(Boolean, default=False)
    fanout_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Rows re-sent after an unknown outcome (a crash between DATA and the reply): each may
    # have reached its recipient twice, with the same Message-ID.
    possible_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    texts: Mapped[list[AlertText]] = relationship(
        back_populates="alert", cascade="all, delete-orphan", lazy="selectin"
    )
    cases: Mapped[list[AlertCase]] = relationship(
        back_populates="alert", cascade="all, delete-orphan", lazy="selectin"
    )

    def text(self, locale: str) -> AlertText | None:
        return next((t for t in self.texts if t.locale == locale), None)

    @property
    def language_list(self) -> list[str]:
        return [code for code in self.languages.split(",") if code]

    @property
    def audience_case_ids(self) -> list[int]:
        return sorted(c.case_id for c in self.cases)


class AlertText(Base):
    """What the organiser wrote in one language. ``body`` is Markdown with ``{{ name }}``
    placeholders (never Jinja); ``body_html`` is its sanitised rendering, kept for display."""

    __tablename__ = "alert_texts"
    __table_args__ = (UniqueConstraint("alert_id", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(5))
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX), default="")
    preheader: Mapped[str] = mapped_column(String(PREHEADER_MAX), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")

    alert: Mapped[Alert] = relationship(back_populates="texts")

    @property
    def complete(self) -> bool:
        return bool(self.subject.strip() and self.body.strip())

    @property
    def empty(self) -> bool:
        return not (self.subject.strip() or self.preheader.strip() or self.body.strip())


class AlertCase(Base):
    """A case whose followers are in the audience (when the audience is "cases")."""

    __tablename__ = "alert_cases"
    __table_args__ = (UniqueConstraint("alert_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)

    alert: Mapped[Alert] = relationship(back_populates="cases")


class AlertDelivery(Base):
    """One recipient of one alert. ``locale`` is the language the message goes out in."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "subscriber_id"),
        # Progress counts, "is anything still open", and reconcile (which looks only at the
        # rows of alerts under way). Every status change writes each index of this table:
        # keep them few.
        Index("ix_alert_deliveries_alert_status", "alert_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    locale: Mapped[str] = mapped_column(String(5))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_code: Mapped[int | None] = mapped_column(Integer)
    # Scrubbed of addresses (campaign.mail.transport.scrub).
    last_reply: Mapped[str | None] = mapped_column(String(500))
    # Why a row did not go: bounce, rejected, policy, expired, render, unsubscribed, suppressed.
    error: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
