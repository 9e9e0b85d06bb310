"""The fast path of campaign.addresses.normalise gives exactly what the validator gives."""

from __future__ import annotations

import random
import socket
import string
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from campaign import addresses
from campaign.addresses import AddressError, normalise
from campaign.extensions import db
from campaign.subscribers import imports
from campaign.subscribers import services as subs
from campaign.subscribers.models import Consent, Subscriber
from tests.test_subscribers_admin import add_case

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~"
SPECIALS = "!#$%&'*+-/=?^_`{|}~"
# Not atext: each must send the address down the slow path (and mostly be refused there).
NOT_ATEXT = ' "(),:;<>@[\\]' + "\u00e9\u0436"
DOMAINS = (
    "example.org", "Example.ORG", "sub.example.co.uk", "пример.рф", "ПРИМЕР.РФ",
    "тоҷикӣ.tj", "bücher.de", "xn--e1afmkfd.xn--p1ai", "a-b.c-d.example.com",
    # special-use and malformed domains: refused by the validator, so by the fast path too
    "example.test", "localhost", "foo.invalid", "x.local", "example", "example.org.",
    ".example.org", "exa..mple.org", "-bad.org", "bad-.org", "a_b.org", "1.2.3.4",
    "[127.0.0.1]", "exa mple.org", "", "example.123", "x" * 64 + ".org",
    ".".join(["a" * 63] * 3) + ".org", ".".join(["b" * 60] * 4) + ".org",
)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _outcome(raw: str) -> tuple[str, str]:
    try:
        return "ok", normalise(raw)
    except AddressError as exc:
        return "error", exc.code


def _slow(raw: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    with monkeypatch.context() as patch:
        patch.setattr(addresses, "_fast_path", lambda local, domain: None)
        return _outcome(raw)


def _locals(rng: random.Random) -> list[str]:
    found = ["a", "Ivan.Petrov", "x" * 64, "x" * 65, "X" * 63 + "Y", "a." * 31 + "ab",
             "a." * 32 + "a", ".a", "a.", "a..b", ".", "..", "", "ADMIN", "Postmaster",
             *SPECIALS, SPECIALS, "." + SPECIALS, SPECIALS + ".", "a@b", '"a b"', "a b",
             "\u0436\u0436", "caf\u00e9", "a\tb", "Ab+Tag"]
    for _ in range(1500):
        length = rng.choice((1, 2, 5, 12, 30, 63, 64, 65, 70))
        chars = [rng.choice(ATEXT) for _ in range(length)]
        for _ in range(rng.randrange(4)):  # dots, anywhere (leading, trailing, doubled)
            chars[rng.randrange(length)] = "."
        if rng.random() < 0.1:
            chars[rng.randrange(length)] = rng.choice(NOT_ATEXT)
        found.append("".join(chars))
    return found


def test_fast_path_matches_the_validator(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5322)
    addresses._accepted_domain.cache_clear()
    fast_hits = 0
    compared = 0
    original = addresses._fast_path

    def counting(local: str, domain: str) -> str | None:
        nonlocal fast_hits
        result = original(local, domain)
        fast_hits += result is not None
        return result

    monkeypatch.setattr(addresses, "_fast_path", counting)
    for local in _locals(rng):
        for domain in [*rng.sample(DOMAINS, 4), rng.choice(DOMAINS[:9])]:
            for raw in (f"{local}@{domain}", f"  {local}@{domain}\n"):
                assert _outcome(raw) == _slow(raw, monkeypatch), raw
                compared += 1
    assert compared > 10_000
    assert fast_hits > 3000  # the fast path was really exercised


@pytest.mark.parametrize("raw", [
    "a@example.test", "a@localhost", "a@foo.invalid", "x" * 65 + "@example.org",
    "x" * 64 + "@example.org", "a@" + ".".join(["b" * 60] * 4) + ".org",
    "ivan@пример.рф", "Ivan.Petrov@Example.ORG", "a..b@example.org", ".a@example.org",
    "a.@example.org", "a\x7f@example.org", "a@b@example.org", "", "   ",
])
def test_edge_cases_match(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(2):  # the second time with the domain cached
        assert _outcome(raw) == _slow(raw, monkeypatch)


def test_long_address_near_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    domain = ".".join(["d" * 62] * 3) + ".org"  # 192 characters
    for length in range(55, 66):
        raw = "L" * length + "@" + domain
        assert _outcome(raw) == _slow(raw, monkeypatch), length
    idn = ".".join(["ж" * 20] * 5) + ".рф"  # its IDNA form is much longer
    for length in (1, 10, 40, 64):
        raw = "a" * length + "@" + idn
        assert _outcome(raw) == _slow(raw, monkeypatch), length


def test_only_accepted_domains_are_cached() -> None:
    addresses._accepted_domain.cache_clear()
    assert normalise("A@Example.ORG") == "a@example.org"
    with pytest.raises(AddressError):
        normalise("a@example.test")
    with pytest.raises(AddressError):
        normalise("a@example.test")
    info = addresses._accepted_domain.cache_info()
    assert info.currsize == 1


# --- the COPY path of the import on PostgreSQL ------------------------------------------------
# (Here because it was added with the address fast path, for the same bulk-load work.)


def _snapshot(session: Any) -> list[tuple[object, ...]]:
    rows = []
    for s in session.scalars(select(Subscriber).order_by(Subscriber.id)):
        consents = [(c.at, c.form, c.text_version, c.locale, c.confirmed_at)
                    for c in session.scalars(select(Consent).where(
                        Consent.subscriber_id == s.id).order_by(Consent.id))]
        rows.append((s.id, subs.email_of(s), subs.name_of(s), bytes(s.email_index),
                     bytes(s.fold_index), s.locale, s.status, s.all_alerts, s.discreet,
                     s.link_version, s.source, s.created_at == s.updated_at,
                     s.confirmed_at, s.confirm_nonce, s.pending_email_enc,
                     sorted(s.followed_case_ids), consents, len(s.public_id)))
    return rows


def test_the_copy_path_writes_what_the_insert_path_writes(
        make_app: Callable[..., Flask], pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(DATABASE_URL=pg_url)
    first, first_pid = add_case(app, "First")
    second, second_pid = add_case(app, "Second")
    lines = ["email,name,language,cases\n"]
    follow = (first_pid, f"{second_pid};{first_pid}", "")
    lines += [f"Person{i}@Example.org,{'Имя ' + str(i) if i % 3 else ''},"
              f"{('en', 'ru', 'tg')[i % 3]},{follow[i % 3]}\n" for i in range(23)]
    lines += ["person4@example.org,,,\n", "not an address,,,\n", "x@пример.рф,,,\n"]
    options = imports.ImportOptions(imports.Mode.ATTEST, "fair", date(2026, 1, 2), chunk_size=5)
    snapshots = []
    reports = []
    for copy in (True, False):
        if not copy:
            monkeypatch.setattr(imports, "_copy_subscribers", imports._insert_subscribers)
        with app.app_context():
            db.session.execute(text(
                "TRUNCATE subscribers, subscriber_follows, consents RESTART IDENTITY CASCADE"))
            db.session.commit()
            report = imports.import_csv(db.session, lines, options,
                                        after_chunk=db.session.commit)
            reports.append((report.counts, report.problems))
            snapshots.append(_snapshot(db.session))
            db.session.remove()
    assert reports[0] == reports[1]
    assert snapshots[0] == snapshots[1]
    assert len(snapshots[0]) == 24
    assert {tuple(row[15]) for row in snapshots[0]} == {(first,), tuple(sorted((first, second))),
                                                          ()}
