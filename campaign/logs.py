"""Log lines never carry tokens, IP addresses or email addresses.

A log-record factory redacts every record when it is created, whoever logs it (Werkzeug's
access log, gunicorn, RQ, our own code), so no handler or formatter can leak them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_TOKEN_PATH = re.compile(
    r"(/(?:confirm|preferences|u|invitation|reset|letters/confirm|l)/)[^/\s?\"']+"
)
_SIGNED = re.compile(r"\b[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{16,}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_HEX = r"[0-9a-fA-F]{1,4}"
# Full or "::"-compressed IPv6; clock times such as 19:00:00 do not match.
_IPV6 = re.compile(
    rf"(?<![\w:])(?:(?:{_HEX}:){{7}}{_HEX}|(?:{_HEX}(?::{_HEX})*)?::(?:{_HEX}(?::{_HEX})*)?)"
    r"(?![\w:])"
)
_QUERY_SECRET = re.compile(r"([?&](?:token|next|email)=)[^&\s\"']+")


def redact(text: str) -> str:
    text = _TOKEN_PATH.sub(r"\1<token>", text)
    text = _SIGNED.sub("<token>", text)
    text = _QUERY_SECRET.sub(r"\1<redacted>", text)
    text = _EMAIL.sub("<address>", text)
    text = _IPV4.sub("<ip>", text)
    return _IPV6.sub("<ip>", text)


_installed = False


def install() -> None:
    """Install the redacting record factory once per process."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return record
        record.msg = redact(message)
        record.args = None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
