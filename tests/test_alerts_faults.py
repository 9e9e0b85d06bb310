"""Faults with real processes: two ``flask campaign worker`` processes (RQ's forking worker)
against PostgreSQL, a private redis-server and an aiosmtpd sink. 2,000 subscribers in three
languages; a worker's process group killed with SIGKILL mid-batch; the private Redis flushed
mid-send. The shared Redis on 6379 is never touched."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select, text

from campaign.admin.models import Organiser
from campaign.alerts import sending, services
from campaign.alerts.models import AlertDelivery
from campaign.extensions import db
from campaign.subscribers.models import Subscriber
from campaign.subscribers.services import email_of
from tests.smtp_sink import SmtpSink
from tests.tcp_proxy import TcpProxy
from tests.test_alerts_support import (
    PrivateRedis,
    Worker,
    add_subscribers,
    alert_of,
    language_of,
    make_alert,
    organiser,
    parse,
    received,
    send_now,
    wait_until,
    worker_env,
)
from workers.maintenance import reconcile

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

N = 2000


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def settings(pg_url: str, redis_server: PrivateRedis, sink: SmtpSink) -> dict[str, str]:
    redis_server.flushall()
    return {"DATABASE_URL": pg_url, "REDIS_URL": redis_server.url, "JOB_RUNNER": "rq",
            "SMTP_URL": f"smtp://127.0.0.1:{sink.port}", "SEND_RATE": "100000",
            "BASE_URL": "https://campaign.example.org"}


@pytest.fixture
def app(make_app: Callable[..., Flask], settings: dict[str, str]) -> Flask:
    return make_app(**settings)


@pytest.fixture
def workers(keys: dict[str, str], settings: dict[str, str],
            tmp_path: Path) -> Iterator[Callable[[], Worker]]:
    started: list[Worker] = []
    env = worker_env(keys, tmp_path / "instance", **settings)

    def start() -> Worker:
        worker = Worker(env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def send_slowly_until_400_arrived(
    app: Flask, sink: SmtpSink, workers: Callable[[], Worker],
) -> tuple[list[tuple[str, str]], str, Worker]:
    """N subscribers, a sink that takes 2 ms a message, one worker, the alert sent: returns
    once 400 messages have arrived, with (subscribers, alert id, the worker)."""
    made = add_subscribers(app, N)
    pid = make_alert(app)
    sink.data_reply = lambda rcpts: time.sleep(0.002)  # type: ignore[func-returns-value]
    worker = workers()
    send_now(app, pid)
    assert wait_until(delivered(sink, 400), 60)
    return made, pid, worker


def everyone_once(app: Flask, sink: SmtpSink, made: list[tuple[str, str]]) -> None:
    assert received(sink) == Counter({a: 1 for a, _ in made})


def delivered(sink: SmtpSink, n: int) -> Callable[[], bool]:
    return lambda: len(received(sink)) >= n


def test_two_thousand_subscribers_in_three_languages_get_exactly_one_message_each(
    app: Flask, sink: SmtpSink, workers: Callable[[], Worker],
) -> None:
    made = add_subscribers(app, N)
    pid = make_alert(app)
    workers(), workers()
    started = time.monotonic()
    send_now(app, pid)
    assert wait_until(lambda: alert_of(app, pid)["status"] == "sent", 90), alert_of(app, pid)
    elapsed = time.monotonic() - started
    everyone_once(app, sink, made)
    language = dict(made)
    with sink.lock:
        for _, rcpts, data in sink.messages:
            assert language_of(data) == language[rcpts[0]]
    assert Counter(language.values()) == {"en": 667, "ru": 667, "tg": 666}
    assert sink.sessions <= N // 250 + 2  # one SMTP session per batch
    print(f"\n{N} messages in {elapsed:.1f} s with two workers")


def test_a_worker_killed_mid_batch_loses_nobody_and_doubles_only_submitting_rows(
    app: Flask, sink: SmtpSink, workers: Callable[[], Worker],
) -> None:
    made, pid, victim = send_slowly_until_400_arrived(app, sink, workers)
    victim.kill()  # SIGKILL to the worker's process group: worker and forked job
    with app.app_context():
        in_flight = {email_of(s) for s in db.session.scalars(
            select(Subscriber).join(AlertDelivery, AlertDelivery.subscriber_id == Subscriber.id)
            .where(AlertDelivery.status == "submitting"))}
        claimed = db.session.scalar(select(func.count()).select_from(AlertDelivery)
                                    .where(AlertDelivery.status.in_(["claimed", "submitting"])))
        assert claimed, "the kill should land inside a batch"
        # The lease runs out (five minutes, shortened here).
        db.session.execute(text("UPDATE alert_deliveries SET lease_until = now() - "
                                "interval '1 second' WHERE lease_until IS NOT NULL"))
        db.session.commit()
    sink.data_reply = None
    workers()  # reconciles at start: recovers the dead worker's rows and enqueues them
    assert wait_until(lambda: alert_of(app, pid)["status"] == "sent", 90), alert_of(app, pid)
    counts = received(sink)
    assert set(counts) == {a for a, _ in made}  # nobody lost
    doubled = {a for a, n in counts.items() if n > 1}
    assert doubled <= in_flight  # duplicates only where the outcome was unknown
    assert max(counts.values()) <= 2
    assert alert_of(app, pid)["duplicates"] == len(in_flight) >= len(doubled)
    ids: dict[str, set[str]] = {}
    with sink.lock:
        for _, rcpts, data in sink.messages:
            ids.setdefault(rcpts[0], set()).add(str(parse(data)["Message-ID"]))
    assert all(len(ids[a]) == 1 for a in doubled)  # a re-send carries the same Message-ID


def test_a_redis_flush_mid_send_loses_nobody_and_doubles_nobody(
    app: Flask, sink: SmtpSink, workers: Callable[[], Worker], redis_server: PrivateRedis,
) -> None:
    made = add_subscribers(app, N)
    pid = make_alert(app)
    sink.data_reply = lambda rcpts: time.sleep(0.001)  # type: ignore[func-returns-value]
    workers(), workers()
    send_now(app, pid)
    assert wait_until(delivered(sink, int(N * 0.4)), 60)
    redis_server.flushall()  # every queued job is gone
    sink.data_reply = None

    def settled() -> bool:  # the batches in flight have finished
        with app.app_context():
            busy = db.session.scalar(select(func.count()).select_from(AlertDelivery).where(
                AlertDelivery.status.in_(["claimed", "submitting"])))
            db.session.rollback()
            return busy == 0

    assert wait_until(settled, 30)
    assert alert_of(app, pid)["status"] == "sending"
    enqueued = 0

    def reconciled() -> bool:  # reconcile on a timer, as cron does (every minute there)
        nonlocal enqueued
        with app.app_context():
            enqueued += reconcile()["enqueued"]
        return alert_of(app, pid)["status"] == "sent"

    assert wait_until(reconciled, 90, step=0.5), alert_of(app, pid)
    assert enqueued >= 1  # the alerts queue was empty: the rows were enqueued again
    everyone_once(app, sink, made)
    assert alert_of(app, pid)["duplicates"] == 0


def test_a_running_worker_starts_a_due_schedule_with_no_cron_and_no_one_calling_reconcile(
    app: Flask, sink: SmtpSink, keys: dict[str, str], settings: dict[str, str],
    tmp_path: Path,
) -> None:
    made = add_subscribers(app, 30)
    pid = make_alert(app)
    env = worker_env(keys, tmp_path / "instance", **settings, RECONCILE_INTERVAL="1")
    worker = Worker(env, tmp_path / "reconciling-worker.log")
    try:
        author = organiser(app)
        with app.app_context():
            alert = services.find(db.session, pid)
            who = db.session.get(Organiser, author)
            assert alert is not None and who is not None
            sending.schedule(db.session, alert, datetime.now(UTC) + timedelta(hours=1), who)
            db.session.commit()
        time.sleep(3)  # the worker's start-up reconcile is over; the alert is not due yet
        assert alert_of(app, pid)["status"] == "scheduled"
        with app.app_context():  # an hour later
            db.session.execute(text("UPDATE alerts SET scheduled_at = now()"))
            db.session.commit()
        assert wait_until(lambda: alert_of(app, pid)["status"] == "sent", 60), alert_of(app, pid)
        everyone_once(app, sink, made)
    finally:
        worker.stop()


def test_a_deploy_that_sigterms_a_worker_mid_send_loses_nobody_and_doubles_nobody(
    app: Flask, sink: SmtpSink, workers: Callable[[], Worker],
) -> None:
    """SIGTERM (systemd stop, a deploy) to the worker: RQ's warm shutdown lets the batch under
    way finish, so no row is left claimed or with an unknown outcome; the next worker (the
    new release) takes the queued batches."""
    made, pid, old = send_slowly_until_400_arrived(app, sink, workers)
    os.kill(old.process.pid, signal.SIGTERM)
    assert old.process.wait(60) == 0
    with app.app_context():
        open_rows = db.session.scalar(select(func.count()).select_from(AlertDelivery)
                                      .where(AlertDelivery.status.in_(["claimed", "submitting"])))
    assert open_rows == 0
    assert alert_of(app, pid)["status"] == "sending"  # not done: the rest waits in the queue
    sink.data_reply = None
    workers()
    assert wait_until(lambda: alert_of(app, pid)["status"] == "sent", 90), alert_of(app, pid)
    everyone_once(app, sink, made)
    assert alert_of(app, pid)["duplicates"] == 0


def test_the_database_gone_mid_send_loses_nobody_and_the_worker_recovers_on_its_own(
    app: Flask, sink: SmtpSink, keys: dict[str, str], settings: dict[str, str],
    tmp_path: Path, redis_server: PrivateRedis,
) -> None:
    """The worker reaches PostgreSQL through a proxy that is cut for a few seconds mid-send.
    No message goes out without a committed claim; the batch that lost its database fails;
    once its leases run out, the worker's own reconcile timer recovers its rows."""
    made = add_subscribers(app, 1000)
    pid = make_alert(app)
    sink.data_reply = lambda rcpts: time.sleep(0.002)  # type: ignore[func-returns-value]
    with TcpProxy(("127.0.0.1", 5432)) as proxy:
        via_proxy = settings["DATABASE_URL"].replace(":5432/", f":{proxy.port}/")
        assert via_proxy != settings["DATABASE_URL"]
        env = worker_env(keys, tmp_path / "instance",
                         **{**settings, "DATABASE_URL": via_proxy}, RECONCILE_INTERVAL="1")
        worker = Worker(env, tmp_path / "worker.log")
        try:
            send_now(app, pid)
            assert wait_until(delivered(sink, 200), 60)
            proxy.cut()
            cut_at = datetime.now(UTC)
            sent_before = len(received(sink))
            time.sleep(4)
            assert len(received(sink)) - sent_before <= 50  # one group at most, then nothing
            proxy.restore()
            failed = FailedJobRegistry("alerts", connection=redis_server.client)
            assert wait_until(lambda: failed.count >= 1, 60)  # the batch that lost its database
            with app.app_context():  # the dead batch's leases run out (five minutes, shortened)
                db.session.execute(text(
                    "UPDATE alert_deliveries SET lease_until = now() - interval '1 second' "
                    "WHERE status IN ('claimed', 'submitting') AND updated_at < :cut"),
                    {"cut": cut_at})
                db.session.commit()
            assert wait_until(lambda: alert_of(app, pid)["status"] == "sent", 120), \
                alert_of(app, pid)
        finally:
            worker.stop()
    counts = received(sink)
    assert set(counts) == {a for a, _ in made}  # nobody lost
    doubled = sum(1 for n in counts.values() if n > 1)
    assert max(counts.values()) <= 2 and doubled <= alert_of(app, pid)["duplicates"] <= 50
