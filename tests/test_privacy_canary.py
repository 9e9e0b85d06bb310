"""A canary supporter subscribes, signs a letter, receives an alert, bounces and has a job
fail, and an organiser exports subscribers and signers, with jobs carried by RQ on a private
redis-server; afterwards the canary's address and
name appear in clear nowhere at rest (database files, Redis keys and values, logs, the mail
folder) except in mail sent to it and in the letter it signed."""

from __future__ import annotations

import logging
import mailbox
import secrets
import urllib.parse
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import select

from campaign.actions import demo as action_demo
from campaign.actions.models import Action
from campaign.admin.models import Role
from campaign.extensions import db
from campaign.jobs import QUEUES
from campaign.mail import services as mail
from campaign.mail.transport import MemoryTransport, SendResult
from campaign.subscribers import services as subs
from tests.admin_support import csrf, make_account, signed_in
from tests.test_actions_flow import CITY, confirm, confirm_path, sign
from tests.test_alerts_support import PrivateRedis, make_alert, send_now
from tests.test_subscribers_journey import csrf_of, link_in
from workers.worker import make_worker


def forms(value: str) -> set[bytes]:
    """Every way the value could sit in a file: plain, lower case, URL-encoded, UTF-8."""
    variants = {value, value.lower(), urllib.parse.quote(value), urllib.parse.quote_plus(value),
                urllib.parse.quote(value.lower())}
    return {v.encode("utf-8") for v in variants}


def redis_contents(client: Redis) -> bytes:
    """Every key and every value of a Redis database, RQ's compressed job data unpacked."""
    out = []
    for key in client.scan_iter(count=1000):
        out.append(key)
        kind = client.type(key)
        if kind == b"string":
            out.append(client.get(key) or b"")
        elif kind == b"hash":
            for field, value in client.hgetall(key).items():
                out.append(field)
                try:
                    out.append(zlib.decompress(value))
                except zlib.error:
                    out.append(value)
        elif kind == b"list":
            out.extend(client.lrange(key, 0, -1))
        elif kind == b"set":
            out.extend(client.smembers(key))
        elif kind == b"zset":
            out.extend(client.zrange(key, 0, -1))
    return b"\n".join(out)


def test_the_canary_leaves_no_readable_trace(
    make_app: Callable[..., Flask], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = secrets.token_hex(4)
    address = f"canary-{token}@example.org"
    name = f"Canary{token} Қодирова"
    redis_server = PrivateRedis(tmp_path)
    try:
        run_canary(make_app, tmp_path, caplog, redis_server, token, address, name)
    finally:
        redis_server.stop()


def run_canary(make_app: Callable[..., Flask], tmp_path: Path, caplog: pytest.LogCaptureFixture,
               redis_server: PrivateRedis, token: str, address: str, name: str) -> None:
    app = make_app(SMTP_URL="", MAILDIR=str(tmp_path / "maildir"), REDIS_URL=redis_server.url,
                   JOB_RUNNER="rq")

    def wait_for_jobs(_app: Flask) -> None:
        """Run what is queued with an RQ worker of this process (burst), as production does."""
        make_worker(app, redis_server.client, QUEUES, simple=True).work(burst=True)

    with app.app_context():
        action_demo.seed()
        db.session.commit()
    client = app.test_client()

    # 1. Subscribe in Tajik and confirm from the captured mail.
    page = client.get("/tg/subscribe").get_data(as_text=True)
    client.post("/tg/subscribe", data={"csrf_token": csrf_of(page), "email": address,
                                       "name": name, "language": "tg", "scope": "all",
                                       "consent": "y"})
    wait_for_jobs(app)
    box = mailbox.Maildir(str(tmp_path / "maildir"), create=False)
    from email import policy
    from email.parser import BytesParser

    def captured() -> list:  # type: ignore[type-arg]
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(box.get_bytes(key)) for key in box.iterkeys()]

    path = link_in(captured()[0], r"/tg/confirm/\S+")
    client.post(path, data={"csrf_token": csrf_of(client.get(path).get_data(as_text=True))})
    wait_for_jobs(app)

    # 2. Sign the demo letter with the same address and name, and confirm it.
    status, _page = sign(client, "tg", action_demo.DEMO_SLUG, email=address, name=name)
    assert status == 200
    wait_for_jobs(app)
    letters_confirm = [m for m in captured() if "/actions/" in str(m.get_body(
        preferencelist=("plain",)).get_content())]
    assert confirm(client, confirm_path(letters_confirm[-1])) in (200, 303)
    wait_for_jobs(app)

    # 3. An alert to every subscriber: the canary receives it.
    pid = make_alert(app)
    assert send_now(app, pid)
    for _ in range(5):
        wait_for_jobs(app)
    alerts = [m for m in captured() if address in str(m["To"]) and m["List-Id"]]
    assert len(alerts) == 1  # the bulk message, with its List-Id and List-Unsubscribe
    assert alerts[0]["List-Unsubscribe"]

    # 4. A bounce (550 5.1.1) and 5. a job that fails to render, both for the canary.
    bouncing = MemoryTransport(script=lambda to: SendResult(
        "failed", 550, "5.1.1", f"<{to}>: unknown user", True))
    maildir_transport = app.extensions["campaign.transport"]
    app.extensions["campaign.transport"] = bouncing
    with app.test_request_context():
        subscriber = subs.find(db.session, address)
        assert subscriber is not None
        subs.send_preferences_link(db.session, subscriber)
        mail.queue_message(db.session, template="no/such/template", to_address=address,
                           locale="tg", context={"name": name}, dedupe_key=f"broken:{token}")
        db.session.commit()
    wait_for_jobs(app)
    app.extensions["campaign.transport"] = maildir_transport

    # 6. An organiser exports the subscribers and the action's signers (CSV, streamed): the
    # canary is in both downloads, and nothing of them may stay behind on the server.
    organiser = signed_in(app, make_account(app, "exporter@example.org", Role.ADMIN))
    token_field = csrf(organiser, "/admin/subscribers/")
    exported = organiser.post("/admin/subscribers/export", data={"csrf_token": token_field})
    assert exported.status_code == 200 and address in exported.get_data(as_text=True)
    with app.app_context():
        action_pid = db.session.scalars(select(Action.public_id)).one()
    signers = organiser.post(f"/admin/actions/{action_pid}/export",
                             data={"csrf_token": token_field})
    assert signers.status_code == 200 and f"Canary{token}" in signers.get_data(as_text=True)
    wait_for_jobs(app)

    with app.app_context():
        db.session.remove()
        db.engine.dispose()

    needles = forms(address) | forms(f"Canary{token}")
    # Database files (main file and write-ahead log).
    for path_ in tmp_path.glob("test.db*"):
        raw = path_.read_bytes()
        found = [n for n in needles if n in raw]
        assert found == [], f"{path_.name} holds {found}"
    # Redis keys and values (jobs carry ids only).
    stored = redis_contents(redis_server.client)
    assert len(stored) > 0
    assert [n for n in needles if n in stored] == []
    # Logs.
    logged = caplog.text.encode()
    assert [n for n in needles if n in logged] == []
    # The mail folder: only mail to the canary, and the letter it signed, may name it.
    for message in captured():
        raw = bytes(message)
        if not any(n in raw or n in raw.lower() for n in needles):
            continue
        to = str(message["To"])
        assert address in to or CITY in message.get_body(
            preferencelist=("plain",)).get_content(), f"mail to {to} names the canary"
