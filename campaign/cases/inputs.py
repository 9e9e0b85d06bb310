"""What the case services take in: plain-value records, the edit scope, the error type, and
the cleaning every organiser-written value goes through before it is stored."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from campaign.cases.models import TITLE_MAX, URL_MAX, CaseStatus
from campaign.i18n import LOCALES
from campaign.text import strip_controls

TRANSLATION_LOCALES: Final = ("ru", "tg")
NOTE_MAX: Final = 1000
CONSENT_NOTE_MAX: Final = 500


class Scope(StrEnum):
    ALL = "all"  # Permission.EDIT_CONTENT
    TRANSLATIONS = "translations"  # Permission.EDIT_TRANSLATIONS: ru and tg text only


def editable_locales(scope: Scope) -> tuple[str, ...]:
    return LOCALES if scope is Scope.ALL else TRANSLATION_LOCALES


class CaseError(ValueError):
    """A rule was broken; ``code`` names which (for the view to translate), ``field`` where."""

    def __init__(self, code: str, field: str | None = None) -> None:
        super().__init__(code if field is None else f"{code}: {field}")
        self.code = code
        self.field = field


@dataclass(frozen=True)
class CaseFields:
    name_en: str
    name_tg: str = ""
    name_ru: str = ""
    aliases: Sequence[str] = ()
    status: str = CaseStatus.DETAINED.value


@dataclass(frozen=True)
class CaseTextFields:
    summary: str = ""
    detention_place: str = ""
    charges: str = ""
    sentence: str = ""


@dataclass(frozen=True)
class Source:
    url: str
    title: str = ""


@dataclass(frozen=True)
class UpdateTextFields:
    title: str = ""
    body: str = ""


# --------------------------------------------------------------------------- cleaning

_CONTROLS: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_line(value: str, limit: int, field: str) -> str:
    text = strip_controls(value)
    if len(text) > limit:
        raise CaseError("too_long", field)
    return text


def clean_text(value: str, limit: int, field: str) -> str:
    """Multi-line organiser text: NFC, LF line ends, no control or bidi-override characters."""
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROLS.sub("", text).strip()
    if len(text) > limit:
        raise CaseError("too_long", field)
    return text


def check_status(status: str) -> str:
    if status not in set(CaseStatus):
        raise CaseError("status", "status")
    return status


def check_source(source: Source) -> Source:
    url = strip_controls(source.url)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or len(url) > URL_MAX:
        raise CaseError("source_url", url)
    return Source(url=url, title=clean_line(source.title, TITLE_MAX, "source_title"))
