"""Reading the development maildir, for the /admin/outbox pages."""

from __future__ import annotations

import mailbox
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path

_parser = BytesParser(policy=policy.default)


@dataclass(frozen=True)
class CapturedMessage:
    key: str
    to: str
    subject: str
    date: str
    text: str
    html: str | None
    headers: tuple[tuple[str, str], ...]


def _open(path: Path) -> mailbox.Maildir | None:
    if not (path / "cur").is_dir() and not (path / "new").is_dir():
        return None
    return mailbox.Maildir(str(path), factory=None, create=False)


def _parse(key: str, raw: bytes) -> CapturedMessage:
    msg = _parser.parsebytes(raw)
    assert isinstance(msg, EmailMessage)  # noqa: S101 - policy.default always gives one
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    return CapturedMessage(
        key=key,
        to=str(msg.get("To", "")),
        subject=str(msg.get("Subject", "")),
        date=str(msg.get("Date", "")),
        text=text_part.get_content() if isinstance(text_part, EmailMessage) else "",
        html=html_part.get_content() if isinstance(html_part, EmailMessage) else None,
        headers=tuple((k, str(v)) for k, v in msg.items()),
    )


def list_messages(path: Path, limit: int = 200) -> list[CapturedMessage]:
    box = _open(path)
    if box is None:
        return []
    messages = [_parse(key, box.get_bytes(key)) for key in box.iterkeys()]

    def sort_key(m: CapturedMessage) -> float:
        try:
            return parsedate_to_datetime(m.date).timestamp()
        except (TypeError, ValueError):
            return 0.0

    messages.sort(key=sort_key, reverse=True)
    return messages[:limit]


def read_message(path: Path, key: str) -> CapturedMessage | None:
    box = _open(path)
    if box is None:
        return None
    try:
        return _parse(key, box.get_bytes(key))
    except KeyError:
        return None
