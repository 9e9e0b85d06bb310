"""Atom feeds (RFC 4287) of published case updates, one per language.

Built with ElementTree, so every text is escaped; links and ids are absolute and made from
BASE_URL, never from the request's Host header. An entry without text in the feed's language
falls back like the pages do, and says so with ``xml:lang``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from campaign.cases import present, services
from campaign.cases.models import CaseUpdate
from campaign.db import utcnow

ATOM_NS: Final = "http://www.w3.org/2005/Atom"
XML_LANG: Final = "{http://www.w3.org/XML/1998/namespace}lang"
MEDIA_TYPE: Final = "application/atom+xml; charset=utf-8"
# Characters XML 1.0 does not allow at all (escaping cannot help).
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = _text(text)
    return element


def entry_id(update: CaseUpdate, lang: str) -> str:
    """A tag: URI (RFC 4151) that survives renamed cases and changed slugs."""
    host = urlsplit(present.base_url()).hostname or "localhost"
    return f"tag:{host},{update.created_at:%Y-%m-%d}:case-update/{update.public_id}/{lang}"


def build_feed(
    updates: Sequence[CaseUpdate],
    *,
    lang: str,
    title: str,
    author: str,
    self_path: str,
    alternate_path: str,
    with_case_names: bool,
) -> bytes:
    feed = ET.Element("feed", {"xmlns": ATOM_NS, XML_LANG: lang})
    self_url = present.absolute(self_path)
    _sub(feed, "id", self_url)
    _sub(feed, "title", title)
    newest = max((u.updated_at for u in updates), default=None)
    _sub(feed, "updated", _stamp(newest or utcnow()))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _sub(feed, "link", rel="alternate", type="text/html",
         href=present.absolute(alternate_path))
    _sub(_sub(feed, "author"), "name", author)

    for update in updates:
        text = present.update_text(update, lang)
        if text is None:
            continue
        entry = _sub(feed, "entry")
        if text.locale != lang:
            entry.set(XML_LANG, text.locale)
        _sub(entry, "id", entry_id(update, lang))
        heading = text.title or update.date.isoformat()
        if with_case_names:
            heading = f"{services.display_name(update.case, lang)}: {heading}"
        _sub(entry, "title", heading)
        _sub(entry, "updated", _stamp(update.updated_at))
        if update.published_at is not None:
            _sub(entry, "published", _stamp(update.published_at))
        link = present.absolute(present.case_path(update.case, lang)) + f"#u-{update.public_id}"
        _sub(entry, "link", rel="alternate", type="text/html", href=link)
        _sub(entry, "content", str(present.safe_html(text.body_html)), type="html")

    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
