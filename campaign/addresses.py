"""Email address handling that never touches the network.

``normalise`` turns what a person typed into the one form we store and index:
``local@domain`` with an ASCII (IDNA) lower-case domain and a lower-case local part.
``fold`` maps addresses that reach the same mailbox at the big providers onto one key, for
rate-limiting subscription bombing (never for sending: we always send to the normalised
address the person gave).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Final, Literal

from email_validator import EmailNotValidError, ValidatedEmail, validate_email

__all__ = ["MAX_LENGTH", "AddressError", "domain_of", "fold", "normalise"]

MAX_LENGTH: Final = 254  # RFC 5321 path limit minus the angle brackets

ErrorCode = Literal["empty", "too_long", "invalid", "smtputf8", "control"]

# Anything far beyond the limit is refused before any parsing work is done.
_HARD_INPUT_LIMIT: Final = 4 * MAX_LENGTH

_MESSAGES: Final[dict[str, str]] = {
    "empty": "Please enter an email address.",
    "too_long": "This email address is too long.",
    "invalid": "This is not a valid email address.",
    "smtputf8": "Addresses with non-Latin letters before the @ are not supported yet.",
    "control": "The email address contains invisible or control characters.",
}


class AddressError(ValueError):
    """An address was refused. ``code`` is one of: empty, too_long, invalid, smtputf8,
    control. ``detail`` is the validator's message, for logs (it may quote characters of
    the address, so do not log it where addresses must not appear)."""

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        super().__init__(_MESSAGES[code])
        self.code: ErrorCode = code
        self.detail = detail


# Bidi embeddings, overrides and isolates, plus the implicit marks (LRM, RLM, ALM).
_BIDI_CONTROLS: Final = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def _is_control(ch: str) -> bool:
    """C0, DEL, C1, bidi controls, line/paragraph separators and other invisible format
    characters (zero-width spaces/joiners, BOM, soft hyphen, tag characters). None of them
    belongs in an address someone typed, and several can hide or reorder what is shown."""
    if ch in _BIDI_CONTROLS or ch in "\u2028\u2029":
        return True
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def normalise(raw: str) -> str:
    """Validate and normalise an address; raise ``AddressError`` if it is refused.

    Steps: NFC, trim surrounding whitespace, refuse control characters anywhere (so
    ``"a@b.org\\r\\nBcc: x@y.org"`` is refused with code "control"), validate the syntax
    without DNS, convert the domain to IDNA ASCII lower case (``пример.рф`` is stored as
    ``xn--e1afmkfd.xn--p1ai``), lower-case the local part. Quoted local parts, IP-literal
    domains, display names and non-ASCII local parts (SMTPUTF8) are refused.
    """
    if not isinstance(raw, str):
        raise TypeError("address must be a str")
    if len(raw) > _HARD_INPUT_LIMIT:
        raise AddressError("too_long")
    # ASCII is already in NFC, and its only control characters are C0 and DEL (exactly
    # the ASCII characters ``str.isprintable`` refuses): cheap checks for the common case.
    if raw.isascii():
        text = raw.strip()
        control = not text.isprintable()
    else:
        text = unicodedata.normalize("NFC", raw).strip()
        control = any(_is_control(ch) for ch in text)
    if not text:
        raise AddressError("empty")
    if control:
        raise AddressError("control")
    if len(text) > MAX_LENGTH:
        raise AddressError("too_long")

    local_part, at, domain_part = text.rpartition("@")
    fast = _fast_path(local_part, domain_part) if at else None
    if fast is not None:
        return fast
    try:
        info = _validate(text)
    except EmailNotValidError as exc:
        detail = str(exc)
        if at and not local_part.isascii():
            raise AddressError("smtputf8", detail) from None
        if "too long" in detail.lower():
            raise AddressError("too_long", detail) from None
        raise AddressError("invalid", detail) from None

    ascii_local = info.ascii_local_part
    if ascii_local is None:  # cannot happen with allow_smtputf8=False; be explicit anyway
        raise AddressError("smtputf8")
    result = f"{ascii_local.lower()}@{info.ascii_domain.lower()}"
    if len(result) > MAX_LENGTH:  # the IDNA form can be longer than the Unicode one
        raise AddressError("too_long")
    return result


def _validate(text: str) -> ValidatedEmail:
    return validate_email(
        text,
        check_deliverability=False,
        allow_smtputf8=False,
        allow_quoted_local=False,
        allow_domain_literal=False,
        allow_display_name=False,
        allow_empty_local=False,
        strict=True,  # enforces the 64-character local-part limit
    )


# RFC 5322 dot-atom of ASCII atext (the validator's own ``DOT_ATOM_TEXT``), at most 64
# characters (its strict local-part limit).
_ATEXT: Final = r"A-Za-z0-9_!#$%&'*+\-/=?^`{|}~"
_DOT_ATOM: Final = re.compile(f"[{_ATEXT}]+(?:\\.[{_ATEXT}]+)*")
_LOCAL_MAX: Final = 64


@lru_cache(maxsize=1024)
def _accepted_domain(domain: str) -> tuple[str, str]:
    """(normalised Unicode domain, IDNA ASCII domain) of a domain the validator accepts,
    found by validating the probe address ``a@<domain>``. Raises ``EmailNotValidError``
    otherwise, so only accepted domains are cached."""
    info = _validate(f"a@{domain}")
    return info.domain, info.ascii_domain


def _fast_path(local_part: str, domain_part: str) -> str | None:
    """The result of the validator for ``local@domain`` without running it, or None when
    the slow path must decide (anything unusual, and every refusal).

    For a local part that is an ASCII dot-atom (no "@", quote or "<", so the validator splits
    the address exactly there, and the probe ``a@<domain>`` the same way) the validator's
    verdict is: the local part is valid as it is; the domain is validated on its own; then
    three lengths are checked (as typed, normalised, IDNA ASCII; UTF-8 bytes, at most 254).
    """
    if len(local_part) > _LOCAL_MAX or not local_part.isascii() \
            or _DOT_ATOM.fullmatch(local_part) is None:
        return None
    try:
        domain, ascii_domain = _accepted_domain(domain_part)
    except EmailNotValidError:
        return None
    n = len(local_part) + 1
    if (n + len(domain_part.encode()) > MAX_LENGTH or n + len(domain.encode()) > MAX_LENGTH
            or n + len(ascii_domain) > MAX_LENGTH):
        return None
    return f"{local_part.lower()}@{ascii_domain.lower()}"


_GMAIL_DOMAINS: Final = frozenset({"gmail.com", "googlemail.com"})

# Yandex: every mailbox receives mail for the same login on all of Yandex's public domains
# (Yandex ID help: "addresses using your username on all Yandex domains are linked to you"),
# so they fold onto one domain. Over-folding only merges rate-limit buckets, which is
# harmless; under-folding would let one mailbox be bombed through its aliases.
# Not done, because not verified from a primary source: Yandex is reported to treat "." and
# "-" in logins as the same character ("ivan.petrov" == "ivan-petrov"); if confirmed, map
# "-" to "." in the local part here. Yandex has no "-tag" subaddressing; its subaddress
# separator is "+", which the generic rule below already drops.
_YANDEX_DOMAINS: Final = frozenset(
    {"yandex.ru", "ya.ru", "yandex.com", "yandex.by", "yandex.kz", "yandex.ua"}
)


def _split(normalised: str) -> tuple[str, str]:
    local_part, at, domain = normalised.rpartition("@")
    if not at or not local_part or not domain:
        raise ValueError("not a normalised address (expected local@domain)")
    return local_part, domain


def fold(normalised: str) -> str:
    """The rate-limiting key of a normalised address.

    * Every domain: drop a "+tag" from the local part (``ivan+news@x.org`` -> ``ivan@x.org``);
      a local part that starts with "+" is kept whole.
    * gmail.com / googlemail.com: also drop dots, and googlemail.com becomes gmail.com.
    * yandex.ru, ya.ru, yandex.com, yandex.by, yandex.kz, yandex.ua: domain becomes
      yandex.ru.

    Use it only to count requests per mailbox; never send to the folded form.
    """
    local_part, domain = _split(normalised)
    local_part = local_part.lower()
    domain = domain.lower()
    base, plus, _tag = local_part.partition("+")
    if plus and base:
        local_part = base
    if domain in _GMAIL_DOMAINS:
        domain = "gmail.com"
        local_part = local_part.replace(".", "") or local_part
    elif domain in _YANDEX_DOMAINS:
        domain = "yandex.ru"
    return f"{local_part}@{domain}"


def domain_of(normalised: str) -> str:
    """The (IDNA ASCII) domain of a normalised address."""
    return _split(normalised)[1]
