"""The one place web code enqueues work from.

Two runners call the same job functions (dotted names under ``workers``):

* :class:`RQRunner` when ``REDIS_URL`` is set: jobs go onto RQ queues named by concern and
  ``flask campaign worker`` processes run them inside an app context;
* :class:`ThreadRunner` otherwise (the embedded default): an in-process queue and one daemon
  thread. It starts on first use or from the ``serve`` command, never in ``create_app``, and it
  runs the reconcile step on a timer, as cron does in production.

Work is only ever enqueued *after* the transaction that recorded it commits
(:func:`after_commit`). The database is the record of what must be done: if Redis is down or
wiped, ``reconcile`` finds the rows and enqueues them again, so an enqueue that fails is logged
and otherwise ignored.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.utils import import_string

from campaign.db import SessionLike
from config import Config

log = logging.getLogger(__name__)

QUEUES = ("mail", "alerts", "letters", "default")
RECONCILE_INTERVAL = 30.0


@dataclass(frozen=True)
class JobSpec:
    func: str
    args: tuple[Any, ...]
    queue: str = "default"
    timeout: int = 300


class Runner(Protocol):
    def enqueue(self, spec: JobSpec) -> None: ...


class ThreadRunner:
    """An in-process queue served by one daemon thread, for the embedded default."""

    def __init__(self, app: Flask, reconcile_interval: float | None = RECONCILE_INTERVAL) -> None:
        self._app = app
        self._queue: queue.Queue[JobSpec] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._reconcile_interval = reconcile_interval
        self._next_reconcile = 0.0
        self._stopping = threading.Event()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="campaign-jobs", daemon=True)
            self._thread.start()

    def enqueue(self, spec: JobSpec) -> None:
        self._queue.put(spec)
        self.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the job under way and end the thread (jobs still queued stay queued)."""
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until every queued job has run (tests and the CLI use this)."""
        done = threading.Event()

        def join() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=join, daemon=True).start()
        if not done.wait(timeout):
            raise TimeoutError("jobs still running")

    def _loop(self) -> None:
        interval = self._reconcile_interval
        self._next_reconcile = time.monotonic() + (interval or 0)
        while not self._stopping.is_set():
            # Reconcile on time even when jobs never stop coming: a busy queue must not keep
            # a due schedule waiting. (At least every second, to notice stop().)
            wait = 1.0 if interval is None else min(
                max(self._next_reconcile - time.monotonic(), 0), 1.0)
            try:
                spec = self._queue.get(timeout=wait)
            except queue.Empty:
                spec = None
            if spec is not None:
                try:
                    self._run(spec)
                finally:
                    self._queue.task_done()
            if interval is not None and time.monotonic() >= self._next_reconcile:
                self._run(JobSpec("workers.maintenance.reconcile", ()))
                self._next_reconcile = time.monotonic() + interval

    def _run(self, spec: JobSpec) -> None:
        with self._app.app_context():
            try:
                import_string(spec.func)(*spec.args)
            except Exception:
                log.exception("job %s failed", spec.func)


class RQRunner:
    def __init__(self, redis_url: str) -> None:
        self._redis_url = redis_url
        self._connection: Any = None

    def connection(self) -> Any:
        if self._connection is None:
            from redis import Redis

            self._connection = Redis.from_url(
                self._redis_url, socket_connect_timeout=2, socket_timeout=5
            )
        return self._connection

    def enqueue(self, spec: JobSpec) -> None:
        from redis.exceptions import RedisError
        from rq import Queue

        try:
            # The database holds every outcome: a finished job is deleted at once (a send of
            # 100,000 leaves no 400 job hashes behind in Redis); a failed one is kept a week.
            Queue(spec.queue, connection=self.connection()).enqueue(
                spec.func, *spec.args, job_timeout=spec.timeout, result_ttl=0,
                failure_ttl=7 * 86400,
            )
        except RedisError as exc:
            # The row is in the database; reconcile will enqueue it when Redis is back.
            log.warning("could not enqueue %s (%s); reconcile will retry", spec.func,
                        exc.__class__.__name__)


def runner() -> Runner:
    return current_app.extensions["campaign.runner"]


# --- after-commit hand-off -----------------------------------------------------------------

_PENDING = "campaign.pending_jobs"


def after_commit(session: SessionLike, spec: JobSpec) -> None:
    """Enqueue ``spec`` once ``session`` commits; dropped if it rolls back."""
    session.info.setdefault(_PENDING, []).append((current_app._get_current_object(), spec))  # type: ignore[attr-defined]


def _flush_pending(session: Session) -> None:
    # SQLAlchemy also fires after_commit when a SAVEPOINT is released: only the real commit
    # of the outermost transaction may let work out.
    if session.in_nested_transaction():
        return
    pending: list[tuple[Flask, JobSpec]] = session.info.pop(_PENDING, [])
    for app, spec in pending:
        app.extensions["campaign.runner"].enqueue(spec)


def _drop_pending(session: Session) -> None:
    # A rolled-back SAVEPOINT keeps the outer transaction and the work it recorded.
    if session.in_nested_transaction():
        return
    session.info.pop(_PENDING, None)


event.listen(Session, "after_commit", _flush_pending)
event.listen(Session, "after_rollback", _drop_pending)


# --- typed enqueue functions -----------------------------------------------------------------


def enqueue_send_message(session: SessionLike, message_id: int) -> None:
    """Deliver one row of the outgoing-mail ledger."""
    after_commit(session, JobSpec("workers.mail.send_message", (message_id,), "mail", 120))


def enqueue_alert_fan_out(session: SessionLike, alert_id: int) -> None:
    """Create an alert's delivery rows in chunks, enqueueing their batches as it goes."""
    after_commit(session, JobSpec("workers.alerts.fan_out", (alert_id,), "alerts", 3600))


def enqueue_alert_batch(session: SessionLike, alert_id: int, delivery_ids: tuple[int, ...]) -> None:
    """Send a few hundred deliveries of one alert over one SMTP connection."""
    after_commit(session, JobSpec("workers.alerts.send_batch", (alert_id, delivery_ids), "alerts",
                                  1800))


def letter_job(delivery_id: int) -> JobSpec:
    return JobSpec("workers.letters.send_letter", (delivery_id,), "letters", 120)


def digest_job(digest_id: int) -> JobSpec:
    return JobSpec("workers.letters.send_digest", (digest_id,), "letters", 120)


def enqueue_send_letter(session: SessionLike, delivery_id: int) -> None:
    """Send one confirmed letter to one institution (at most once)."""
    after_commit(session, letter_job(delivery_id))


def enqueue_send_digest(session: SessionLike, digest_id: int) -> None:
    """Send one approved digest to its institution (at most once)."""
    after_commit(session, digest_job(digest_id))


def enqueue_now(spec: JobSpec) -> None:
    """For reconcile, which runs outside a web transaction: the rows are already committed."""
    runner().enqueue(spec)


JOB_FUNCTIONS: tuple[str, ...] = (
    "workers.mail.send_message", "workers.maintenance.reconcile",
    "workers.alerts.fan_out", "workers.alerts.send_batch",
    "workers.letters.send_letter", "workers.letters.send_digest",
)


def make_runner(app: Flask, config: Config) -> Runner:
    if config.job_runner == "rq" and config.redis_url:
        return RQRunner(config.redis_url)
    return ThreadRunner(app, config.reconcile_interval)


def init_app(app: Flask) -> None:
    config: Config = app.extensions["campaign.config"]
    app.extensions["campaign.runner"] = make_runner(app, config)

