"""Tokens, IP addresses and email addresses never reach a log line."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from campaign.logs import redact

TOKEN = "eyJzIjoiYWJjZGVmMTIzNDU2Nzg5MCIsInYiOjF9.Z2xHbA.bm90LWEtcmVhbC1zaWduYXR1cmUtYXQtYWxs"


@pytest.mark.parametrize(
    "line",
    [
        f'127.0.0.1 - - [25/Nov/2026 19:00:00] "GET /tg/confirm/{TOKEN} HTTP/1.1" 200 -',
        f'203.0.113.9 - - "POST /u/{TOKEN} HTTP/1.1" 200',
        f"GET /ru/preferences/{TOKEN}/export from 2001:db8::1",
        "failed for canary-7@example.org at 198.51.100.7",
        "GET /admin/login?next=/admin/subscribers&email=a@b.org",
    ],
)
def test_redact_removes_tokens_ips_and_addresses(line: str) -> None:
    cleaned = redact(line)
    assert TOKEN not in cleaned and TOKEN[:20] not in cleaned
    for secret in ("127.0.0.1", "203.0.113.9", "2001:db8::1", "canary-7@example.org",
                   "198.51.100.7", "a@b.org"):
        assert secret not in cleaned


def test_every_log_record_is_redacted(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("werkzeug").info('%s - - "%s" %s', "192.0.2.1",
                                       f"GET /en/preferences/{TOKEN} HTTP/1.1", 200)
    logging.getLogger("anything").warning("mail to %s bounced", "someone@example.org")
    text = caplog.text
    assert "192.0.2.1" not in text and TOKEN not in text and "someone@example.org" not in text
    assert "/en/preferences/<token>" in text
