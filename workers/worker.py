"""The RQ worker: builds the app once; every job runs inside its app context."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from flask import Flask
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import StopRequested
from rq.job import Job
from rq.worker import BaseWorker, WorkerStatus

log = logging.getLogger(__name__)


class AppContextJob(Job):
    """Runs each job inside the application context of the worker's app."""

    app: ClassVar[Flask | None] = None
    parent_pid: ClassVar[int] = 0

    def perform(self) -> Any:
        if self.app is None:  # pragma: no cover - set by run_worker
            raise RuntimeError("AppContextJob.app is not set")
        with self.app.app_context():
            if os.getpid() != self.parent_pid:
                # A forked job must not share the parent's database connections: drop the
                # inherited pool without closing the parent's sockets.
                from campaign.extensions import db

                db.engine.dispose(close=False)
            return super().perform()


RECONCILE_LOCK = "campaign:reconcile"


class _Reconciling(BaseWorker):
    """Also runs reconcile every ``reconcile_interval`` seconds, between jobs, so that due
    schedules start and lost work comes back even where no cron job was set up. A Redis key
    (SET NX with an expiry) lets one worker of all of them run it per interval; the key
    is only a courtesy: reconcile is safe to run twice, and a wiped Redis just runs it sooner.
    A failing reconcile (database down) is logged, and the worker goes on with its jobs."""

    app: Flask | None = None
    reconcile_interval: float | None = None
    _next_reconcile: float = 0.0

    @property
    def dequeue_timeout(self) -> int:
        # An idle worker wakes up in time for the next reconcile.
        limit = super().dequeue_timeout
        if self.reconcile_interval is None:
            return limit
        return max(1, min(limit, math.ceil(self.reconcile_interval)))

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        super().heartbeat(timeout, pipeline)
        # Between jobs only: not while a job runs or a forked job is watched (RQ beats with a
        # pipeline then, or with a live horse when a job overran or a signal came in).
        if (pipeline is None and self.get_state() == WorkerStatus.IDLE
                and not getattr(self, "_horse_pid", 0)):
            self._reconcile_if_due()

    def _reconcile_if_due(self) -> None:
        interval = self.reconcile_interval
        if interval is None or self.app is None or time.monotonic() < self._next_reconcile:
            return
        self._next_reconcile = time.monotonic() + interval
        from workers.maintenance import reconcile

        try:
            if not self.connection.set(RECONCILE_LOCK, self.name, nx=True,
                                       ex=max(math.floor(interval) - 1, 1)):
                return  # another worker reconciles in this interval
            with self.app.app_context():
                reconcile()
        except StopRequested:  # SIGTERM while reconciling: RQ's warm shut-down goes on
            raise
        except Exception:
            log.exception("periodic reconcile failed; next try in %.0f s", interval)


class ReconcilingWorker(_Reconciling, Worker):
    """Forks a work horse per job."""


class ReconcilingSimpleWorker(_Reconciling, SimpleWorker):
    """Runs jobs in the worker process."""


def make_worker(
    app: Flask, connection: Any, queues: Sequence[str], simple: bool = False,
    reconcile_interval: float | None = None,
) -> BaseWorker:
    """A worker for ``queues``; with ``reconcile_interval``, it also reconciles that often."""
    AppContextJob.app = app
    AppContextJob.parent_pid = os.getpid()
    worker_class = ReconcilingSimpleWorker if simple else ReconcilingWorker
    worker = worker_class(
        [Queue(name, connection=connection) for name in queues],
        connection=connection,
        job_class=AppContextJob,
    )
    worker.app = app
    worker.reconcile_interval = reconcile_interval
    if reconcile_interval is not None:  # run_worker has just reconciled
        worker._next_reconcile = time.monotonic() + reconcile_interval
    return worker


def run_worker(app: Flask, connection: Any, queues: Sequence[str], *, burst: bool = False,
               simple: bool = False) -> bool:
    # Reconcile first: whatever a dead worker or a wiped Redis left behind goes back on a queue.
    # Then every RECONCILE_INTERVAL while the worker runs (a burst run stops on its own).
    from workers.maintenance import reconcile

    with app.app_context():
        reconcile()
    interval = None if burst else app.extensions["campaign.config"].reconcile_interval
    worker = make_worker(app, connection, queues, simple=simple, reconcile_interval=interval)
    return bool(worker.work(burst=burst, with_scheduler=False))
