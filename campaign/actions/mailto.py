"""The volunteer's own mail program: an RFC 6068 ``mailto:`` link with the recipient, the
subject and the body, UTF-8 percent-encoded.

Mail programs and browsers cut long links (about 2,000 characters is the safe limit), and
percent-encoding makes Cyrillic about 5.5 times longer, so a link is only offered within a
budget; over it, the page shows the address, subject and body with copy buttons instead.
Pure module: no Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, quote, unquote, urlsplit

BUDGET: Final = 1800


@dataclass(frozen=True)
class MailtoLetter:
    address: str
    subject: str
    body: str


def _encode(value: str) -> str:
    # Everything but RFC 3986 unreserved characters is percent-encoded (UTF-8), which RFC
    # 6068 allows everywhere: "&", "=", "#", "%" and spaces in the text stay text.
    return quote(value, safe="", encoding="utf-8")


def build(letter: MailtoLetter) -> str:
    """The link; line breaks in the body become %0D%0A, as RFC 6068 section 5 asks."""
    body = letter.body.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    address = quote(letter.address, safe="@.+-_")
    return f"mailto:{address}?subject={_encode(letter.subject)}&body={_encode(body)}"


def link(letter: MailtoLetter, budget: int = BUDGET) -> str | None:
    """The link, or None when it would be longer than ``budget`` characters."""
    built = build(letter)
    return built if len(built) <= budget else None


def parse(url: str) -> MailtoLetter:
    """Decode a link made by :func:`build` (tests, and anyone checking what it holds)."""
    parts = urlsplit(url)
    if parts.scheme != "mailto":
        raise ValueError("not a mailto link")
    fields = dict(parse_qsl(parts.query, keep_blank_values=True, encoding="utf-8"))
    body = fields.get("body", "").replace("\r\n", "\n")
    return MailtoLetter(unquote(parts.path), fields.get("subject", ""), body)
