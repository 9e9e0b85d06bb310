"""Composing outgoing mail: headers that cannot be injected, bodies that survive any relay.

Every header value passes through :func:`clean_header`; non-ASCII (and anything that looks
like an RFC 2047 encoded word) is sent as UTF-8 encoded words, so the header section is pure
ASCII and decodes back to exactly what was given. Bodies are UTF-8 in their canonical form
(CRLF line breaks, RFC 2046), quoted-printable when mostly ASCII, base64 otherwise; no line
exceeds 76 octets.

Speed: :func:`prepare` builds everything that is the same for every recipient once (per alert
and locale); :meth:`PreparedMessage.render` adds To, Message-ID and the unsubscribe links and
fills ``%%TOKEN%%`` placeholders in the bodies, re-encoding only the parts that hold tokens.
:func:`build_message` is ``prepare`` plus one ``render``.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import html as html_lib
import re
import secrets
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy as email_policy
from email.generator import BytesGenerator
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr
from io import BytesIO
from typing import Final

import dkim
import idna

__all__ = [
    "OutgoingMail", "PreparedMessage", "ascii_address", "build_message", "clean_header",
    "dkim_sign", "format_address", "make_message_id", "prepare",
]  # fmt: skip

# C0, DEL, C1 (NEL is U+0085), the Unicode line/paragraph separators, bidi embeddings,
# overrides, isolates and marks, and lone surrogates (which cannot be encoded). A run of them,
# with the spaces around it, becomes one space.
_CONTROLS: Final = (
    "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
)
_CONTROL_RUN: Final = re.compile(f" *(?:[{_CONTROLS}] *)+")
_LOCAL_PART: Final = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
)
_DNS_LABEL: Final = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?")
_URI: Final = re.compile(r"[!#-;=?-~]+")  # printable ASCII except space, '"', '<' and '>'
_HEADER_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,75}")
_TOKEN: Final = re.compile(r"%%([A-Z][A-Z0-9_]{0,63})%%")
_ASCII_BYTES: Final = bytes(range(128))
_CRLF: Final = b"\r\n"
_MAX_LINE: Final = 76  # RFC 2047 section 2: lines holding encoded words
_WORD_BYTES: Final = 39  # UTF-8 octets per encoded word: 64 characters with the wrapper
_GENERATOR_POLICY: Final = email_policy.compat32.clone(linesep="\r\n")

# Headers this module writes itself, and address/trace headers nobody may add by hand.
_RESERVED_HEADERS: Final = frozenset(
    h.lower()
    for h in (
        "From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "Reply-To", "Sender",
        "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version",
        "Content-Type", "Content-Transfer-Encoding", "Return-Path", "Received",
        "DKIM-Signature", "X-Mailer",
    )
)  # fmt: skip
_DKIM_HEADERS: Final = (
    b"from", b"to", b"subject", b"date", b"message-id", b"reply-to", b"list-id",
    b"list-unsubscribe", b"list-unsubscribe-post", b"mime-version", b"content-type",
)  # fmt: skip


def clean_header(value: str) -> str:
    """Replace each run of control, line-breaking or bidi characters with one space, strip,
    and NFC-normalise. What comes out can never end a header line."""
    return unicodedata.normalize("NFC", _CONTROL_RUN.sub(" ", value).strip())


def _ascii_domain(domain: str) -> str:
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValueError("invalid internationalised domain") from exc
    labels = domain.split(".")
    if len(domain) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise ValueError("invalid domain")
    return domain


def ascii_address(address: str) -> str:
    """``local@domain`` checked and made ASCII: the domain in IDNA form. A non-ASCII local
    part raises ValueError (that would need SMTPUTF8, which we do not use)."""
    addr = clean_header(address)
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("not an address of the form local@domain")
    if not local.isascii():
        raise ValueError("a non-ASCII local part needs SMTPUTF8, which is not supported")
    if len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        raise ValueError("invalid local part")
    result = f"{local}@{_ascii_domain(domain)}"
    if len(result) > 254:
        raise ValueError("address too long")
    return result


def _needs_encoding(text: str) -> bool:
    return not text.isascii() or "=?" in text or any(len(w) > 60 for w in text.split())


def _encoded_words(text: str) -> str:
    """RFC 2047 B-encoded words, each holding whole characters and at most 64 characters
    long, separated by single spaces (which decoders drop between encoded words)."""
    chunks: list[bytes] = [b""]
    for char in text:
        octets = char.encode("utf-8")
        if len(chunks[-1]) + len(octets) > _WORD_BYTES:
            chunks.append(b"")
        chunks[-1] += octets
    encoded = (binascii.b2a_base64(c, newline=False).decode("ascii") for c in chunks if c)
    return " ".join(f"=?utf-8?b?{word}?=" for word in encoded)


def _unstructured(value: str) -> str:
    """An unstructured header value (Subject, extra headers): cleaned, then encoded words
    when it is not plain ASCII text."""
    text = clean_header(value)
    return _encoded_words(text) if _needs_encoding(text) else text


def _phrase(name: str) -> str:
    """A display name: encoded words, or an ASCII phrase quoted when it has specials."""
    if _needs_encoding(name):
        return _encoded_words(name)
    # formataddr quotes and escapes; the address part here is a fixed placeholder.
    return formataddr((name, "x@x")).removesuffix(" <x@x>")


def format_address(display_name: str, address: str) -> str:
    """``Name <local@domain>`` in ASCII: the name RFC 2047-encoded when needed (or quoted),
    the domain in IDNA form. Raises ValueError for an unusable address."""
    addr = ascii_address(address)
    name = clean_header(display_name)
    return f"{_phrase(name)} <{addr}>" if name else addr


def make_message_id(domain: str, seed: bytes | None = None, key: bytes | None = None) -> str:
    """``<32 hex digits@domain>``: random, or HMAC-SHA256(key, seed) when both are given, so a
    re-send of the same ledger row carries the same id. Reveals no counts or times."""
    if seed is not None and key is not None:
        token = hmac.new(key, b"message-id\x00" + seed, hashlib.sha256).hexdigest()[:32]
    else:
        token = secrets.token_hex(16)
    return f"<{token}@{_ascii_domain(clean_header(domain))}>"


def _message_id(value: str) -> str:
    inner = clean_header(value).removeprefix("<").removesuffix(">")
    left, _, right = inner.rpartition("@")
    if not left or not right or not _URI.fullmatch(inner) or len(inner) > 900:
        raise ValueError("invalid Message-ID")
    return f"<{inner}>"


def _list_id(value: str) -> str:
    text = clean_header(value)
    match = re.fullmatch(r"(.*?)\s*<([^<>]+)>", text)
    phrase, lid = (match.group(1), match.group(2)) if match else ("", text)
    if not _LOCAL_PART.fullmatch(lid) or "." not in lid:
        raise ValueError("invalid List-Id")
    return f"{_phrase(phrase)} <{lid}>" if phrase else f"<{lid}>"


def _uri(value: str, kind: str) -> str:
    uri = clean_header(value)
    if not _URI.fullmatch(uri) or len(uri) > 900:
        raise ValueError(f"invalid {kind} URI")
    return uri


def _fold(name: str, value: str) -> bytes:
    """One ASCII header field, folded only at existing spaces, so unfolding gives back the
    value exactly. Words are never longer than the checks above allow (< 998 octets)."""
    line = f"{name}: {value}"
    if len(line) <= _MAX_LINE:
        return line.encode("ascii") + _CRLF
    lines: list[str] = []
    current, has_word = f"{name}:", False
    for word in value.split(" "):
        if word and len(current) + 1 + len(word) > _MAX_LINE and (has_word or len(word) < 80):
            lines.append(current)
            current = ""
        current += " " + word
        has_word = has_word or bool(word)
    lines.append(current)
    return "\r\n".join(lines).encode("ascii") + _CRLF


@dataclass(frozen=True)
class OutgoingMail:
    """One message to build. ``reply_to`` is (name, address). Unsubscribe links make it bulk
    mail: List-Unsubscribe, plus List-Unsubscribe-Post (RFC 8058) for an https URL."""

    from_name: str
    from_addr: str
    to_name: str
    to_addr: str
    subject: str
    text: str
    html: str | None
    message_id: str
    reply_to: tuple[str, str] | None = None
    list_id: str | None = None
    unsubscribe_url: str | None = None
    unsubscribe_mailto: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()
    date: datetime | None = None


def _canonical_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _choose_encoding(text: str) -> str:
    data = text.encode("utf-8")
    high = len(data.translate(None, _ASCII_BYTES))
    return "quoted-printable" if high * 6 < len(data) else "base64"


def _encode_body(text: str, cte: str) -> bytes:
    """The body in canonical form (CRLF line breaks), encoded, every line ending in CRLF."""
    if not text:
        return b""
    if cte == "quoted-printable":
        encoded = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True)
        if not text.endswith("\n"):
            encoded += b"=\n"  # a soft break: the part ends without adding a line break
    else:
        raw = binascii.b2a_base64(text.replace("\n", "\r\n").encode("utf-8"), newline=False)
        encoded = b"\n".join(raw[i : i + 76] for i in range(0, len(raw), 76))
    if not encoded.endswith(b"\n"):
        encoded += b"\n"
    return encoded.replace(b"\n", _CRLF)


class _Body:
    """One text part, pre-split at its tokens; pre-encoded when it has none."""

    def __init__(self, text: str, tokens: Collection[str] | None, escape: bool) -> None:
        text = _canonical_text(text)
        self.cte = _choose_encoding(text)
        self.escape = escape
        self.pieces = _TOKEN.split(text) if "%%" in text else [text]
        if tokens is not None:  # only the declared tokens are placeholders
            merged, pieces = [self.pieces[0]], self.pieces
            for name, after in zip(pieces[1::2], pieces[2::2], strict=True):
                if name in tokens:
                    merged += [name, after]
                else:
                    merged[-1] += f"%%{name}%%{after}"
            self.pieces = merged
        self.tokens = frozenset(self.pieces[1::2])
        self.static = None if self.tokens else _encode_body(text, self.cte)

    def render(self, values: Mapping[str, str]) -> bytes:
        if self.static is not None:
            return self.static
        pieces = self.pieces.copy()
        for i in range(1, len(pieces), 2):
            value = _canonical_text(values[pieces[i]])
            pieces[i] = html_lib.escape(value) if self.escape else value
        return _encode_body("".join(pieces), self.cte)


def _mime_skeleton(bodies: list[_Body], html: bool) -> list[bytes]:
    """The MIME headers and structure (compat32 classes), split where the bodies go."""
    marks = [f"@@BODY-{i}-{secrets.token_hex(8)}@@" for i in range(len(bodies))]
    parts: list[Message] = []
    for mark, body, sub in zip(marks, bodies, ("plain", "html"), strict=False):
        leaf = MIMENonMultipart("text", sub, charset="utf-8")
        leaf["Content-Transfer-Encoding"] = body.cte
        leaf.set_payload(mark + "\n")
        parts.append(leaf)
    if html:
        multipart = MIMEMultipart("alternative", boundary=f"=_{secrets.token_hex(12)}")
        for part in parts:
            multipart.attach(part)
        root: Message = multipart
    else:
        root = parts[0]
    for node in root.walk():
        del node["MIME-Version"]  # written once, with the other top-level headers
    buffer = BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=_GENERATOR_POLICY).flatten(root)
    skeleton = buffer.getvalue()
    pieces: list[bytes] = []
    for mark in marks:
        before, found, skeleton = skeleton.partition(mark.encode("ascii") + _CRLF)
        if not found:  # pragma: no cover - the generator writes payloads verbatim
            raise RuntimeError("MIME skeleton lost a body marker")
        pieces.append(before)
    return [*pieces, skeleton]


class PreparedMessage:
    """A message built once; :meth:`render` personalises it per recipient."""

    def __init__(self, mail: OutgoingMail, tokens: Collection[str] | None = None) -> None:
        date = mail.date or datetime.now(UTC)
        date = date.replace(tzinfo=UTC) if date.tzinfo is None else date.astimezone(UTC)
        self._from = _fold("From", format_address(mail.from_name, mail.from_addr))
        head = [_fold("Subject", _unstructured(mail.subject)), _fold("Date", format_datetime(date))]
        self._head = b"".join(head)
        tail: list[bytes] = []
        if mail.reply_to is not None:
            tail.append(_fold("Reply-To", format_address(*mail.reply_to)))
        if mail.list_id is not None:
            tail.append(_fold("List-Id", _list_id(mail.list_id)))
        self._tail = b"".join(tail)
        extra: list[bytes] = []
        for name, value in mail.extra_headers:
            if not _HEADER_NAME.fullmatch(name) or name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"header {name!r} may not be added")
            extra.append(_fold(name, _unstructured(value)))
        bodies = [_Body(mail.text, tokens, escape=False)]
        if mail.html is not None:
            bodies.append(_Body(mail.html, tokens, escape=True))
        self._bodies = bodies
        self._tokens = frozenset().union(*(b.tokens for b in bodies))
        skeleton = _mime_skeleton(bodies, mail.html is not None)
        self._skeleton_head = b"".join(extra) + b"MIME-Version: 1.0\r\n" + skeleton[0]
        self._skeleton_rest = skeleton[1:]

    @property
    def tokens(self) -> frozenset[str]:
        """The ``%%TOKEN%%`` names every render must be given a value for."""
        return self._tokens

    def render(
        self,
        to_name: str,
        to_addr: str,
        message_id: str,
        unsubscribe_url: str | None = None,
        unsubscribe_mailto: str | None = None,
        replacements: Mapping[str, str] | None = None,
    ) -> bytes:
        """The complete message for one recipient. ``replacements`` fills the tokens: as
        given in the text part, HTML-escaped in the HTML part. Missing ones raise ValueError."""
        values = replacements or {}
        missing = self._tokens.difference(values)
        if missing:
            raise ValueError(f"no value for {', '.join(sorted(missing))}")
        out = [
            self._from,
            _fold("To", format_address(to_name, to_addr)),
            self._head,
            _fold("Message-ID", _message_id(message_id)),
            self._tail,
        ]
        links, one_click = [], False
        if unsubscribe_url is not None:
            url = _uri(unsubscribe_url, "unsubscribe")
            if not url.startswith(("https://", "http://")):
                raise ValueError("the unsubscribe URL must be http(s)")
            links.append(f"<{url}>")
            # RFC 8058 one-click needs https; plain http (development) gets the link only.
            one_click = url.startswith("https://")
        if unsubscribe_mailto is not None:
            mailto = _uri(unsubscribe_mailto, "mailto")
            links.append(f"<{mailto if mailto.startswith('mailto:') else 'mailto:' + mailto}>")
        if links:
            out.append(_fold("List-Unsubscribe", ", ".join(links)))
        if one_click:
            out.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        out.append(self._skeleton_head)
        for body, rest in zip(self._bodies, self._skeleton_rest, strict=True):
            out += [body.render(values), rest]
        return b"".join(out)


def prepare(mail: OutgoingMail, tokens: Iterable[str] | None = None) -> PreparedMessage:
    """Build what every recipient shares. The recipient fields, message_id and unsubscribe
    links of ``mail`` are ignored (each render gives them). ``tokens`` names the ``%%NAME%%``
    placeholders; None takes every ``%%NAME%%`` in the bodies (pass the names when bodies
    hold organiser text that could contain such a pattern literally)."""
    return PreparedMessage(mail, None if tokens is None else frozenset(tokens))


def build_message(mail: OutgoingMail) -> bytes:
    """The complete message as bytes with CRLF line endings, ready for SMTP."""
    return prepare(mail, tokens=()).render(
        mail.to_name, mail.to_addr, mail.message_id, mail.unsubscribe_url, mail.unsubscribe_mailto
    )


def _header_names(message: bytes) -> set[bytes]:
    head = message.split(b"\r\n\r\n", 1)[0]
    return {
        line.split(b":", 1)[0].strip().lower()
        for line in head.split(b"\r\n")
        if line and line[:1] not in b" \t"
    }


def dkim_sign(message: bytes, selector: str, domain: str, private_key_pem: bytes) -> bytes:
    """The message with a DKIM-Signature (rsa-sha256, relaxed/relaxed canonicalisation)
    prepended, covering the identity, list and MIME headers that are present."""
    present = _header_names(message)
    signature = dkim.sign(
        message,
        clean_header(selector).encode("ascii"),
        _ascii_domain(clean_header(domain)).encode("ascii"),
        private_key_pem,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=[h for h in _DKIM_HEADERS if h in present],
        linesep=b"\r\n",
    )
    return bytes(signature) + message
