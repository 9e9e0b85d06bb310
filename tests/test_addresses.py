"""Tests for campaign.addresses: offline validation, normalisation and folding."""

from __future__ import annotations

import socket
import unicodedata

import pytest

from campaign.addresses import MAX_LENGTH, AddressError, domain_of, fold, normalise


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Address handling must never resolve or connect."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


NFD_DOMAIN = unicodedata.normalize("NFD", "мой-сайт.рф")  # й = и + U+0306
NFD_TAJIK = unicodedata.normalize("NFD", "тоҷикӣ.tj")  # ӣ = и + U+0304
assert NFD_DOMAIN != "мой-сайт.рф"
assert NFD_TAJIK != "тоҷикӣ.tj"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ivan@example.org", "ivan@example.org"),
        ("Ivan.Petrov@Example.ORG", "ivan.petrov@example.org"),
        ("  ivan@example.org  ", "ivan@example.org"),
        ("\tivan@example.org\r\n", "ivan@example.org"),  # trimmed; nothing left inside
        ("ivan+alerts@example.org", "ivan+alerts@example.org"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("user@пример.рф", "user@xn--e1afmkfd.xn--p1ai"),
        ("User@ПРИМЕР.РФ", "user@xn--e1afmkfd.xn--p1ai"),
        ("user@xn--e1afmkfd.xn--p1ai", "user@xn--e1afmkfd.xn--p1ai"),
        ("user@мой-сайт.рф", "user@xn----8sbzclmxk.xn--p1ai"),
        ("user@" + NFD_DOMAIN, "user@xn----8sbzclmxk.xn--p1ai"),
        ("user@тоҷикӣ.tj", "user@xn--h1aekp00dki.tj"),
        ("user@" + NFD_TAJIK, "user@xn--h1aekp00dki.tj"),
        ("a@mail.tj", "a@mail.tj"),
        ("a@sub.domain.example.com", "a@sub.domain.example.com"),
        ("x" * 64 + "@example.org", "x" * 64 + "@example.org"),
    ],
)
def test_valid(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_normalise_is_idempotent() -> None:
    for raw in ("User@ПРИМЕР.РФ", "Ivan.Petrov@Example.ORG", "user@" + NFD_TAJIK):
        once = normalise(raw)
        assert normalise(once) == once
        assert once.isascii()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("\r\n", "empty"),
        ("a@b.org\r\nBcc: x@y.org", "control"),
        ("a@b.org\nBcc: x@y.org", "control"),
        ("a@b.org\rBcc: x@y.org", "control"),
        ("a\x00@b.org", "control"),
        ("a@b.org\x00", "control"),
        ("a@b\x7f.org", "control"),
        ("a@b.org\x85x", "control"),  # C1 NEL
        ("a\u202e@b.org", "control"),  # right-to-left override
        ("a@b\u2066.org", "control"),  # left-to-right isolate
        ("a@b.org\u2028x@c.org", "control"),  # line separator
        ("a@b.org\u2029x", "control"),  # paragraph separator
        ("a\u200b@b.org", "control"),  # zero-width space
        ("\ufeffa@b.org", "control"),  # BOM
        ("a b@c.org", "invalid"),
        ("a@b", "invalid"),
        ("a@", "invalid"),
        ("@b.org", "invalid"),
        ("ab.org", "invalid"),
        ("a@@b.org", "invalid"),
        ("a..b@c.org", "invalid"),
        (".a@c.org", "invalid"),
        ("a@-b.org", "invalid"),
        ("a@b..org", "invalid"),
        ("a@localhost", "invalid"),
        ("a@b.test", "invalid"),
        ("a@b.invalid", "invalid"),
        ('"quoted"@b.org', "invalid"),
        ("Ivan <ivan@b.org>", "invalid"),
        ("a@[192.0.2.1]", "invalid"),
        ("a@b.org, c@d.org", "invalid"),
        ("иван@mail.ru", "smtputf8"),
        ("josé@example.org", "smtputf8"),
        ("Ҷамшед@mail.tj", "smtputf8"),
        ("x" * 65 + "@example.org", "too_long"),
        ("a@" + ("b" * 60 + ".") * 5 + "org", "too_long"),  # 310 > 254
        ("a" * 10_000 + "@example.org", "too_long"),
    ],
)
def test_invalid(raw: str, code: str) -> None:
    with pytest.raises(AddressError) as info:
        normalise(raw)
    assert info.value.code == code
    assert isinstance(info.value, ValueError)
    assert str(info.value)  # a human-readable message for the form


def test_overlong_idn_domain_refused() -> None:
    # Short in Unicode, too long once converted to IDNA ASCII.
    label = "пример" * 8  # 48 Cyrillic letters -> a long xn-- label
    raw = "a@" + ".".join([label] * 4) + ".рф"
    assert len(raw) <= MAX_LENGTH
    with pytest.raises(AddressError) as info:
        normalise(raw)
    assert info.value.code in ("too_long", "invalid")


def test_max_length_boundary() -> None:
    domain = ".".join(["b" * 63, "c" * 63, "d" * 60]) + ".org"
    local = "a" * (MAX_LENGTH - len(domain) - 1)
    address = f"{local}@{domain}"
    assert len(address) == MAX_LENGTH
    assert len(local) <= 64
    assert normalise(address) == address
    with pytest.raises(AddressError) as info:
        normalise("a" + address)
    assert info.value.code == "too_long"


def test_error_message_does_not_contain_address() -> None:
    with pytest.raises(AddressError) as info:
        normalise("secret.person@b")
    assert "secret.person" not in str(info.value)


def test_non_str_refused() -> None:
    with pytest.raises(TypeError):
        normalise(b"a@b.org")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "folded"),
    [
        ("ivan@example.org", "ivan@example.org"),
        ("ivan+alerts@example.org", "ivan@example.org"),
        ("ivan+a+b@example.org", "ivan@example.org"),
        ("ivan.petrov+x@example.org", "ivan.petrov@example.org"),  # dots kept elsewhere
        ("+only@example.org", "+only@example.org"),  # nothing before "+": kept whole
        ("i.v.a.n@gmail.com", "ivan@gmail.com"),
        ("i.v.a.n+bomb@gmail.com", "ivan@gmail.com"),
        ("ivan.petrov@googlemail.com", "ivanpetrov@gmail.com"),
        ("ivan+1@googlemail.com", "ivan@gmail.com"),
        ("ivan+x@yandex.ru", "ivan@yandex.ru"),
        ("ivan@ya.ru", "ivan@yandex.ru"),
        ("ivan@yandex.com", "ivan@yandex.ru"),
        ("ivan@yandex.kz", "ivan@yandex.ru"),
        ("ivan.petrov@yandex.ru", "ivan.petrov@yandex.ru"),  # not folded: unverified
        ("ivan-news@mail.ru", "ivan-news@mail.ru"),  # no "-tag" rule anywhere
        ("user+x@xn--e1afmkfd.xn--p1ai", "user@xn--e1afmkfd.xn--p1ai"),
    ],
)
def test_fold(address: str, folded: str) -> None:
    assert fold(address) == folded
    assert fold(folded) == folded


def test_fold_after_normalise() -> None:
    variants = ["I.Van+one@GMail.com", "ivan@googlemail.com", " i.van+two@gmail.com "]
    assert {fold(normalise(v)) for v in variants} == {"ivan@gmail.com"}


@pytest.mark.parametrize("bad", ["", "no-at-sign", "@example.org", "ivan@"])
def test_fold_and_domain_of_need_an_address(bad: str) -> None:
    with pytest.raises(ValueError):
        fold(bad)
    with pytest.raises(ValueError):
        domain_of(bad)


def test_domain_of() -> None:
    assert domain_of("ivan@example.org") == "example.org"
    assert domain_of(normalise("user@пример.рф")) == "xn--e1afmkfd.xn--p1ai"
