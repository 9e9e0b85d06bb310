"""Letter-writing actions: the action and its texts, the targets it writes to, the volunteers'
letters, their deliveries (one per letter and target), digests, and the per-target schedule.

Everything personal about a volunteer (address, name, city, country, the letter they wrote) is
encrypted (campaign.crypto, bound to table, column and row); look-ups go through the keyed
blind index of the folded address. Codes are stored, never translated text.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

import campaign.mail.models  # noqa: F401  (deliveries point at ledger rows)
from campaign.cases.models import Case
from campaign.db import Base, PublicId, UTCDateTime, public_id, utcnow
from campaign.targets.models import Target

SLUG_MAX = 80
TITLE_MAX = 300
INTRO_MAX = 20_000
SUBJECT_MAX = 300
BODY_MAX = 5000  # about one page: what a good letter should not exceed
VARIANTS_MAX = 3
REFERENCE_MAX = 200


class ActionStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class DigestPeriod(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


class LetterStatus(StrEnum):
    PENDING = "pending"  # signed, not yet confirmed by email
    CONFIRMED = "confirmed"


class DeliveryStatus(StrEnum):
    SCHEDULED = "scheduled"  # individual letter: waits for its slot (next_attempt_at)
    SENDING = "sending"  # claimed by a worker
    SENT = "sent"
    HELD = "held"  # the target has no verified channel now: nothing is sent, nothing lost
    REVIEW = "review"  # outcome unknown after a crash: an organiser decides, never re-sent
    FAILED = "failed"
    CANCELLED = "cancelled"
    WAITING = "waiting"  # digest mode: waits for its period's digest
    IN_DIGEST = "in_digest"  # listed in a digest (its status is the digest's)


FINAL_DELIVERY = frozenset({DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value,
                            DeliveryStatus.CANCELLED.value})


class DigestStatus(StrEnum):
    DRAFT = "draft"  # prepared, waiting for an organiser's approval
    APPROVED = "approved"  # approved: queued to send (or held without a verified channel)
    SENDING = "sending"
    SENT = "sent"
    REVIEW = "review"
    FAILED = "failed"


action_cases = Table(
    "action_cases",
    Base.metadata,
    Column("action_id", ForeignKey("actions.id", ondelete="CASCADE"), primary_key=True),
    Column("case_id", ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
)


class Action(Base):
    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PublicId, unique=True, default=public_id)
    slug: Mapped[str] = mapped_column(String(SLUG_MAX), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=ActionStatus.DRAFT.value)
    goal: Mapped[int | None] = mapped_column(Integer)
    opens_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Set when the volunteers' personal data was reduced to counts (retention).
    reduced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    texts: Mapped[list[ActionText]] = relationship(
        back_populates="action", cascade="all, delete-orphan", lazy="selectin")
    variants: Mapped[list[ActionVariant]] = relationship(
        back_populates="action", cascade="all, delete-orphan", lazy="selectin",
        order_by=lambda: (ActionVariant.locale, ActionVariant.position))
    targets: Mapped[list[ActionTarget]] = relationship(
        back_populates="action", cascade="all, delete-orphan", lazy="selectin",
        order_by=lambda: ActionTarget.position)
    cases: Mapped[list[Case]] = relationship(secondary=action_cases, lazy="selectin")

    def text(self, locale: str) -> ActionText | None:
        return next((t for t in self.texts if t.locale == locale), None)

    def variants_in(self, locale: str) -> list[ActionVariant]:
        return [v for v in self.variants if v.locale == locale]

    @property
    def letter_locales(self) -> list[str]:
        """The languages the action has a letter in."""
        return sorted({v.locale for v in self.variants})


class ActionText(Base):
    """Title and introduction of an action in one language."""

    __tablename__ = "action_texts"
    __table_args__ = (UniqueConstraint("action_id", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(5))
    title: Mapped[str] = mapped_column(String(TITLE_MAX), default="")
    introduction: Mapped[str] = mapped_column(Text, default="")  # Markdown
    introduction_html: Mapped[str] = mapped_column(Text, default="")  # sanitised at save

    action: Mapped[Action] = relationship(back_populates="texts")


class ActionVariant(Base):
    """One wording of the letter in one language; each volunteer gets one at random.
    Organiser text with ``{{ placeholder }}`` substitution, never Jinja."""

    __tablename__ = "action_variants"
    __table_args__ = (UniqueConstraint("action_id", "locale", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(5))
    position: Mapped[int] = mapped_column(Integer, default=0)
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX))
    body: Mapped[str] = mapped_column(Text)

    action: Mapped[Action] = relationship(back_populates="variants")


class ActionTarget(Base):
    """A body an action writes to, how (delivery mode) and in which language."""

    __tablename__ = "action_targets"
    __table_args__ = (UniqueConstraint("action_id", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PublicId, unique=True, default=public_id)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    mode: Mapped[str] = mapped_column(String(16))  # targets.models.DeliveryMode
    digest_period: Mapped[str | None] = mapped_column(String(8))
    # None: the target's first working language the action has a letter in, else English.
    letter_locale: Mapped[str | None] = mapped_column(String(5))
    # The institution's reply, recorded by an organiser and shown on the public page.
    reply_date: Mapped[dt.date | None] = mapped_column(Date)
    reply_reference: Mapped[str | None] = mapped_column(String(REFERENCE_MAX))

    action: Mapped[Action] = relationship(back_populates="targets")
    target: Mapped[Target] = relationship(lazy="selectin")


class Letter(Base):
    """One volunteer's signature of one action: at most one per folded address and action."""

    __tablename__ = "letters"
    __table_args__ = (
        UniqueConstraint("action_id", "fold_index"),
        Index("ix_letters_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PublicId, unique=True, default=public_id)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"),
                                           index=True)
    status: Mapped[str] = mapped_column(String(16), default=LetterStatus.PENDING.value)
    locale: Mapped[str] = mapped_column(String(5))  # the volunteer's page language
    fold_index: Mapped[bytes] = mapped_column(LargeBinary(32))
    email_enc: Mapped[bytes] = mapped_column(LargeBinary)
    person_enc: Mapped[bytes] = mapped_column(LargeBinary)  # JSON: name, city, country
    content_enc: Mapped[bytes] = mapped_column(LargeBinary)  # JSON: {locale: subject, body}
    target_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # ActionTarget ids
    reply_ok: Mapped[bool] = mapped_column(Boolean, default=False)
    wants_alerts: Mapped[bool] = mapped_column(Boolean, default=False)
    confirm_nonce: Mapped[str | None] = mapped_column(String(32))
    confirm_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    action: Mapped[Action] = relationship()
    deliveries: Mapped[list[LetterDelivery]] = relationship(
        back_populates="letter", cascade="all, delete-orphan", passive_deletes=True)


class LetterDelivery(Base):
    """A letter on its way to one target: one row per letter and target, never two."""

    __tablename__ = "letter_deliveries"
    __table_args__ = (
        UniqueConstraint("letter_id", "target_id"),
        Index("ix_letter_deliveries_due", "status", "next_attempt_at"),
        Index("ix_letter_deliveries_target_attempted", "target_id", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PublicId, unique=True, default=public_id)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id", ondelete="CASCADE"))
    action_target_id: Mapped[int] = mapped_column(
        ForeignKey("action_targets.id", ondelete="CASCADE"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    mode: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(5))  # the language of this letter
    status: Mapped[str] = mapped_column(String(16))
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("outgoing_messages.id", ondelete="SET NULL"))
    digest_id: Mapped[int | None] = mapped_column(
        ForeignKey("action_digests.id", ondelete="SET NULL"), index=True)
    note: Mapped[str | None] = mapped_column(String(500))  # scrubbed reply, no addresses
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    letter: Mapped[Letter] = relationship(back_populates="deliveries")
    action_target: Mapped[ActionTarget] = relationship()
    target: Mapped[Target] = relationship()


class Digest(Base):
    """One letter per target and period listing the signers, approved by an organiser."""

    __tablename__ = "action_digests"
    __table_args__ = (UniqueConstraint("action_target_id", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PublicId, unique=True, default=public_id)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"),
                                           index=True)
    action_target_id: Mapped[int] = mapped_column(
        ForeignKey("action_targets.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    period: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)  # exclusive
    locale: Mapped[str] = mapped_column(String(5))
    status: Mapped[str] = mapped_column(String(16), default=DigestStatus.DRAFT.value)
    signer_count: Mapped[int] = mapped_column(Integer, default=0)
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX + 40))
    body_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # names and cities
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("outgoing_messages.id", ondelete="SET NULL"))
    approved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisers.id", ondelete="SET NULL"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    action: Mapped[Action] = relationship()
    action_target: Mapped[ActionTarget] = relationship()
    target: Mapped[Target] = relationship()


class LetterSchedule(Base):
    """The next free sending slot of a capped target (all actions together). Moved forward
    by conditional updates, so two confirmations never take the same slot."""

    __tablename__ = "letter_schedules"

    target_id: Mapped[int] = mapped_column(
        ForeignKey("targets.id", ondelete="CASCADE"), primary_key=True)
    next_free_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ActionTally(Base):
    """Counts left after the volunteers' personal data of a closed action was reduced:
    per day of confirmation, per target (None: the letters themselves) and status."""

    __tablename__ = "action_tallies"
    __table_args__ = (Index("ix_action_tallies_action", "action_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    target_id: Mapped[int | None] = mapped_column(ForeignKey("targets.id"))
    status: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(Integer, default=0)
