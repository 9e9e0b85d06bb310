"""The public site under faults: Redis gone, database gone. Never a 5xx other than a clear 503
in the visitor's language, and nothing lost: the database remains the record of work to do."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from flask import Flask
from redis import Redis
from sqlalchemy import func, select, update

from campaign.db import utcnow
from campaign.extensions import db
from campaign.mail.models import OutgoingMessage, Status
from campaign.subscribers.models import Subscriber
from tests.smtp_sink import free_port
from tests.test_alerts_support import PrivateRedis
from workers.mail import transport
from workers.maintenance import reconcile
from workers.worker import make_worker


def test_subscriptions_are_kept_and_rate_limited_when_redis_is_down(
    make_app: Callable[..., Flask], tmp_path: Path,
) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = make_app(REDIS_URL=dead_redis, JOB_RUNNER="rq", RATE_LIMITS="1")
    codes = []
    for n in range(11):
        client = app.test_client()
        page = client.get("/tg/subscribe").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert token
        response = client.post("/tg/subscribe", data={
            "csrf_token": token.group(1), "email": f"person{n}@example.org", "language": "tg",
            "scope": "all", "consent": "y"})
        codes.append(response.status_code)
    # The per-IP limit (10 an hour) still holds, counted in memory while Redis is away;
    # the eleventh gets a clear 429, never a 5xx.
    assert codes == [302] * 10 + [429]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 10
        pending = db.session.scalars(select(OutgoingMessage)).all()
        assert len(pending) == 10 and {m.status for m in pending} == {Status.PENDING}
        # Redis comes back a couple of minutes later.
        db.session.execute(update(OutgoingMessage).values(
            updated_at=utcnow() - timedelta(minutes=2)))
        db.session.commit()
    (tmp_path / "redis").mkdir()
    redis = PrivateRedis(tmp_path / "redis")
    try:
        back = make_app(create_schema=False, REDIS_URL=redis.url, JOB_RUNNER="rq")
        with back.app_context():
            reconcile()  # a worker's timer: the confirmations that never reached a queue
        connection = Redis.from_url(redis.url)
        make_worker(back, connection, ["mail"], simple=True).work(burst=True)
        connection.close()
        with back.app_context():
            sent = [to for _from, to, _data in transport().outbox]  # type: ignore[attr-defined]
            statuses = set(db.session.scalars(select(OutgoingMessage.status)))
    finally:
        redis.stop()
    assert sorted(sent) == sorted(f"person{n}@example.org" for n in range(10))
    assert statuses == {Status.SENT}


def test_database_down_gives_a_503_in_the_visitors_language(
    make_app: Callable[..., Flask],
) -> None:
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere?connect_timeout=1"
    app = make_app(create_schema=False, DATABASE_URL=dead)
    response = app.test_client().get("/ru/subscribe")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    html = response.get_data(as_text=True)
    assert 'lang="ru"' in html and "Traceback" not in html and "postgres" not in html


def test_hostile_requests_get_400_or_413_in_the_pages_language_and_write_nothing(
    app: Flask,
) -> None:
    client = app.test_client()
    page = client.get("/ru/subscribe").get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found
    token = found.group(1)
    good = {"csrf_token": token, "email": "anna@example.org", "language": "ru",
            "scope": "all", "consent": "y"}
    form = "application/x-www-form-urlencoded"
    attempts = {
        "oversized body": client.post("/ru/subscribe", data={**good, "name": "я" * 2_000_000}),
        "thousands of fields": client.post(
            "/ru/subscribe", data={**good, **{f"f{i}": "x" for i in range(3000)}}),
        "invalid UTF-8": client.post(
            "/ru/subscribe", content_type=form,
            data=f"csrf_token={token}&email=%FF%FEanna@example.org&language=ru&scope=all"
                 "&consent=y".encode()),
        "NUL byte in the name": client.post("/ru/subscribe", data={**good, "name": "An\x00na"}),
        "NUL byte in the address": client.post(
            "/ru/subscribe", data={**good, "email": "anna\x00@example.org"}),
        "undecodable body": client.post("/ru/subscribe", content_type=form,
                                        data=b"\xff\xfe\xfd=\x00"),
    }
    for what, response in attempts.items():
        assert response.status_code in (400, 413), what
        html = response.get_data(as_text=True)
        assert 'lang="ru"' in html and "Traceback" not in html, what
        assert re.search("[а-яё]{4}", html), what  # a message in Russian, not an English stub
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0
        assert db.session.scalar(select(func.count()).select_from(OutgoingMessage)) == 0
    # The same form, well formed, still works afterwards.
    assert client.post("/ru/subscribe", data=good).status_code == 302
