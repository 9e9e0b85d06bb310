"""RELIABILITY test 3 for letters: a worker process is killed (SIGKILL) after the relay has the
letter's data and before the worker records the reply. The letter goes to review; nothing
sends it again by itself."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from campaign.actions.models import DeliveryStatus, LetterDelivery
from campaign.extensions import db
from campaign.mail import services as mail
from campaign.mail.models import Kind, OutgoingMessage, Status
from tests.smtp_sink import SmtpSink
from tests.test_actions_flow import make_action, make_target, record_jobs, sign_and_confirm
from workers.letters import reconcile_letters, run_delivery

ROOT = Path(__file__).resolve().parent.parent
WORKER = """
import os, sys
from campaign import create_app
from config import load_config
app = create_app(load_config(os.environ))
with app.app_context():
    from workers.letters import send_letter
    send_letter(int(sys.argv[1]))
"""


def test_sigkill_between_data_and_reply_sends_the_letter_once_and_leaves_it_for_review(
    make_app: Callable[..., Flask], keys: dict[str, str], tmp_path: Path
) -> None:
    entered, release = threading.Event(), threading.Event()

    def hold(rcpts: list[str]) -> None:  # the relay has the data; its answer waits
        entered.set()
        release.wait(15)

    with SmtpSink() as sink:
        sink.data_reply = hold
        env = {"TESTING": "1", "INSTANCE_PATH": str(tmp_path / "instance"),
               "DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}",
               "SMTP_URL": f"smtp://127.0.0.1:{sink.port}", "MAILDIR": str(tmp_path / "md"),
               "BASE_URL": "http://127.0.0.1:5000", **keys}
        app = make_app(**{k: v for k, v in env.items() if k not in keys})
        recorder = record_jobs(app)
        with app.app_context():
            make_action("killed", [(make_target("body"), "individual", None)])
            db.session.commit()
        with app.test_request_context():
            sign_and_confirm("killed", "volunteer@example.org")
            delivery_id = db.session.scalars(select(LetterDelivery.id)).one()

        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(delivery_id)], cwd=ROOT,
            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert entered.wait(60), "the worker never reached DATA"
            os.kill(worker.pid, signal.SIGKILL)
            assert worker.wait(10) == -signal.SIGKILL
        finally:
            release.set()
            if worker.poll() is None:  # pragma: no cover - only when an assertion failed
                worker.kill()
        deadline = time.monotonic() + 10
        while not sink.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(sink.messages) == 1  # the relay did take it

        with app.app_context():
            later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
            mail.recover_expired(db.session, later)
            db.session.commit()
            before = len(recorder.specs)
            reconcile_letters(later)
            reconcile_letters(later + dt.timedelta(hours=1))
            row = db.session.get(LetterDelivery, delivery_id)
            assert row is not None and row.status == DeliveryStatus.REVIEW
            ledger = db.session.scalars(select(OutgoingMessage).where(
                OutgoingMessage.kind == Kind.LETTER.value)).one()
            assert ledger.status == Status.REVIEW and ledger.message_id
            assert "workers.letters.send_letter" not in [
                getattr(spec, "func", "") for spec in recorder.specs[before:]]
            assert run_delivery(delivery_id, later) == "not-due"
        time.sleep(0.2)
        assert len(sink.messages) == 1  # never sent again by itself
