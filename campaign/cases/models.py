"""Case records: a person, their status history, facts, sources, updates.

Text an organiser writes per language lives in ``*_texts`` rows keyed by locale code; the
database never holds UI-translated strings (statuses are stored as codes, labelled by views).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.admin.models import Organiser
from campaign.db import Base, PublicId, UTCDateTime, public_id, utcnow


class CaseStatus(StrEnum):
    DETAINED = "detained"
    SENTENCED = "sentenced"
    RELEASED = "released"
    DIED_IN_CUSTODY = "died_in_custody"
    DISAPPEARED = "disappeared"


_STATUS_SQL = ", ".join(f"'{s.value}'" for s in CaseStatus)

NAME_MAX = 200
ALIASES_MAX = 2000
FACT_MAX = 2000
SUMMARY_MAX = 20_000
TITLE_MAX = 300
BODY_MAX = 50_000
URL_MAX = 2000


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (CheckConstraint(f"status IN ({_STATUS_SQL})", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PublicId, unique=True, default=public_id)
    # Spellings of the name: Tajik Cyrillic, Russian, Latin (also used for the URL slug).
    name_tg: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    name_ru: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    name_en: Mapped[str] = mapped_column(String(NAME_MAX))
    # Other spellings found in sources, one per line.
    aliases: Mapped[str] = mapped_column(Text, default="")
    # Every spelling folded by campaign.cases.names.fold, one per line: what search matches.
    search_text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(24), default=CaseStatus.DETAINED.value)
    # The family's consent to publication, who recorded it and when. A note says how it was
    # given (never names or contacts of relatives).
    consent_given: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_recorded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    consent_recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisers.id", ondelete="SET NULL")
    )
    consent_note: Mapped[str] = mapped_column(String(500), default="")
    published: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    consent_recorded_by: Mapped[Organiser | None] = relationship()
    texts: Mapped[list[CaseText]] = relationship(
        back_populates="case", cascade="all, delete-orphan", lazy="selectin"
    )
    sources: Mapped[list[CaseSource]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by=lambda: CaseSource.position,
        lazy="selectin",
    )
    timeline: Mapped[list[TimelineEntry]] = relationship(
        back_populates="case", cascade="all, delete-orphan",
        order_by=lambda: (TimelineEntry.date, TimelineEntry.id),
    )
    updates: Mapped[list[CaseUpdate]] = relationship(
        back_populates="case", cascade="all, delete-orphan",
        order_by=lambda: (CaseUpdate.date.desc(), CaseUpdate.id.desc()),
    )

    @property
    def is_public(self) -> bool:
        return self.published and self.consent_given

    @property
    def alias_list(self) -> list[str]:
        return [line for line in self.aliases.split("\n") if line]

    def text(self, locale: str) -> CaseText | None:
        return next((t for t in self.texts if t.locale == locale), None)


class CaseText(Base):
    """What the organiser wrote about a case in one language."""

    __tablename__ = "case_texts"
    __table_args__ = (UniqueConstraint("case_id", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(5))
    # Markdown source, and the HTML rendered and sanitised from it at save (sanitised again
    # when shown).
    summary: Mapped[str] = mapped_column(Text, default="")
    summary_html: Mapped[str] = mapped_column(Text, default="")
    detention_place: Mapped[str] = mapped_column(Text, default="")
    charges: Mapped[str] = mapped_column(Text, default="")
    sentence: Mapped[str] = mapped_column(Text, default="")

    case: Mapped[Case] = relationship(back_populates="texts")

    @property
    def has_facts(self) -> bool:
        return bool(self.detention_place or self.charges or self.sentence)

    @property
    def is_empty(self) -> bool:
        return not (self.summary or self.has_facts)


class CaseSource(Base):
    __tablename__ = "case_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    url: Mapped[str] = mapped_column(String(URL_MAX))  # http or https only
    title: Mapped[str] = mapped_column(String(TITLE_MAX), default="")

    case: Mapped[Case] = relationship(back_populates="sources")


class TimelineEntry(Base):
    """A dated change of status, with a short note per language ({locale: text})."""

    __tablename__ = "case_timeline_entries"
    __table_args__ = (CheckConstraint(f"status IN ({_STATUS_SQL})", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PublicId, unique=True, default=public_id)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(24))
    notes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)

    case: Mapped[Case] = relationship(back_populates="timeline")


class CaseUpdate(Base):
    """A dated piece of news about a case, written per language; public once published."""

    __tablename__ = "case_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PublicId, unique=True, default=public_id)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="updates")
    texts: Mapped[list[CaseUpdateText]] = relationship(
        back_populates="update", cascade="all, delete-orphan", lazy="selectin"
    )

    def text(self, locale: str) -> CaseUpdateText | None:
        return next((t for t in self.texts if t.locale == locale), None)


class CaseUpdateText(Base):
    __tablename__ = "case_update_texts"
    __table_args__ = (UniqueConstraint("update_id", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(ForeignKey("case_updates.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(5))
    title: Mapped[str] = mapped_column(String(TITLE_MAX), default="")
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown
    body_html: Mapped[str] = mapped_column(Text, default="")  # rendered and sanitised at save

    update: Mapped[CaseUpdate] = relationship(back_populates="texts")

    @property
    def is_empty(self) -> bool:
        return not (self.title or self.body)
