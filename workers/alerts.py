"""Alert jobs: fan-out, one batch over one SMTP connection, and the alerts part of reconcile.

The order of commits in a batch is what makes it safe: the claim is committed before anything
is sent, and each group of rows is committed as "submitting" before its first DATA, so no row
is ever sent without a committed claim. To keep the database out of the SMTP path, a helper
thread commits group k+1 as "submitting" (with the outcomes of group k-1) while group k is
being sent. After a crash, the rows of at most three groups are "submitting" with an unknown
outcome: they are sent again once, with the same Message-ID, and counted on the alert.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, TypeVar

from flask import Flask, current_app

from campaign import jobs
from campaign.alerts import content, delivery, ratelimit, sending
from campaign.alerts.models import Alert, AlertStatus
from campaign.cases.models import Case
from campaign.db import SessionLike, utcnow
from campaign.extensions import db
from campaign.mail.compose import PreparedMessage, dkim_sign
from campaign.mail.transport import Connection, SendResult
from campaign.subscribers import services as subscribers
from config import Config
from workers.mail import transport

log = logging.getLogger(__name__)
T = TypeVar("T")

GROUP: Final = 50  # rows marked "submitting" per commit
MAX_RATE_WAIT: Final = 30.0  # seconds a batch waits for tokens before leaving rows for later
POLICY_WINDOW: Final = 20
POLICY_BURST: Final = 10  # 5.7.x among the last 20 outcomes that pause the alert
STALE: Final = timedelta(minutes=2)
_PID_KEY: Final = "campaign.alerts.pool_pid"


def _own_pool() -> None:
    """RQ's default worker forks a horse per job: the horse must not share the parent's
    database connections, so it drops the inherited pool (without closing the sockets)."""
    pid = os.getpid()
    owner = current_app.extensions.setdefault(_PID_KEY, pid)
    if owner != pid:
        db.engine.dispose(close=False)
        current_app.extensions[_PID_KEY] = pid


def _config() -> Config:
    return current_app.extensions["campaign.config"]


def fan_out(alert_id: int) -> str:
    """Create the alert's delivery rows chunk by chunk (each chunk committed with the cursor,
    its batches enqueued after that commit). Safe to run twice: the cursor decides."""
    _own_pool()
    session = db.session
    while True:
        alert = session.get(Alert, alert_id)
        statuses = (AlertStatus.SENDING.value, AlertStatus.PAUSED.value)
        if alert is None or alert.fanout_done or alert.status not in statuses:
            session.rollback()
            return "nothing-to-do"
        step = delivery.fan_out_step(session, alert, utcnow())
        if step == "lost":
            session.rollback()
            return "raced"
        if step == "done":
            delivery.commit_and_finish(session, alert_id)
            return "done"
        session.commit()


@dataclass
class _Ready:
    row: delivery.Row
    address: str
    name: str
    domain: str
    key: tuple[str, bool]


class _Writer:
    """A batch's database steps, one at a time, in a helper thread with its own session (a
    fresh app context per step), so that committing one group overlaps sending another."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alert-ledger")

    def submit(self, step: Callable[[SessionLike], T]) -> Future[T]:
        def run() -> T:
            with self._app.app_context():
                value = step(db.session)
                db.session.commit()  # an exception rolls back (session removed at teardown)
                return value

        return self._pool.submit(run)

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)


class _Batch:
    def __init__(self, alert: Alert, rows: list[delivery.Row]) -> None:
        self.session = db.session
        self.alert_id = alert.id
        self.alert_pid = alert.public_id
        self.config = _config()
        self.limiter = ratelimit.limiter()
        self.rows = rows
        case = self.session.get(Case, alert.case_id) if alert.case_id else None
        self.prepared: dict[tuple[str, bool], PreparedMessage] = {}
        self.failed_keys: dict[tuple[str, bool], str] = {}
        for key in sorted({(r.locale, r.subscriber.discreet) for r in rows}):
            try:
                self.prepared[key] = content.cached_message(alert, key[0], discreet=key[1],
                                                            case=case)
            except Exception as exc:  # a broken message must not stop the other languages
                log.exception("alert %s: the %s message could not be built", alert.public_id,
                              key[0])
                self.failed_keys[key] = f"render: {exc.__class__.__name__}"
        self.fallback = {loc: content.fallback_name(loc) for loc, _ in self.prepared}
        self.links = content.Links()
        key_file = self.config.dkim_key_file
        self.dkim_key = key_file.read_bytes() if key_file and self.config.dkim_selector else None
        self.session.rollback()  # end the read: the writer thread does the rest
        self.queue: list[_Ready] = []
        self.stop, self.wait, self.waited, self.extended = "", 0.0, 0.0, utcnow()
        self.relay_ok = False

    def _ready(self, row: delivery.Row) -> _Ready:
        subscriber = row.subscriber.as_subscriber()
        address = subscribers.email_of(subscriber)
        return _Ready(row, address, subscribers.name_of(subscriber),
                      ratelimit.domain_key(address), (row.locale, row.subscriber.discreet))

    def _message(self, ready: _Ready) -> bytes:
        recipient = self.links.recipient(ready.row.subscriber.as_subscriber(), ready.name)
        data = content.personalise(
            self.prepared[ready.key], to_name=ready.name, to_addr=ready.address,
            message_id=content.message_id(self.alert_pid, ready.row.subscriber.public_id),
            recipient=recipient, fallback=self.fallback[ready.key[0]],
        )
        if self.dkim_key is not None and self.config.dkim_domain and self.config.dkim_selector:
            data = dkim_sign(data, self.config.dkim_selector, self.config.dkim_domain,
                             self.dkim_key)
        return data

    def run(self, connection: Connection) -> str:
        session, now = self.session, utcnow()
        gone = [r for r in self.rows if not r.receiving]
        for reason in ("suppressed", "unsubscribed"):
            ids = [r.id for r in gone if r.suppressed == (reason == "suppressed")]
            delivery.cancel(session, ids, reason, now)
        broken = [r for r in self.rows if r.receiving and (r.locale, r.subscriber.discreet)
                  in self.failed_keys]
        if broken:
            delivery.render_failed(session, broken, next(iter(self.failed_keys.values())), now)
        session.commit()
        self.queue = [self._ready(r) for r in self.rows
                      if r.receiving and (r.locale, r.subscriber.discreet) in self.prepared]
        with _Writer(current_app._get_current_object()) as writer:  # type: ignore[attr-defined]
            return self._send_all(connection, writer)

    def _take(self) -> list[_Ready]:
        """The next group the rate limit lets go now (waiting up to MAX_RATE_WAIT)."""
        while self.queue:
            head = self.queue[:GROUP]
            grant = self.limiter.acquire([r.domain for r in head])
            if grant.count:
                self.queue = ([r for r, ok in zip(head, grant.allowed, strict=True) if not ok]
                              + self.queue[GROUP:])
                return [r for r, ok in zip(head, grant.allowed, strict=True) if ok]
            if self.waited >= MAX_RATE_WAIT:
                self.stop, self.wait = "rate", max(grant.wait, 1.0)
                return []
            pause = ratelimit.wait_time(grant)
            time.sleep(pause)
            self.waited += pause
        return []

    def _send_all(self, connection: Connection, writer: _Writer) -> str:
        """Group k goes over SMTP while the writer commits group k+1 as "submitting" (and the
        outcomes of group k-1): no row is sent before its own "submitting" is committed."""
        done: list[tuple[delivery.Row, SendResult]] = []  # sent, outcome not yet recorded
        window: deque[bool] = deque(maxlen=POLICY_WINDOW)
        group = self._take()
        step = writer.submit(self._step([], group))
        while group:
            status = step.result()
            if status != AlertStatus.SENDING.value:  # paused or cancelled meanwhile
                self.stop, self.queue = status, group + self.queue
                break
            current, group = group, self._take()
            step = writer.submit(self._step(done, group))
            done = []
            for index, ready in enumerate(current):
                try:
                    data = self._message(ready)
                except ValueError:  # an address compose refuses (never sent)
                    result = SendResult("failed", 0, None, "invalid recipient address")
                else:
                    result = connection.send(self.config.return_path, ready.address, data)
                done.append((ready.row, result))
                if result.outcome == "sent" and not self.relay_ok:
                    self.relay_ok = True
                    self.limiter.relay_recovered()  # a later refusal starts from the base
                window.append(result.outcome == "policy")
                halt = ("relay" if result.outcome == "paused"
                        else "policy" if sum(window) >= POLICY_BURST else "")
                if halt:  # the next group may be marked already: it goes back too
                    self.stop, self.queue = halt, current[index + 1 :] + group + self.queue
                    group = []
                    break
        step.result()
        return self._finish(done)

    def _step(self, outcomes: list[tuple[delivery.Row, SendResult]],
              group: list[_Ready]) -> Callable[[SessionLike], str]:
        alert_id, ids = self.alert_id, [r.row.id for r in group]
        extend = [r.row.id for r in self.queue] if self._lease_due() else []

        def step(session: SessionLike) -> str:
            now = utcnow()
            delivery.record(session, alert_id, outcomes, now)
            status = delivery.alert_status(session, alert_id) or "gone"
            if status == AlertStatus.SENDING.value:
                delivery.mark_submitting(session, ids, now)
                delivery.extend_leases(session, extend, now)
            return status

        return step

    def _lease_due(self) -> bool:
        if utcnow() - self.extended <= delivery.LEASE / 2:
            return False
        self.extended = utcnow()
        return True

    def _finish(self, results: list[tuple[delivery.Row, SendResult]]) -> str:
        session, now, stop = self.session, utcnow(), self.stop
        delivery.record(session, self.alert_id, results, now)
        untried = [r.row.id for r in self.queue]
        if stop == "relay":
            pause = self.limiter.pause_relay(delivery.RELAY_PAUSE.total_seconds())
            if pause:  # one line per episode, whichever worker starts it
                reply = next((f"{r.code} {r.reply}" for _, r in reversed(results)
                              if r.outcome == "paused"), "")
                log.warning("relay paused for %ds: %s", pause, reply)
            wait = max(pause, self.limiter.relay_paused_for(), 1.0)
            delivery.release(session, untried, now, delay=timedelta(seconds=wait))
            refused = [row.id for row, r in results if r.outcome == "paused"]
            delivery.set_rows(session, refused, (delivery.P,),
                              next_attempt_at=now + timedelta(seconds=wait))
        elif stop == "policy":
            reply = next((f"{r.code} {r.reply}" for _, r in reversed(results)
                          if r.outcome == "policy"), "")
            if delivery.pause_alert(session, self.alert_id, f"policy: {reply}", now):
                log.warning("alert %s paused itself: a burst of 5.7.x refusals", self.alert_pid)
            delivery.release(session, untried, now)
        elif stop == AlertStatus.CANCELLED.value:
            delivery.cancel(session, untried, "cancelled", now)
        elif stop == "rate":
            delivery.release(session, untried, now, delay=timedelta(seconds=self.wait))
        else:
            delivery.release(session, untried, now)
        if delivery.commit_and_finish(session, self.alert_id):
            log.info("alert %s: sent", self.alert_pid)
        return stop or "done"


def send_batch(alert_id: int, delivery_ids: Sequence[int]) -> str:
    """Claim, load (one query), build once per language, send over one connection."""
    _own_pool()
    session, now = db.session, utcnow()
    alert = session.get(Alert, alert_id)
    if alert is None or alert.status != AlertStatus.SENDING.value:
        session.rollback()
        return "not-sending"
    paused_for = ratelimit.limiter().relay_paused_for()
    if paused_for > 0:  # leave the rows for reconcile once the relay pause is over
        delivery.set_rows(session, list(delivery_ids), (delivery.P,), updated_at=now,
                          next_attempt_at=now + timedelta(seconds=paused_for))
        session.commit()
        return "relay-paused"
    claimed = delivery.claim(session, alert_id, delivery_ids, now)
    session.commit()
    if not claimed:
        return "nothing-due"
    rows = delivery.load(session, claimed)
    config = _config()
    # The signed links are built with url_for, which needs a request context (BASE_URL only).
    with current_app.test_request_context(base_url=config.base_url):
        batch = _Batch(alert, rows)
        with transport().connect() as connection:
            outcome = batch.run(connection)
    log.info("alert %s: batch of %d: %s", batch.alert_pid, len(claimed), outcome)
    return outcome


def _queue_is_empty() -> bool:
    """True when the alerts queue is known to hold nothing (a wiped Redis, all done)."""
    runner = jobs.runner()
    if not isinstance(runner, jobs.RQRunner):
        return False
    from redis.exceptions import RedisError
    from rq import Queue

    try:
        return bool(Queue("alerts", connection=runner.connection()).count == 0)
    except RedisError:
        return False


def reconcile_alerts() -> dict[str, int]:
    """Recover rows of dead workers, start due schedules, re-enqueue lost work, close alerts
    that are done. Called from workers.maintenance.reconcile."""
    current_app.extensions.setdefault(_PID_KEY, os.getpid())
    session, now = db.session, utcnow()
    empty = _queue_is_empty()
    recovered = delivery.recover_expired(session, now)
    enqueued = sending.restart_stalled_fan_outs(session, now, STALE, everything=empty)
    enqueued += len(sending.start_due(session, now))  # after: their fan-out is not stalled
    lost = delivery.due(session, now, STALE, everything=empty)
    for alert_id, ids in recovered.items():
        lost[alert_id] = sorted(set(lost.get(alert_id, [])) | set(ids))
    for alert_id, ids in lost.items():
        if delivery.alert_status(session, alert_id) == AlertStatus.SENDING.value:
            enqueued += delivery.enqueue_batches(session, alert_id, ids)
    for alert_id in sending.sending_alert_ids(session):
        delivery.finish_if_done(session, alert_id, now)
    session.commit()
    count = sum(len(ids) for ids in recovered.values())
    if count or enqueued:
        log.info("alerts reconcile: %d deliveries recovered, %d jobs enqueued", count, enqueued)
    return {"recovered": count, "enqueued": enqueued}
