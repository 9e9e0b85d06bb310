"""The directory of institutions (targets) and their contact channels.

Everything stored is a key or a code (institution, policy, channel type, state); the labels
organisers read are translated at the edge (``campaign.targets.labels``).
"""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.db import Base, PublicId, UTCDateTime, public_id, utcnow

ENGLISH = "en"


class Institution(StrEnum):
    OSCE = "OSCE"
    EU = "EU"
    UN = "UN"


class LetterPolicy(StrEnum):
    LETTERS = "letters"  # supporters' letters, individually or as digests
    DIGEST_ONLY = "digest_only"  # only inside an organiser-approved digest
    SUBMISSIONS_ONLY = "submissions_only"  # legal bodies: no supporter letters at all


class DeliveryMode(StrEnum):
    INDIVIDUAL = "individual"
    DIGEST = "digest"
    MAILTO = "mailto"  # the volunteer's own mail program


class ChannelType(StrEnum):
    EMAIL = "email"
    WEB_FORM = "web_form"
    WEB_PAGE = "web_page"
    POSTAL = "postal"


class SourceQuality(StrEnum):
    OFFICIAL = "official"
    OFFICIAL_DATED = "official_dated"
    OFFICIAL_MIRROR = "official_mirror"
    SECONDARY = "secondary"


class Origin(StrEnum):
    """Where a target or channel came from: only imported rows follow the file."""

    IMPORTED = "imported"  # from data/targets.yaml; the importer updates and retires it
    ORGANISER = "organiser"  # added by an organiser (or the demo seed); the importer keeps it


class ChannelState(StrEnum):
    UNVERIFIED = "unverified"
    VERIFIED = "verified"  # the only state the platform sends to
    FAILING = "failing"  # bounced or found wrong; kept for its history
    RETIRED = "retired"  # replaced or gone from the file; kept for its history


class Target(Base):
    """One body letters may be addressed to (an OSCE office, a committee, a rapporteur)."""

    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PublicId, unique=True, default=public_id)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    institution: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(300))
    name_ru: Mapped[str | None] = mapped_column(String(300))
    name_tg: Mapped[str | None] = mapped_column(String(300))
    # Working languages, most preferred first (ISO 639-1 codes).
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    timezone: Mapped[str] = mapped_column(String(64))
    letter_policy: Mapped[str] = mapped_column(String(24))
    # What the body takes (keys such as "urgent_appeal"), as listed in the file.
    accepts: Mapped[list[str]] = mapped_column(JSON, default=list)
    requires_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str] = mapped_column(Text, default="")
    origin: Mapped[str] = mapped_column(String(16), default=Origin.IMPORTED.value)
    # False once the key is gone from the file: kept for history, never deleted.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Caps; None means no cap. Office hours are local times in ``timezone`` on ISO weekdays
    # (1 = Monday … 7 = Sunday); all three are set together or not at all.
    letters_per_hour: Mapped[int | None] = mapped_column(Integer)
    office_start: Mapped[time | None] = mapped_column(Time)
    office_end: Mapped[time | None] = mapped_column(Time)
    office_days: Mapped[list[int] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    channels: Mapped[list[TargetChannel]] = relationship(
        back_populates="target", order_by="TargetChannel.id", lazy="selectin"
    )

    def name(self, locale: str) -> str:
        """The name in ``locale``, else in English."""
        localised = {"ru": self.name_ru, "tg": self.name_tg}.get(locale)
        return localised or self.name_en

    def __repr__(self) -> str:
        return f"<Target {self.key}>"


class TargetChannel(Base):
    """A way to reach a target. A changed value is a new row: the old one keeps its history."""

    __tablename__ = "target_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PublicId, unique=True, default=public_id)
    target_id: Mapped[int] = mapped_column(
        ForeignKey("targets.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(500))
    source_url: Mapped[str | None] = mapped_column(String(500))
    source_quality: Mapped[str] = mapped_column(String(20))
    origin: Mapped[str] = mapped_column(String(16), default=Origin.IMPORTED.value)
    state: Mapped[str] = mapped_column(String(16), default=ChannelState.UNVERIFIED.value)
    verified_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisers.id", ondelete="SET NULL")
    )
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure_note: Mapped[str | None] = mapped_column(String(500))
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    target: Mapped[Target] = relationship(back_populates="channels")

    @property
    def verified(self) -> bool:
        return self.state == ChannelState.VERIFIED.value

    @property
    def retired(self) -> bool:
        return self.state == ChannelState.RETIRED.value

    def __repr__(self) -> str:
        return f"<TargetChannel {self.type} {self.state}>"
