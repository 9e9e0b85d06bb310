"""Composing mail: encoding round trips, header injection, the prepared fast path, DKIM."""

from __future__ import annotations

import base64
import email
import email.policy
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import parseaddr

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from campaign.mail.compose import (
    OutgoingMail,
    ascii_address,
    build_message,
    clean_header,
    dkim_sign,
    format_address,
    make_message_id,
    prepare,
)

TAJIK = "Ғ ғ Ӣ ӣ Қ қ Ӯ ӯ Ҳ ҳ Ҷ ҷ"
RUSSIAN = "Свободу политзаключённым! Ёжик съел шоколадку."
WHEN = datetime(2026, 11, 25, 12, 30, tzinfo=UTC)


def mail(**changes: object) -> OutgoingMail:
    base = OutgoingMail(
        from_name="Кампания ғӣқӯҳҷ",
        from_addr="alerts@example.org",
        to_name="Фарҳод Қодиров",
        to_addr="farhod@example.net",
        subject=f"Навигариҳо: {TAJIK} — {RUSSIAN}",
        text=f"Салом!\n\n{RUSSIAN}\n{TAJIK}\n",
        html=f"<p>Салом!</p>\n<p>{RUSSIAN}</p>\n<p>{TAJIK}</p>\n",
        message_id="<0123456789abcdef0123456789abcdef@example.org>",
        reply_to=("Ёлка Ҷ", "reply@example.org"),
        list_id="Алерты <alerts.example.org>",
        unsubscribe_url="https://example.org/u/tok3n",
        unsubscribe_mailto="mailto:unsubscribe+tok3n@example.org",
        date=WHEN,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.strict)
    assert isinstance(msg, EmailMessage)
    return msg


def header_lines(data: bytes) -> list[bytes]:
    """The header section's fields, unfolded: one entry per field."""
    head = data.split(b"\r\n\r\n", 1)[0]
    return re.split(rb"\r\n(?![ \t])", head)


def assert_clean(msg: EmailMessage) -> None:
    for part in msg.walk():
        assert part.defects == []
        for name, value in part.items():
            assert getattr(value, "defects", ()) == (), name


def rfc2047_display_name(data: bytes, field: str) -> str:
    """The display name decoded by the compat32 decoder, which drops the whitespace between
    adjacent encoded words as RFC 2047 section 6.2 says. (The policy.default parser of
    Python < 3.14 keeps it in address headers: CPython gh-128110.)"""
    raw = email.message_from_bytes(data, policy=email.policy.compat32)[field]
    if "=?" not in raw:  # a plain or quoted ASCII phrase
        return parseaddr(raw)[0]
    decoded = str(make_header(decode_header(re.sub(r"\r?\n(?=[ \t])", "", raw))))
    return decoded.rpartition(" <")[0]


def plain(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def html(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


# --- clean_header and addresses ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\r\nBcc: x@y", "a Bcc: x@y"),
        ("a\x85b\u2028c\u2029d", "a b c d"),
        ("a\x00\x01\x1f\x7f\x9fb", "a b"),
        ("\u202eevil\u202c \u2066x\u2069\u200e\u200f", "evil x"),
        ("  padded\t", "padded"),
        ("e\u0301", "\u00e9"),  # NFC
        ("a\ud800b", "a b"),
    ],
)
def test_clean_header_removes_line_breaks_controls_and_bidi(raw: str, expected: str) -> None:
    assert clean_header(raw) == expected


def test_long_display_names_split_into_encoded_words_that_decode_exactly() -> None:
    name = f"Кампания {TAJIK} {RUSSIAN}"
    value = format_address(name, "a@example.org")
    words = value.split(" ")[:-1]
    assert len(words) > 1
    assert all(len(w) <= 75 and w.startswith("=?utf-8?b?") for w in words)
    data = f"From: {value}\r\n\r\n".encode()
    assert rfc2047_display_name(data, "From") == name


def test_format_address_encodes_non_ascii_names_and_idna_domains() -> None:
    value = format_address("Ҷамшед", "jamshed@пример.рф")
    assert value.isascii()
    assert value.endswith("<jamshed@xn--e1afmkfd.xn--p1ai>")
    msg = parse(f"From: {value}\r\n\r\n".encode())
    assert msg["From"].addresses[0].display_name == "Ҷамшед"


def test_format_address_quotes_ascii_specials() -> None:
    assert format_address('Doe, "J"', "j@example.org") == '"Doe, \\"J\\"" <j@example.org>'
    assert format_address("", "j@example.org") == "j@example.org"


@pytest.mark.parametrize(
    "bad", ["ҷ@example.org", "a b@example.org", "a@b@", "nope", "a@exa mple.org", "<a@b.org>"]
)
def test_format_address_refuses_unusable_addresses(bad: str) -> None:
    with pytest.raises(ValueError):
        format_address("x", bad)


def test_ascii_address_keeps_ascii_domains_and_converts_idn() -> None:
    assert ascii_address("a.b+tag@Example.org") == "a.b+tag@Example.org"
    assert ascii_address("x@bücher.de") == "x@xn--bcher-kva.de"


# --- Message-ID ---------------------------------------------------------------------------


def test_message_id_hmac_is_stable_for_a_seed_and_differs_between_seeds() -> None:
    key = b"k" * 32
    first = make_message_id("example.org", seed=b"row-1", key=key)
    assert first == make_message_id("example.org", seed=b"row-1", key=key)
    assert first != make_message_id("example.org", seed=b"row-2", key=key)
    assert first != make_message_id("example.org", seed=b"row-1", key=b"other")
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.org>", first)


def test_message_id_is_random_without_key_and_seed() -> None:
    ids = {make_message_id("example.org") for _ in range(50)}
    assert len(ids) == 50
    assert make_message_id("example.org", seed=b"x") != make_message_id("example.org", seed=b"x")
    assert all(re.fullmatch(r"<[0-9a-f]{32}@example\.org>", i) for i in ids)


# --- build_message --------------------------------------------------------------------------


def test_tajik_and_russian_round_trip_under_the_strict_policy() -> None:
    data = build_message(mail())
    assert data.isascii()
    msg = parse(data)
    assert_clean(msg)
    assert msg["Subject"] == f"Навигариҳо: {TAJIK} — {RUSSIAN}"
    assert msg["From"].addresses[0].display_name == "Кампания ғӣқӯҳҷ"
    assert msg["To"].addresses[0].display_name == "Фарҳод Қодиров"
    assert msg["Reply-To"].addresses[0].display_name == "Ёлка Ҷ"
    assert plain(msg) == f"Салом!\n\n{RUSSIAN}\n{TAJIK}\n"
    assert html(msg) == f"<p>Салом!</p>\n<p>{RUSSIAN}</p>\n<p>{TAJIK}</p>\n"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


def test_bulk_headers_follow_rfc_2369_and_8058() -> None:
    msg = parse(build_message(mail()))
    assert msg["List-Unsubscribe"] == (
        "<https://example.org/u/tok3n>, <mailto:unsubscribe+tok3n@example.org>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Id"] == "Алерты <alerts.example.org>"
    assert msg["Date"].datetime == WHEN
    assert msg["Message-ID"] == "<0123456789abcdef0123456789abcdef@example.org>"
    assert msg["MIME-Version"] == "1.0"
    assert "X-Mailer" not in msg
    assert "Auto-Submitted" not in msg


def test_transactional_mail_has_no_list_headers_and_a_single_text_part() -> None:
    data = build_message(
        mail(html=None, list_id=None, unsubscribe_url=None, unsubscribe_mailto=None)
    )
    msg = parse(data)
    assert_clean(msg)
    assert msg.get_content_type() == "text/plain"
    assert not msg.is_multipart()
    assert {"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"}.isdisjoint(msg.keys())
    assert plain(msg) == f"Салом!\n\n{RUSSIAN}\n{TAJIK}\n"


def test_plain_http_unsubscribe_gets_no_one_click_header() -> None:
    msg = parse(build_message(mail(unsubscribe_url="http://127.0.0.1:5000/u/t")))
    assert msg["List-Unsubscribe"].startswith("<http://127.0.0.1:5000/u/t>")
    assert "List-Unsubscribe-Post" not in msg


def test_date_is_utc_whatever_zone_it_was_given_in() -> None:
    local = WHEN.astimezone(timezone(timedelta(hours=5)))
    assert b"Date: Wed, 25 Nov 2026 12:30:00 +0000\r\n" in build_message(mail(date=local))


EXPECTED_HEADERS = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
]
TRICKS = [
    "x\r\nBcc: victim@example.net",
    "x\nBcc: victim@example.net",
    "x\rBcc: victim@example.net",
    "x\x85Bcc: victim@example.net",
    "x\u2028Bcc: victim@example.net\u2029Cc: c@example.net",
    "=?utf-8?q?x=0D=0ABcc=3A_victim=40example=2Enet?=",
    "=?utf-8?b?eA0KQmNjOiB2aWN0aW1AZXhhbXBsZS5uZXQ=?=",
    '"=?utf-8?q?x?=" <evil@example.net>, Bcc: victim@example.net',
]


@pytest.mark.parametrize("trick", TRICKS)
def test_injection_tricks_add_no_header_and_decode_to_inert_text(trick: str) -> None:
    data = build_message(
        mail(subject=trick, from_name=trick, to_name=trick, reply_to=(trick, "r@example.org"))
    )
    assert data.isascii()
    lines = header_lines(data)
    names = [line.split(b":", 1)[0].decode() for line in lines]
    assert names == EXPECTED_HEADERS
    msg = parse(data)
    assert_clean(msg)
    assert list(msg.keys()) == EXPECTED_HEADERS
    inert = clean_header(trick)
    assert msg["Subject"] == inert
    for field in ("From", "To", "Reply-To"):
        assert len(msg[field].addresses) == 1
        assert rfc2047_display_name(data, field) == inert
    assert msg["From"].addresses[0].addr_spec == "alerts@example.org"
    assert msg["To"].addresses[0].addr_spec == "farhod@example.net"


def test_injection_through_addresses_and_links_is_refused() -> None:
    with pytest.raises(ValueError):
        build_message(mail(to_addr="a@example.org\r\nBcc: victim@example.net"))
    with pytest.raises(ValueError):
        build_message(mail(unsubscribe_url="https://x.org/u> , <https://evil.org/"))
    with pytest.raises(ValueError):
        build_message(mail(message_id="<a b@example.org>"))
    with pytest.raises(ValueError):
        build_message(mail(extra_headers=(("Bcc", "victim@example.net"),)))
    with pytest.raises(ValueError):
        build_message(mail(extra_headers=(("X-Bad\r\nBcc", "v"),)))


def test_extra_headers_are_cleaned_and_encoded() -> None:
    msg = parse(build_message(mail(extra_headers=(("X-Campaign", "Дело\r\nBcc: v@x.org"),))))
    assert msg["X-Campaign"] == "Дело Bcc: v@x.org"
    assert "Bcc" not in msg


def test_no_line_exceeds_78_octets_in_headers_or_998_anywhere() -> None:
    long_words = " ".join(["Ҳуқуқи инсон"] * 40)
    data = build_message(
        mail(
            subject=long_words,
            from_name=long_words,
            text=("ӯ" * 5000) + "\n" + ("a" * 3000),
            html="<p>" + ("x" * 5000) + "</p>",
        )
    )
    head = data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 76
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    msg = parse(data)
    assert_clean(msg)
    assert msg["Subject"] == long_words
    assert rfc2047_display_name(data, "From") == long_words
    assert plain(msg) == ("ӯ" * 5000) + "\n" + ("a" * 3000)


def test_mostly_ascii_bodies_use_quoted_printable_and_cyrillic_uses_base64() -> None:
    text = "Hello — this is mostly English, with one dash.\n"
    msg = parse(build_message(mail(text=text, html="<p>Салом дӯстон</p>")))
    text_part, html_part = msg.iter_parts()
    assert text_part["Content-Transfer-Encoding"] == "quoted-printable"
    assert html_part["Content-Transfer-Encoding"] == "base64"
    assert plain(msg) == text


@pytest.mark.parametrize(
    "text", ["", "no newline", "trailing space ", "a\n.\nFrom me\n", "=?utf-8?q?x?=\n", "\tx\n"]
)
def test_body_edge_cases_round_trip(text: str) -> None:
    msg = parse(build_message(mail(text=text, html=None)))
    assert_clean(msg)
    assert plain(msg) == text


# --- PreparedMessage ------------------------------------------------------------------------


def semantic(msg: EmailMessage) -> tuple[object, ...]:
    headers = [(k, str(v)) for k, v in msg.items() if k != "Content-Type"]
    return (headers, msg.get_content_type(), plain(msg), html(msg))


def test_prepared_render_equals_build_message_for_the_same_inputs() -> None:
    template = mail(
        to_name="",
        to_addr="placeholder@example.org",
        text="Салом, %%NAME%%!\nPreferences: %%PREFS%%\n",
        html='<p>Салом, %%NAME%%!</p><a href="%%PREFS%%">prefs</a>\n',
    )
    prepared = prepare(template)
    assert prepared.tokens == {"NAME", "PREFS"}
    for name, addr in [("Фарҳод & Co", "f@example.net"), ('Ann "<b>"', "ann@bücher.de")]:
        prefs = f"https://example.org/p/{addr}?a=1&b=2"
        rendered = prepared.render(
            name,
            addr,
            f"<{addr.split('@')[0]}-1@example.org>",
            f"https://example.org/u/{addr.encode('idna').decode()}",
            "mailto:u@example.org",
            {"NAME": name, "PREFS": prefs},
        )
        expected = build_message(
            replace(
                template,
                to_name=name,
                to_addr=addr,
                message_id=f"<{addr.split('@')[0]}-1@example.org>",
                unsubscribe_url=f"https://example.org/u/{addr.encode('idna').decode()}",
                unsubscribe_mailto="mailto:u@example.org",
                text=f"Салом, {name}!\nPreferences: {prefs}\n",
                html=f"<p>Салом, {name.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;').replace(chr(34), '&quot;')}!</p>"  # noqa: E501
                f'<a href="{prefs.replace("&", "&amp;")}">prefs</a>\n',
            )
        )
        got, want = parse(rendered), parse(expected)
        assert_clean(got)
        assert semantic(got) == semantic(want)
        assert rendered.isascii()


def test_prepared_render_refuses_missing_token_values() -> None:
    prepared = prepare(mail(text="%%NAME%%\n", html=None))
    with pytest.raises(ValueError, match="NAME"):
        prepared.render("", "a@example.org", "<a@example.org>")


def test_undeclared_token_patterns_stay_literal_text() -> None:
    prepared = prepare(mail(text="%%NAME%% and %%OTHER%%\n", html=None), tokens=["NAME"])
    msg = parse(prepared.render("", "a@example.org", "<a@example.org>", None, None, {"NAME": "Ӯ"}))
    assert plain(msg) == "Ӯ and %%OTHER%%\n"


def test_render_without_tokens_reuses_the_encoded_bodies() -> None:
    prepared = prepare(mail())
    first = prepared.render("A", "a@example.org", "<1@example.org>")
    second = prepared.render("B", "b@example.org", "<2@example.org>")
    assert first.split(b"MIME-Version")[1] == second.split(b"MIME-Version")[1]


# --- DKIM -----------------------------------------------------------------------------------


def test_dkim_signature_verifies_with_a_local_key_lookup() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    lookups: list[bytes] = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        lookups.append(name)
        return record if name == b"sel._domainkey.example.org." else b""

    signed = dkim_sign(build_message(mail()), "sel", "example.org", pem)
    assert signed.startswith(b"DKIM-Signature:")
    assert dkim.verify(signed, dnsfunc=dns)
    assert lookups == [b"sel._domainkey.example.org."]
    signature = parse(signed)["DKIM-Signature"]
    signed_headers = re.search(r"h=([^;]+)", re.sub(r"\s", "", str(signature)))
    assert signed_headers is not None
    assert set(signed_headers.group(1).split(":")) == {
        "from", "to", "subject", "date", "message-id", "reply-to", "list-id",
        "list-unsubscribe", "list-unsubscribe-post", "mime-version", "content-type",
    }  # fmt: skip
    tampered = signed.replace(b"Subject: =?utf-8?b?", b"Subject: =?utf-8?B?", 1)
    assert not dkim.verify(tampered, dnsfunc=dns)


@pytest.mark.parametrize("name", [
    "فرهاد قادری",  # Persian, right to left
    "Фарҳод 🕊️ Қодиров",  # an emoji with a variation selector
    "Анна-Мария О’Коннор «Ҷ»",  # typographic quotes and a hyphen
    "李小龍",  # CJK
    "Zoë Ångström-Łukasz",  # Latin with diacritics
])
def test_any_script_in_a_name_or_subject_round_trips_and_adds_no_header(name: str) -> None:
    data = build_message(mail(to_name=name, from_name=name, subject=f"{name}: {TAJIK}"))
    assert data.isascii()
    msg = parse(data)
    assert_clean(msg)
    # (RFC 2047 decoding: Python's address parser keeps the space between encoded words.)
    assert rfc2047_display_name(data, "To") == rfc2047_display_name(data, "From") == name
    assert msg["Subject"] == f"{name}: {TAJIK}"
    assert len(header_lines(data)) == len(header_lines(build_message(mail())))
