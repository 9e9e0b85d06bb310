"""The supporter's journey through the real app and a real SMTP server on loopback."""

from __future__ import annotations

import html as html_lib
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from babel.support import Translations
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from campaign.extensions import db
from campaign.mail.models import OutgoingMessage
from campaign.subscribers.models import Status, Subscriber, Suppression
from tests.conftest import wait_for_jobs
from tests.smtp_sink import SmtpSink
from tests.test_alerts_support import PrivateRedis

TAJIK = set("ғӣқӯҳҷ")
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
ADDRESS = "Supporter.Canary@Example.org"
NAME = "Гулноза Canaryname"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def site(make_app: Callable[..., Flask], sink: SmtpSink) -> Flask:
    return make_app(SMTP_URL=f"smtp://127.0.0.1:{sink.port}")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token"
    return match.group(1)


def messages(sink: SmtpSink) -> list[EmailMessage]:
    parsed = []
    for _from, _rcpts, data in sink.messages:
        message = BytesParser(policy=policy.default).parsebytes(data)
        assert isinstance(message, EmailMessage)
        parsed.append(message)
    return parsed


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def subscribe(client: FlaskClient, lang: str, email: str = ADDRESS, name: str = NAME,
              **extra: str) -> tuple[int, str]:
    token = csrf_of(client.get(f"/{lang}/subscribe").get_data(as_text=True))
    data = {"csrf_token": token, "email": email, "name": name, "language": lang,
            "scope": "all", "consent": "y", **extra}
    response = client.post(f"/{lang}/subscribe", data=data, follow_redirects=True)
    return response.status_code, response.get_data(as_text=True)


def link_in(message: EmailMessage, pattern: str) -> str:
    match = re.search(r"http://127\.0\.0\.1:5000(" + pattern + r")", text_of(message))
    assert match, f"no link like {pattern} in {text_of(message)!r}"
    return match.group(1)


def test_the_whole_journey_in_tajik_then_russian_then_one_click(
    site: Flask, sink: SmtpSink
) -> None:
    client = site.test_client()
    status, page = subscribe(client, "tg")
    assert status == 200 and 'lang="tg"' in page
    wait_for_jobs(site)
    [confirmation] = messages(sink)
    assert TAJIK & set(str(confirmation["Subject"]) + text_of(confirmation))
    assert "Canaryname" not in text_of(confirmation)  # fixed text only: nothing echoed
    assert sink.messages[0][1] == ["supporter.canary@example.org"]
    confirm_path = link_in(confirmation, r"/tg/confirm/\S+")

    # A GET (a mail scanner) only shows a page with a button.
    page = client.get(confirm_path)
    assert page.status_code == 200
    with site.app_context():
        assert db.session.scalar(select(Subscriber.status)) == Status.PENDING
    done = client.post(confirm_path, data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    assert done.status_code == 200
    wait_for_jobs(site)
    with site.app_context():
        assert db.session.scalar(select(Subscriber.status)) == Status.ACTIVE
    welcome = messages(sink)[1]
    assert TAJIK & set(text_of(welcome))
    prefs_path = link_in(welcome, r"/tg/preferences/\S+")

    # Switch to Russian: the next mail is Russian.
    page = client.get(prefs_path)
    assert page.status_code == 200
    saved = client.post(prefs_path, data={"csrf_token": csrf_of(page.get_data(as_text=True)),
                                          "language": "ru", "scope": "all", "name": NAME})
    assert saved.status_code == 302
    unsubscribe_path = link_in(welcome, r"/u/\S+")
    # Exactly what a mailbox provider sends (RFC 8058): no cookie, no CSRF token.
    provider = site.test_client(use_cookies=False)
    response = provider.post(unsubscribe_path, data=b"List-Unsubscribe=One-Click",
                             content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and "Location" not in response.headers
    again = provider.post(unsubscribe_path, data=b"List-Unsubscribe=One-Click",
                          content_type="application/x-www-form-urlencoded")
    assert again.status_code == 200  # idempotent
    wait_for_jobs(site)
    goodbye = messages(sink)[2]
    assert re.search("[а-яё]", text_of(goodbye)) and not TAJIK & set(text_of(goodbye))
    assert len(messages(sink)) == 3  # the second POST sent nothing more
    with site.app_context():
        subscriber = db.session.scalars(select(Subscriber)).one()
        assert subscriber.status == Status.UNSUBSCRIBED and subscriber.locale == "ru"
        assert db.session.scalar(select(func.count()).select_from(Suppression)) == 1


def test_unsubscribe_get_shows_a_button_and_changes_nothing(site: Flask, sink: SmtpSink) -> None:
    client = site.test_client()
    subscribe(client, "en")
    wait_for_jobs(site)
    confirm_path = link_in(messages(sink)[0], r"/en/confirm/\S+")
    page = client.get(confirm_path).get_data(as_text=True)
    client.post(confirm_path, data={"csrf_token": csrf_of(page)})
    wait_for_jobs(site)
    unsubscribe_path = link_in(messages(sink)[1], r"/u/\S+")
    page = site.test_client().get(unsubscribe_path)
    assert page.status_code == 200 and "List-Unsubscribe" in page.get_data(as_text=True)
    with site.app_context():
        assert db.session.scalar(select(Subscriber.status)) == Status.ACTIVE


def snapshot(app: Flask) -> dict[str, list[tuple[object, ...]]]:
    with app.app_context():
        tables = {}
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(select(table)).all()
            tables[table.name] = sorted(tuple(map(repr, r)) for r in rows)
        return tables


def test_a_get_on_every_link_in_every_mail_changes_nothing(site: Flask, sink: SmtpSink) -> None:
    client = site.test_client()
    subscribe(client, "ru")
    wait_for_jobs(site)
    confirm_path = link_in(messages(sink)[0], r"/ru/confirm/\S+")
    client.post(confirm_path, data={"csrf_token": csrf_of(client.get(confirm_path).get_data(
        as_text=True))})
    wait_for_jobs(site)
    before = snapshot(site)
    scanner = site.test_client(use_cookies=False)
    links = set()
    for message in messages(sink):
        links |= set(re.findall(r"http://127\.0\.0\.1:5000(/\S+)", text_of(message)))
        html = message.get_body(preferencelist=("html",))
        assert html is not None
        links |= set(re.findall(r'href="http://127\.0\.0\.1:5000(/[^"]+)"', html.get_content()))
    assert len(links) >= 5
    for path in links:
        assert scanner.get(path).status_code < 500
    assert snapshot(site) == before


def test_fifty_sign_ups_for_one_address_from_many_ips_send_one_mail(
    site: Flask, sink: SmtpSink
) -> None:
    variants = ["victim@gmail.com", "Victim@Gmail.com", "v.i.c.t.i.m@gmail.com",
                "victim+x@googlemail.com", " victim@gmail.com "]
    for n in range(50):
        client = site.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{n + 1}"
        status, _page = subscribe(client, "en", email=variants[n % len(variants)], name="")
        assert status == 200
    wait_for_jobs(site)
    assert len(sink.messages) == 1


def test_the_answer_is_the_same_whatever_the_state_of_the_address(
    site: Flask, sink: SmtpSink
) -> None:
    def answer(email: str) -> str:
        _status, page = subscribe(site.test_client(), "en", email=email, name="")
        return re.sub(r'value="[^"]+"|nonce-[^\'"]+|nonce="[^"]+"', "", page)

    new = answer("new@example.org")
    pending = answer("new@example.org")
    with site.app_context():
        subscriber = db.session.scalars(select(Subscriber)).one()
        subscriber.status = Status.ACTIVE.value
        db.session.commit()
    active = answer("new@example.org")
    with site.app_context():
        db.session.scalars(select(Subscriber)).one().status = Status.UNSUBSCRIBED.value
        db.session.commit()
    unsubscribed = answer("new@example.org")
    assert new == pending == active == unsubscribed


def test_rows_at_rest_hold_no_address_or_name_in_clear(site: Flask, sink: SmtpSink,
                                                       tmp_path: Path) -> None:
    client = site.test_client()
    subscribe(client, "tg")
    wait_for_jobs(site)
    with site.app_context():
        db.session.remove()
        db.engine.dispose()
    raw = b""
    for path in tmp_path.glob("test.db*"):
        raw += path.read_bytes()
    for needle in ("supporter.canary", "Canaryname", "Гулноза", "canary@"):
        assert needle.encode() not in raw.lower() and needle.encode("utf-8") not in raw
    connection = sqlite3.connect(tmp_path / "test.db")
    dump = "\n".join(connection.iterdump())
    connection.close()
    assert "canary" not in dump.lower()


def test_honeypot_gets_the_same_answer_and_stores_nothing(site: Flask, sink: SmtpSink) -> None:
    status, page = subscribe(site.test_client(), "en", website="http://spam.example")
    assert status == 200 and "Check your inbox" in page
    wait_for_jobs(site)
    assert sink.messages == []
    with site.app_context():
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("email", "not-an-address", "This does not look like an email address. Please check it."),
     ("email", "a@b.org\r\nBcc: x@example.org",
      "The address contains characters that are not allowed."),
     ("email", "x" * 250 + "@example.org", ""),
     ("name", "n" * 201, ""),
     ("name", "bad\u202ename", "Please remove the invisible or control characters."),
     ("language", "fr", ""),
     ("consent", "", "Please tick the box to agree, or we cannot send you alerts.")],
)
def test_bad_input_gets_a_clear_400_with_the_form_kept(
    site: Flask, field: str, value: str, message: str
) -> None:
    client = site.test_client()
    token = csrf_of(client.get("/ru/subscribe").get_data(as_text=True))
    data = {"csrf_token": token, "email": "kept@example.org", "name": "Kept Name",
            "language": "ru", "scope": "all", "consent": "y", field: value}
    if field == "consent":
        del data["consent"]
    response = client.post("/ru/subscribe", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'lang="ru"' in html
    if field != "name":
        assert "Kept Name" in html
    if message:
        # The error is shown in the page's language (Russian here), not in English.
        russian = Translations.load(str(TRANSLATIONS), ["ru"]).gettext(message)
        assert russian != message
        assert html_lib.escape(russian, quote=True) in html
    with site.app_context():
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0
        assert db.session.scalar(select(func.count()).select_from(OutgoingMessage)) == 0


def test_tampered_expired_and_reused_tokens(site: Flask, sink: SmtpSink) -> None:
    client = site.test_client()
    subscribe(client, "en")
    wait_for_jobs(site)
    confirm_path = link_in(messages(sink)[0], r"/en/confirm/\S+")
    tampered = confirm_path[:-3] + ("AAA" if not confirm_path.endswith("AAA") else "BBB")
    assert client.get(tampered).status_code == 400
    page = client.get(confirm_path).get_data(as_text=True)
    assert client.post(confirm_path, data={"csrf_token": csrf_of(page)}).status_code == 200
    reused = client.post(confirm_path, data={"csrf_token": csrf_of(page)})
    assert reused.status_code == 400
    wait_for_jobs(site)
    # A token of another purpose is refused.
    unsubscribe_token = link_in(messages(sink)[1], r"/u/\S+").rsplit("/", 1)[1]
    assert client.get(f"/en/preferences/{unsubscribe_token}").status_code == 400


def test_erase_leaves_only_the_blind_index(site: Flask, sink: SmtpSink) -> None:
    client = site.test_client()
    subscribe(client, "en")
    wait_for_jobs(site)
    confirm_path = link_in(messages(sink)[0], r"/en/confirm/\S+")
    client.post(confirm_path, data={"csrf_token": csrf_of(client.get(confirm_path).get_data(
        as_text=True))})
    wait_for_jobs(site)
    prefs_path = link_in(messages(sink)[1], r"/en/preferences/\S+")
    page = client.get(prefs_path).get_data(as_text=True)
    exported = client.post(prefs_path + "/export", data={"csrf_token": csrf_of(page)})
    assert exported.status_code == 200 and exported.json is not None
    assert exported.json["email"] == "supporter.canary@example.org"
    erased = client.post(prefs_path + "/erase", data={"erase-csrf_token": csrf_of(page),
                                                      "erase-sure": "y"})
    assert erased.status_code == 200
    with site.app_context():
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0
        assert db.session.scalar(select(func.count()).select_from(OutgoingMessage)) == 0
        assert db.session.scalars(select(Suppression)).one().reason == "erased"
    # The old links now lead nowhere, and the one-click endpoint answers calmly.
    assert client.get(prefs_path).status_code == 410
    unsubscribe_path = link_in(messages(sink)[1], r"/u/\S+")
    response = site.test_client(use_cookies=False).post(
        unsubscribe_path, data=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200


def test_unconfirmed_sign_ups_are_deleted_after_72_hours(site: Flask, sink: SmtpSink) -> None:
    from datetime import UTC, datetime, timedelta

    from campaign.subscribers.services import purge_unconfirmed

    subscribe(site.test_client(), "en")
    wait_for_jobs(site)
    with site.app_context():
        assert purge_unconfirmed(db.session, datetime.now(UTC) + timedelta(hours=71)) == 0
        assert purge_unconfirmed(db.session, datetime.now(UTC) + timedelta(hours=73)) == 1
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_a_change_of_address_waits_for_the_new_address_to_confirm(
    site: Flask, sink: SmtpSink
) -> None:
    client = site.test_client()
    subscribe(client, "en")
    wait_for_jobs(site)
    path = link_in(messages(sink)[0], r"/en/confirm/\S+")
    client.post(path, data={"csrf_token": csrf_of(client.get(path).get_data(as_text=True))})
    wait_for_jobs(site)
    prefs_path = link_in(messages(sink)[1], r"/en/preferences/\S+")
    page = client.get(prefs_path).get_data(as_text=True)
    token = re.search(r'name="change-csrf_token" type="hidden" value="([^"]+)"', page)
    assert token
    response = client.post(prefs_path + "/address", data={"change-csrf_token": token.group(1),
                                                          "change-email": "New@Example.org"})
    assert response.status_code == 302
    wait_for_jobs(site)
    assert sink.messages[-1][1] == ["new@example.org"]
    with site.app_context():  # nothing changes until the new address confirms
        subscriber = db.session.scalars(select(Subscriber)).one()
        from campaign.subscribers.services import email_of
        assert email_of(subscriber) == "supporter.canary@example.org"
    confirm_new = link_in(messages(sink)[-1], r"/en/confirm/\S+")
    client.post(confirm_new, data={"csrf_token": csrf_of(client.get(confirm_new).get_data(
        as_text=True))})
    wait_for_jobs(site)
    with site.app_context():
        subscriber = db.session.scalars(select(Subscriber)).one()
        assert email_of(subscriber) == "new@example.org"
    assert client.get(prefs_path).status_code == 410  # links to the old address are void


def test_a_burst_of_concurrent_sign_ups_gives_no_5xx_and_one_confirmation_per_address(
    make_app: Callable[..., Flask], db_url: str, sink: SmtpSink,
) -> None:
    """Forty sign-ups posted at the same instant, on both engines: twenty different people,
    and twenty variants of one Gmail address (dots, +tags) from twenty addresses."""
    site = make_app(DATABASE_URL=db_url, SMTP_URL=f"smtp://127.0.0.1:{sink.port}")
    distinct = [f"burst{i}@example.org" for i in range(20)]
    bombs = [f"t.arget+{i}@gmail.com" if i % 2 else f"target+{i}@gmail.com" for i in range(20)]
    ready = []
    for n, address in enumerate(distinct + bombs):
        client = site.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{n + 1}"
        ready.append((client, csrf_of(client.get("/en/subscribe").get_data(as_text=True)),
                      address))
    start = threading.Barrier(len(ready))
    statuses: dict[str, int] = {}

    def post(client: FlaskClient, token: str, address: str) -> None:
        start.wait(timeout=30)
        response = client.post("/en/subscribe", data={
            "csrf_token": token, "email": address, "name": "", "language": "en",
            "scope": "all", "consent": "y"})
        statuses[address] = response.status_code

    threads = [threading.Thread(target=post, args=args) for args in ready]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(statuses) == 40 and set(statuses.values()) == {302}, statuses
    wait_for_jobs(site)
    with site.app_context():
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 40
        confirmations = db.session.scalar(select(func.count()).select_from(OutgoingMessage)
                                          .where(OutgoingMessage.template == "subscribers/confirm"))
    assert confirmations == 21  # one per person, one for all the Gmail variants
    assert len(sink.messages) == 21


def test_a_hostile_name_and_a_forged_host_never_reach_the_confirmation_mail(
    site: Flask, sink: SmtpSink,
) -> None:
    """The confirmation carries fixed text only, in both parts, and its links are built from
    BASE_URL, never from the Host or X-Forwarded-Host of the request that asked for it."""
    hostile = ('<a href="https://evil.example/win">Claim your prize</a> '
               "{{ config }} ${7*7} =HYPERLINK(\"https://evil.example\")")
    forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example",
              "X-Forwarded-Proto": "https"}
    client = site.test_client()
    token = csrf_of(client.get("/en/subscribe", headers=forged).get_data(as_text=True))
    response = client.post(
        "/en/subscribe", headers=forged,
        data={"csrf_token": token, "email": "forged@example.org", "name": hostile,
              "language": "en", "scope": "all", "consent": "y"})
    assert response.status_code == 302
    wait_for_jobs(site)
    [confirmation] = messages(sink)
    raw = sink.messages[0][2].decode("ascii", "replace")
    html_part = confirmation.get_body(preferencelist=("html",))
    assert html_part is not None
    for text in (text_of(confirmation), str(html_part.get_content()), raw):
        assert "evil.example" not in text and "Claim your prize" not in text
        assert "{{" not in text and "HYPERLINK" not in text
    links = re.findall(r"https?://[^\s\"'<>]+", text_of(confirmation))
    assert links and all(link.startswith("http://127.0.0.1:5000/") for link in links)


def test_sign_ups_are_limited_per_ip_and_per_folded_address_and_redis_holds_neither(
    make_app: Callable[..., Flask], sink: SmtpSink, tmp_path: Path,
) -> None:
    (tmp_path / "redis").mkdir()
    redis = PrivateRedis(tmp_path / "redis")
    try:
        site = make_app(SMTP_URL=f"smtp://127.0.0.1:{sink.port}", REDIS_URL=redis.url,
                        RATE_LIMITS="1")

        def sign_up(ip: str, email: str) -> int:
            client = site.test_client()
            client.environ_base["REMOTE_ADDR"] = ip
            token = csrf_of(client.get("/ru/subscribe").get_data(as_text=True))
            response = client.post("/ru/subscribe", data={
                "csrf_token": token, "email": email, "name": "", "language": "ru",
                "scope": "all", "consent": "y"})
            if response.status_code == 429:
                page = response.get_data(as_text=True)
                assert 'lang="ru"' in page and re.search("[а-яё]{4}", page)
            return response.status_code

        # One person's Gmail address, typed six ways from six addresses: five get through.
        variants = [f"v.i.c.t.i.m+{n}@gmail.com" if n % 2 else f"Victim+{n}@gmail.com"
                    for n in range(6)]
        codes = [sign_up(f"198.51.100.{n + 1}", email) for n, email in enumerate(variants)]
        assert codes == [302] * 5 + [429]
        assert sign_up("198.51.100.1", "someone.else@example.org") == 302  # others go on
        # One address signing up many people: ten an hour.
        codes = [sign_up("203.0.113.9", f"person{n}@example.org") for n in range(11)]
        assert codes == [302] * 10 + [429]
        stored = b"\n".join(key + b"=" + (redis.client.get(key) or b"")
                            for key in redis.client.scan_iter() if redis.client.type(key)
                            == b"string")
        assert stored  # the limits live in Redis
        for clear in (b"198.51.100", b"203.0.113", b"victim", b"gmail", b"example.org"):
            assert clear not in stored.lower(), clear
    finally:
        redis.stop()
