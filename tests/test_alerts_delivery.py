"""The delivery engine on real components: PostgreSQL, RQ (a real worker, in this process) on a
private redis-server, an aiosmtpd sink. SMTP replies 451, 550 5.1.1, 554 5.7.1 and 421; a
schedule across a Redis flush; a double click; an unsubscribe while pending; the shared rate."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from rq import Queue
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from campaign.admin.models import Approval, Organiser
from campaign.alerts import content, delivery, ratelimit, sending, services
from campaign.alerts.models import AlertDelivery
from campaign.db import utcnow
from campaign.extensions import db
from campaign.mail import services as mail
from campaign.mail.models import OutgoingMessage
from campaign.mail.transport import SendResult
from campaign.subscribers.models import Subscriber, Suppression
from campaign.subscribers.services import unsubscribe_token
from tests.smtp_sink import SmtpSink
from tests.test_alerts_support import (
    PrivateRedis,
    add_subscribers,
    alert_of,
    language_of,
    make_alert,
    organiser,
    parse,
    received,
    send_now,
)
from workers.maintenance import reconcile
from workers.worker import make_worker

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def private_redis(redis_server: PrivateRedis) -> PrivateRedis:
    redis_server.flushall()  # our own server: never the shared one on 6379
    return redis_server


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def app(make_app: Callable[..., Flask], pg_url: str, private_redis: PrivateRedis,
        sink: SmtpSink) -> Flask:
    return make_app(DATABASE_URL=pg_url, REDIS_URL=private_redis.url, JOB_RUNNER="rq",
                    SMTP_URL=f"smtp://127.0.0.1:{sink.port}", SEND_RATE="100000",
                    BASE_URL="https://campaign.example.org")


def work(app: Flask, redis: PrivateRedis, max_jobs: int | None = None) -> None:
    """Run the queued jobs with a real RQ worker (in this process) until the queues are empty."""
    connection = Redis.from_url(redis.url)
    try:
        make_worker(app, connection, ["alerts", "mail"], simple=True).work(
            burst=True, max_jobs=max_jobs)
    finally:
        connection.close()


def time_passes(app: Flask) -> None:
    """As if the retry delay were over: every waiting row is due now, and was last touched
    an hour ago."""
    with app.app_context():
        db.session.execute(text(
            "UPDATE alert_deliveries SET updated_at = updated_at - interval '1 hour', "
            "next_attempt_at = CASE WHEN next_attempt_at IS NULL THEN NULL "
            "ELSE now() - interval '1 second' END"))
        db.session.commit()


def relay_accepts_again(app: Flask, redis: PrivateRedis, sink: SmtpSink) -> None:
    """The relay takes mail again and the pause is over: reconcile and work what is due."""
    sink.refuse_connect = None
    redis.client.delete(ratelimit.RELAY_KEY)
    time_passes(app)
    run_reconcile(app)
    work(app, redis)


def run_reconcile(app: Flask) -> dict[str, int]:
    with app.app_context():
        return reconcile()


def test_451_for_a_while_then_acceptance_delivers_everyone_once(
    app: Flask, private_redis: PrivateRedis, sink: SmtpSink,
) -> None:
    made = add_subscribers(app, 30)
    tries: Counter[str] = Counter()
    sink.rcpt_reply = lambda to: (tries.update([to]), "451 4.7.1 <x@y> greylisted")[1] \
        if tries[to] < 2 else None
    pid = make_alert(app)
    send_now(app, pid)
    work(app, private_redis)
    assert received(sink) == Counter()
    state = alert_of(app, pid)
    assert state == {**state, "status": "sending", "counts": {"pending": 30}}
    with app.app_context():
        rows = db.session.scalars(select(AlertDelivery)).all()
        assert all(r.next_attempt_at and r.next_attempt_at > datetime.now(UTC) for r in rows)
        assert all(r.last_code == 451 and "x@y" not in (r.last_reply or "") for r in rows)
    for _ in range(2):
        time_passes(app)
        run_reconcile(app)
        work(app, private_redis)
    assert received(sink) == Counter({a: 1 for a, _ in made})
    assert alert_of(app, pid)["status"] == "sent"
    message_ids = [parse(data)["Message-ID"] for _, _, data in sink.messages]
    assert len(set(message_ids)) == 30


def test_550_5_1_1_fails_and_suppresses_those_and_the_rest_is_delivered(
    app: Flask, private_redis: PrivateRedis, sink: SmtpSink,
) -> None:
    made = add_subscribers(app, 20)
    bad = {a for a, _ in made[::5]}
    sink.rcpt_reply = lambda to: "550 5.1.1 <to> user unknown" if to in bad else None
    pid = make_alert(app)
    send_now(app, pid)
    work(app, private_redis)
    assert set(received(sink)) == {a for a, _ in made} - bad
    assert alert_of(app, pid) | {"id": 0} == {"status": "sent", "counts": {"sent": 16,
                                              "failed": 4}, "id": 0, "duplicates": 0,
                                              "reason": None}
    with app.app_context():
        assert len(db.session.scalars(select(Suppression)).all()) == 4
        statuses = Counter(db.session.scalars(select(Subscriber.status)))
        assert statuses == {"active": 16, "bounced": 4}
        alert = services.find(db.session, pid)
        who = db.session.get(Organiser, organiser(app))
        assert alert is not None and who is not None
        assert sending.retry_failed(db.session, alert, who) == 0  # bounces are not retried


def test_a_burst_of_5_7_x_pauses_the_alert_and_resume_continues(
    app: Flask, private_redis: PrivateRedis, sink: SmtpSink,
) -> None:
    made = add_subscribers(app, 60)
    refused: list[str] = []

    def reply(rcpts: list[str]) -> str | None:
        if len(refused) < 10:  # ten refusals in a row: a burst
            refused.extend(rcpts)
            return "554 5.7.1 message refused as spam"
        return None

    sink.data_reply = reply
    pid = make_alert(app)
    send_now(app, pid)
    work(app, private_redis)
    state = alert_of(app, pid)
    assert state["status"] == "paused" and state["reason"].startswith("policy: 554 5.7.1")
    assert state["counts"] == {"failed": 10, "pending": 50}  # untried rows stay pending
    with app.app_context():
        alert = services.find(db.session, pid)
        who = db.session.get(Organiser, organiser(app))
        assert alert is not None and who is not None
        sending.resume(db.session, alert, who)
        db.session.commit()
    work(app, private_redis)
    assert alert_of(app, pid)["counts"] == {"failed": 10, "sent": 50}
    with app.app_context():
        alert = services.find(db.session, pid)
        who = db.session.get(Organiser, organiser(app))
        assert alert is not None and who is not None
        assert sending.retry_failed(db.session, alert, who) == 10
        db.session.commit()
    work(app, private_redis)
    assert received(sink) == Counter({a: 1 for a, _ in made})
    assert alert_of(app, pid)["status"] == "sent"


def test_421_at_connect_pauses_the_relay_and_fails_nothing(
    app: Flask, private_redis: PrivateRedis, sink: SmtpSink,
) -> None:
    made = add_subscribers(app, 10)
    sink.refuse_connect = "421 4.3.2 too busy, come back later"
    pid = make_alert(app)
    send_now(app, pid)
    work(app, private_redis)
    state = alert_of(app, pid)
    assert state["status"] == "sending" and state["counts"] == {"pending": 10}
    assert private_redis.client.pttl(ratelimit.RELAY_KEY) > 0  # other workers hold off too
    relay_accepts_again(app, private_redis, sink)
    assert received(sink) == Counter({a: 1 for a, _ in made})


def test_a_schedule_survives_a_redis_flush(
    app: Flask, private_redis: PrivateRedis, sink: SmtpSink,
) -> None:
    made = add_subscribers(app, 9)
    pid = make_alert(app)
    with app.app_context():
        alert = services.find(db.session, pid)
        who = db.session.get(Organiser, organiser(app))
        assert alert is not None and who is not None
        sending.schedule(db.session, alert, datetime.now(UTC) + timedelta(hours=1), who)
        db.session.commit()
    private_redis.flushall()
    run_reconcile(app)
    assert alert_of(app, pid)["status"] == "scheduled"  # not due yet
    with app.app_context():  # an hour later
        db.session.execute(text("UPDATE alerts SET scheduled_at = now() - interval '1 second'"))
        db.session.commit()
    assert run_reconcile(app)["enqueued"] == 1
    work(app, private_redis)
    assert received(sink) == Counter({a: 1 for a, _ in made})


def test_a_double_click_on_send_makes_exactly_one_fan_out(
    app: Flask, private_redis: PrivateRedis, sink: SmtpSink,
) -> None:
    made = add_subscribers(app, 40)
    pid = make_alert(app)
    barrier = threading.Barrier(4)
    results: list[bool] = []

    def click() -> None:
        barrier.wait()
        results.append(send_now(app, pid))

    threads = [threading.Thread(target=click) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert Queue("alerts", connection=private_redis.client).count == 1
    work(app, private_redis)
    assert received(sink) == Counter({a: 1 for a, _ in made})


def test_an_unsubscribe_while_pending_stops_mail_to_that_address(
    app: Flask, private_redis: PrivateRedis, sink: SmtpSink,
) -> None:
    made = add_subscribers(app, 12)
    pid = make_alert(app)
    send_now(app, pid)
    work(app, private_redis, max_jobs=1)  # only the fan-out: the rows wait
    assert alert_of(app, pid)["counts"] == {"pending": 12}
    with app.app_context(), app.test_request_context():
        leaving = db.session.scalars(select(Subscriber).order_by(Subscriber.id)).first()
        assert leaving is not None
        token = unsubscribe_token(leaving)
    response = app.test_client().post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    work(app, private_redis)
    assert made[0][0] not in received(sink)
    assert sum(received(sink).values()) == 11
    assert alert_of(app, pid)["counts"] == {"sent": 11, "cancelled": 1}


def test_messages_go_out_in_each_language_with_one_connection_per_batch(
    app: Flask, private_redis: PrivateRedis, sink: SmtpSink,
) -> None:
    made = add_subscribers(app, 30)
    pid = make_alert(app)
    send_now(app, pid)
    work(app, private_redis)
    language = dict(made)
    assert {rcpts[0]: language_of(data) for _, rcpts, data in sink.messages} == language
    assert sink.sessions == 1  # 30 deliveries, one batch, one SMTP session
    for _, _, data in sink.messages:
        message = parse(data)
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert str(message["List-Unsubscribe"]).startswith("<https://campaign.example.org/u/")


@pytest.mark.parametrize("shared", [True, False])
def test_the_send_rate_is_shared_and_never_exceeded(
    private_redis: PrivateRedis, shared: bool, tmp_path: Path,
) -> None:
    rate, seconds = 200.0, 1.5
    connection = Redis.from_url(private_redis.url)
    limiters: list[ratelimit.SendLimiter] = (
        [ratelimit.RedisLimiter(connection, rate, rate / 2) for _ in range(3)] if shared
        else [ratelimit.MemoryLimiter(rate, rate / 2)] * 3)
    granted: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def send(limiter: ratelimit.SendLimiter) -> None:
        while time.monotonic() < deadline:
            domains = ["a", "b"] * 10
            grant = limiter.acquire(domains)
            with lock:
                granted.update(d for d, ok in zip(domains, grant.allowed, strict=True) if ok)
            if not grant.count:
                time.sleep(ratelimit.wait_time(grant))

    threads = [threading.Thread(target=send, args=(lim,)) for lim in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    connection.close()
    total = sum(granted.values())
    assert total <= rate * (seconds + 1) + 1  # the rate plus one second's burst
    assert total >= rate * seconds * 0.8  # and the rate is actually used
    assert max(granted.values()) <= rate / 2 * (seconds + 1) + 1  # per domain


def test_two_last_batches_committing_at_the_same_moment_close_the_alert(
    app: Flask, private_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each of the last two batches checks for open rows before the other has committed, so
    each sees the other's rows still open; the alert must be closed all the same."""
    add_subscribers(app, 20)
    pid = make_alert(app)
    send_now(app, pid)
    work(app, private_redis, max_jobs=1)  # the fan-out only: the batches stay queued
    state = alert_of(app, pid)
    assert state["counts"] == {"pending": 20}
    with app.app_context():
        ids = sorted(db.session.scalars(select(AlertDelivery.id)))
        delivery.set_rows(db.session, ids, (delivery.P,), status=delivery.SUBMITTING)
        db.session.commit()

    both_checked = threading.Barrier(2, timeout=20)
    first_check: set[int] = set()
    original = delivery.finish_if_done

    def check_then_wait(session: Any, alert_id: int, now: datetime) -> bool:
        done = original(session, alert_id, now)
        if threading.get_ident() not in first_check:
            first_check.add(threading.get_ident())
            both_checked.wait()  # neither has committed yet
        return done

    monkeypatch.setattr(delivery, "finish_if_done", check_then_wait)
    closed: list[bool] = []

    def last_batch(half: list[int]) -> None:
        with app.app_context():
            rows = delivery.load(db.session, half)
            ok = SendResult("sent", 250, "2.0.0", "ok")
            delivery.record(db.session, state["id"], [(row, ok) for row in rows], utcnow())
            closed.append(delivery.commit_and_finish(db.session, state["id"]))

    threads = [threading.Thread(target=last_batch, args=(half,))
               for half in (ids[:10], ids[10:])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(closed) == [False, True]
    assert alert_of(app, pid) == {**state, "status": "sent", "counts": {"sent": 20}}


def test_send_pressed_while_redis_is_down_is_kept_and_goes_out_when_redis_returns(
    make_app: Callable[..., Flask], pg_url: str, private_redis: PrivateRedis, sink: SmtpSink,
    app: Flask,
) -> None:
    made = add_subscribers(app, 12)
    pid = make_alert(app)
    # The web process sees Redis down (nothing listens on port 1) when "Send" is pressed.
    cut_off = make_app(DATABASE_URL=pg_url, REDIS_URL="redis://127.0.0.1:1/0", JOB_RUNNER="rq",
                       SMTP_URL=f"smtp://127.0.0.1:{sink.port}", SEND_RATE="100000",
                       BASE_URL="https://campaign.example.org")
    assert send_now(cut_off, pid)
    assert alert_of(app, pid)["status"] == "sending"  # recorded, though nothing was queued
    assert Queue("alerts", connection=Redis.from_url(private_redis.url)).count == 0
    with app.app_context():  # Redis comes back a little later
        db.session.execute(text("UPDATE alerts SET fanout_at = fanout_at - interval '1 minute'"))
        db.session.commit()
    # The next reconcile (a worker's timer) finds the send that never reached a queue.
    assert run_reconcile(app)["enqueued"] == 1
    work(app, private_redis)
    assert received(sink) == Counter({a: 1 for a, _ in made})
    assert alert_of(app, pid)["status"] == "sent"


def test_a_message_that_never_renders_fails_after_a_few_tries_and_the_rest_goes_out(
    app: Flask, private_redis: PrivateRedis, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = add_subscribers(app, 9)
    built = content.cached_message
    tries: Counter[str] = Counter()

    def broken_in_tajik(alert: Any, locale: str, **kwargs: Any) -> Any:
        if locale == "tg":
            tries[locale] += 1
            raise RuntimeError("the Tajik template is broken")
        return built(alert, locale, **kwargs)

    monkeypatch.setattr(content, "cached_message", broken_in_tajik)
    pid = make_alert(app)
    send_now(app, pid)
    work(app, private_redis)
    tajik = {a for a, locale in made if locale == "tg"}
    assert received(sink) == Counter({a: 1 for a, _ in made if a not in tajik})
    assert alert_of(app, pid)["counts"] == {"sent": 6, "pending": 3}  # to be tried again
    for _ in range(delivery.MAX_RENDER_ATTEMPTS):
        time_passes(app)
        run_reconcile(app)
        work(app, private_redis)
    state = alert_of(app, pid)
    assert state["status"] == "sent" and state["counts"] == {"sent": 6, "failed": 3}
    assert tries["tg"] == delivery.MAX_RENDER_ATTEMPTS
    with app.app_context():
        failed = db.session.scalars(select(AlertDelivery).where(
            AlertDelivery.status == "failed")).all()
        reasons = {(r.error, r.last_reply) for r in failed}
        assert reasons == {("render", "render: RuntimeError")}
    assert set(received(sink)) == {a for a, _ in made} - tajik  # nothing sent in Tajik


def test_a_relay_that_keeps_refusing_is_paused_longer_each_time_with_one_line_per_episode(
    app: Flask, private_redis: PrivateRedis, sink: SmtpSink, caplog: pytest.LogCaptureFixture,
) -> None:
    made = add_subscribers(app, 600)  # three batches: the two after the first hold off
    sink.refuse_connect = "421 4.3.2 too busy, come back later"
    pid = make_alert(app)
    send_now(app, pid)
    caplog.set_level(logging.WARNING, logger="workers.alerts")
    pauses = []
    for episode in range(3):
        if episode:  # the pause is over
            private_redis.client.delete(ratelimit.RELAY_KEY)
            time_passes(app)
            run_reconcile(app)
        work(app, private_redis)
        pauses.append(private_redis.client.pttl(ratelimit.RELAY_KEY) / 1000)
        assert alert_of(app, pid)["counts"] == {"pending": 600}  # nothing failed
        with app.app_context():  # every row, the refused one too, waits for the whole pause
            soonest = db.session.scalar(select(func.min(AlertDelivery.next_attempt_at)))
        assert soonest is not None
        assert (soonest - datetime.now(UTC)).total_seconds() > pauses[-1] - 30
    # (each read a moment after it was set: a busy machine gets 30 s of slack)
    assert 30 < pauses[0] <= 60 and 90 < pauses[1] <= 120 and 210 < pauses[2] <= 240
    lines = [r.getMessage() for r in caplog.records if "relay paused" in r.getMessage()]
    assert len(lines) == 3 and "421" in lines[0]
    relay_accepts_again(app, private_redis, sink)
    assert received(sink) == Counter({a: 1 for a, _ in made})
    assert alert_of(app, pid)["status"] == "sent"
    # Mail went through: the next refusal starts again from the shortest pause.
    assert not private_redis.client.exists(ratelimit.RELAY_EPISODES_KEY)


def test_the_in_process_relay_pause_grows_is_capped_and_starts_over() -> None:
    now = [1000.0]
    limiter = ratelimit.MemoryLimiter(10, 5, clock=lambda: now[0])
    pauses = []
    for _ in range(7):
        pauses.append(limiter.pause_relay(60))
        assert limiter.pause_relay(60) == 0  # one episode at a time
        now[0] += pauses[-1]
    assert pauses == [60, 120, 240, 480, 900, 900, 900]
    limiter.relay_recovered()
    assert limiter.pause_relay(60) == 60
    now[0] += 60 + ratelimit.RELAY_MEMORY + 1  # an hour and more without trouble
    assert limiter.pause_relay(60) == 60


def test_a_fan_out_job_run_twice_at_once_makes_each_row_and_each_batch_once(
    app: Flask, private_redis: PrivateRedis, sink: SmtpSink,
) -> None:
    """RQ may run a job twice (a re-enqueue by reconcile while the first is still running):
    both fan-outs race through the same chunks; the cursor lets one of them do each chunk."""
    from workers.alerts import fan_out

    made = add_subscribers(app, 700)
    pid = make_alert(app)
    send_now(app, pid)
    queue = Queue("alerts", connection=Redis.from_url(private_redis.url))
    queue.empty()  # the fan-out job send_now queued: this test runs it by hand, twice
    alert_id = alert_of(app, pid)["id"]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        with app.app_context():
            start.wait(timeout=10)
            outcomes.append(fan_out(alert_id))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert "done" in outcomes and len(outcomes) == 2
    batched = [i for job in queue.get_jobs() if job.func_name.endswith("send_batch")
               for i in job.args[1]]
    assert len(batched) == len(set(batched)) == 700  # every row in exactly one batch
    assert alert_of(app, pid)["counts"] == {"pending": 700}
    work(app, private_redis)
    assert received(sink) == Counter({a: 1 for a, _ in made})


def test_two_organisers_approving_at_the_same_moment_approve_once(
    make_app: Callable[..., Flask], pg_url: str, private_redis: PrivateRedis, sink: SmtpSink,
) -> None:
    app = make_app(DATABASE_URL=pg_url, REDIS_URL=private_redis.url, JOB_RUNNER="rq",
                   SMTP_URL=f"smtp://127.0.0.1:{sink.port}", REQUIRE_SECOND_APPROVAL="1",
                   BASE_URL="https://campaign.example.org")
    made = add_subscribers(app, 6)
    pid = make_alert(app)
    requester = organiser(app)
    approvers = [organiser(app, f"approver{i}@example.org") for i in range(2)]
    with app.app_context():
        alert = services.find(db.session, pid)
        who = db.session.get(Organiser, requester)
        assert alert is not None and who is not None
        services.request_approval(db.session, alert, who)
        db.session.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(approver: int) -> None:
        with app.app_context():
            alert = services.find(db.session, pid)
            who = db.session.get(Organiser, approver)
            assert alert is not None and who is not None
            barrier.wait(timeout=10)
            try:
                services.approve(db.session, alert, who)
                db.session.commit()
                outcomes.append("approved")
            except (services.AlertError, IntegrityError) as exc:
                db.session.rollback()
                outcomes.append(f"refused: {exc}")

    threads = [threading.Thread(target=approve, args=(a,)) for a in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes)[0] == "approved" and outcomes.count("approved") == 1, outcomes
    with app.app_context():
        alert = services.find(db.session, pid)
        assert alert is not None and alert.status == "approved"
        assert alert.approved_by in approvers
        approved = db.session.scalar(select(func.count()).select_from(Approval).where(
            Approval.object_id == pid, Approval.approved_by.is_not(None)))
        assert approved == 1
    assert send_now(app, pid)
    work(app, private_redis)
    assert received(sink) == Counter({a: 1 for a, _ in made})


def test_transactional_mail_shares_the_relay_pause_and_goes_out_when_it_ends(
    app: Flask, private_redis: PrivateRedis, sink: SmtpSink,
) -> None:
    """A confirmation meets a 421: the relay is paused for every worker; a password reset
    queued meanwhile waits without knocking; both go out once the relay accepts again."""
    sink.refuse_connect = "421 4.3.2 too busy, come back later"
    first = queue_mail(app, "first@example.org")
    work(app, private_redis)
    assert 50 < private_redis.client.pttl(ratelimit.RELAY_KEY) / 1000 <= 60
    refused = sink.sessions
    second = queue_mail(app, "second@example.org")
    work(app, private_redis)
    assert sink.sessions == refused  # no knock on the relay while it is paused
    with app.app_context():
        rows = {r.id: r for r in db.session.scalars(select(OutgoingMessage))}
        assert {rows[first].status, rows[second].status} == {"pending"}
        assert all(r.next_attempt_at and r.next_attempt_at > datetime.now(UTC)
                   for r in rows.values())
    sink.refuse_connect = None
    private_redis.client.delete(ratelimit.RELAY_KEY)
    with app.app_context():  # the pause is over
        db.session.execute(text("UPDATE outgoing_messages SET next_attempt_at = "
                                "now() - interval '1 second'"))
        db.session.commit()
    run_reconcile(app)
    work(app, private_redis)
    assert sorted(to for _, [to], _ in sink.messages) == ["first@example.org",
                                                          "second@example.org"]
    assert not private_redis.client.exists(ratelimit.RELAY_EPISODES_KEY)


def queue_mail(app: Flask, address: str) -> int:
    with app.app_context():
        row = mail.queue_message(
            db.session, template="password_reset", to_address=address, locale="ru",
            context={"link": "https://campaign.example.org/admin/reset/x", "minutes": 60},
            dedupe_key=f"test:{address}")
        db.session.commit()
        return row.id
