"""The RQ worker: builds the app once; every job runs inside its app context."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any, ClassVar

from flask import Flask
from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.worker import BaseWorker

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


def make_worker(
    app: Flask, connection: Any, queues: Sequence[str], simple: bool = False
) -> BaseWorker:
    AppContextJob.app = app
    AppContextJob.parent_pid = os.getpid()
    worker_class = SimpleWorker if simple else Worker
    return worker_class(
        [Queue(name, connection=connection) for name in queues],
        connection=connection,
        job_class=AppContextJob,
    )


def run_worker(app: Flask, connection: Any, queues: Sequence[str], *, burst: bool = False,
               simple: bool = False) -> bool:
    # Reconcile first: whatever a dead worker or a wiped Redis left behind goes back on a queue.
    from workers.maintenance import reconcile

    with app.app_context():
        reconcile()
    worker = make_worker(app, connection, queues, simple=simple)
    return bool(worker.work(burst=burst, with_scheduler=False))
