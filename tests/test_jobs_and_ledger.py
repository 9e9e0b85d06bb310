"""Transactional mail goes through the ledger and the runner: in-process thread and real RQ."""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from campaign import jobs
from campaign.admin import services as accounts
from campaign.admin.models import Role
from campaign.extensions import db
from campaign.mail import services as mail
from campaign.mail.models import OutgoingMessage, Status
from campaign.mail.transport import SendResult
from tests.conftest import REDIS_URL, wait_for_jobs
from tests.test_admin_login import EMAIL, csrf, make_organiser, sign_in


def queue_invite(app: Flask, address: str = "invitee@example.org", locale: str = "tg") -> int:
    with app.app_context():
        row = mail.queue_message(
            db.session, template="invite", to_address=address, locale=locale,
            context={"link": "http://127.0.0.1:5000/admin/invitation/x", "role": "viewer"},
            dedupe_key=f"test:{uuid.uuid4().hex}",
        )
        db.session.commit()
        return row.id


def test_invitation_from_the_admin_page_is_mailed_through_the_ledger(app: Flask, outbox) -> None:  # type: ignore[no-untyped-def]
    secret = make_organiser(app, role=Role.ADMIN)
    assert secret
    client = app.test_client()
    sign_in(client, secret)
    token = csrf(client, "/admin/organisers")
    response = client.post("/admin/organisers", data={
        "csrf_token": token, "email": "new.person@example.org", "role": "translator",
        "locale": "ru"})
    assert response.status_code == 302
    wait_for_jobs(app)
    assert len(outbox.outbox) == 1
    _, to_addr, data = outbox.outbox[0]
    assert to_addr == "new.person@example.org"
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert "Приглашение" in str(message["Subject"]) or "приглаш" in str(message["Subject"])
    text = message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"http://127\.0\.0\.1:5000(/admin/invitation/\S+)", text)
    assert link
    with app.app_context():
        row = db.session.scalars(select(OutgoingMessage)).one()
        assert row.status == Status.SENT
        assert b"new.person" not in row.to_enc
    # The invitee sets a password, then must enrol TOTP before anything else.
    invitee = app.test_client()
    page = invitee.get(link.group(1))
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      page.get_data(as_text=True))
    assert token
    password = "the invitee chose this passphrase"
    done = invitee.post(link.group(1), data={"csrf_token": token.group(1), "new": password,
                                             "repeat": password})
    assert done.status_code == 302 and done.headers["Location"].endswith("/admin/login/enrol")
    assert invitee.get("/admin/").status_code == 302
    again = app.test_client().get(link.group(1))
    assert again.status_code == 400  # single use


def test_queueing_is_idempotent_on_its_key(app: Flask, outbox) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        for _ in range(3):
            mail.queue_message(db.session, template="invite", to_address="a@example.org",
                               locale="en", context={"link": "x", "role": "viewer"},
                               dedupe_key="same-key")
            db.session.commit()
    wait_for_jobs(app)
    assert len(outbox.outbox) == 1


def test_nothing_is_enqueued_when_the_transaction_rolls_back(app: Flask, outbox) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        mail.queue_message(db.session, template="invite", to_address="a@example.org",
                           locale="en", context={"link": "x", "role": "viewer"},
                           dedupe_key="rolled-back")
        db.session.rollback()
    wait_for_jobs(app)
    assert outbox.outbox == []


def test_message_is_rendered_in_the_recipients_language(app: Flask, outbox) -> None:  # type: ignore[no-untyped-def]
    queue_invite(app, locale="tg")
    wait_for_jobs(app)
    message = BytesParser(policy=policy.default).parsebytes(outbox.outbox[0][2])
    assert message.get_body(preferencelist=("html",)).get_content().count('lang="tg"') == 1
    assert set("ҳқҷӣӯғ") & set(message.get_body(preferencelist=("plain",)).get_content())


def test_temporary_failure_is_retried_later_with_the_same_message_id(app: Flask, outbox) -> None:  # type: ignore[no-untyped-def]
    replies = iter([SendResult("retry", 451, "4.7.1", "try later", False)])
    outbox.script = lambda to: next(replies, None)
    message_id = queue_invite(app)
    wait_for_jobs(app)
    with app.app_context():
        row = db.session.get(OutgoingMessage, message_id)
        assert row is not None and row.status == Status.PENDING
        assert row.next_attempt_at is not None and row.next_attempt_at > datetime.now(UTC)
        first_id = row.message_id
        row.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
        from workers.mail import send_message

        assert send_message(message_id) == "sent"
        row = db.session.get(OutgoingMessage, message_id)
        assert row is not None and row.status == Status.SENT and row.message_id == first_id
    sent = BytesParser(policy=policy.default).parsebytes(outbox.outbox[-1][2])
    assert sent["Message-ID"] == first_id


def test_permanent_failure_is_recorded_without_the_address(app: Flask, outbox) -> None:  # type: ignore[no-untyped-def]
    outbox.script = lambda to: SendResult("failed", 550, "5.1.1", "<address> unknown", True)
    message_id = queue_invite(app, address="gone@example.org")
    wait_for_jobs(app)
    with app.app_context():
        row = db.session.get(OutgoingMessage, message_id)
        assert row is not None and row.status == Status.FAILED and row.last_code == 550
        assert "gone@" not in (row.last_reply or "")


def test_a_claimed_row_cannot_be_claimed_twice(app: Flask) -> None:
    jobs_runner = app.extensions["campaign.runner"]
    message_id = queue_invite(app)
    jobs_runner.wait_idle()
    with app.app_context():
        row = db.session.get(OutgoingMessage, message_id)
        assert row is not None
        row.status = Status.PENDING.value
        db.session.commit()
        now = datetime.now(UTC)
        assert mail.claim(db.session, message_id, now) is True
        assert mail.claim(db.session, message_id, now) is False


def test_reconcile_recovers_rows_of_a_dead_worker(app: Flask, outbox) -> None:  # type: ignore[no-untyped-def]
    message_id = queue_invite(app)
    wait_for_jobs(app)
    outbox.outbox.clear()
    with app.app_context():
        row = db.session.get(OutgoingMessage, message_id)
        assert row is not None
        # As if a worker died after "submitting": the outcome is unknown.
        row.status = Status.SUBMITTING.value
        row.lease_until = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
        from workers.maintenance import reconcile

        assert reconcile() == {"recovered": 1, "enqueued": 1, "purged": 0}
    wait_for_jobs(app)
    assert len(outbox.outbox) == 1  # sent again once, with the same Message-ID


def test_every_job_name_resolves() -> None:
    from werkzeug.utils import import_string

    for name in jobs.JOB_FUNCTIONS:
        assert callable(import_string(name))


@pytest.mark.redis
def test_a_real_job_runs_on_real_redis_inside_an_app_context(make_app) -> None:  # type: ignore[no-untyped-def]
    redis = pytest.importorskip("redis")
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:  # pragma: no cover - CI starts Redis
        pytest.skip("Redis is not running")
    app = make_app(REDIS_URL=REDIS_URL, JOB_RUNNER="rq")
    queue_name = f"mail-test-{uuid.uuid4().hex[:8]}"
    from rq import Queue

    from workers.worker import make_worker

    original = jobs.JobSpec.__init__
    message_id = queue_invite(app, address="rq-test@example.org")
    try:
        queue = Queue(queue_name, connection=connection)
        # The web side enqueued on "mail"; move that job to this test's private queue.
        mail_queue = Queue("mail", connection=connection)
        ours = [j for j in mail_queue.get_jobs() if j.args == (message_id,)]
        assert ours, "the ledger row was enqueued on the mail queue after commit"
        for job in ours:
            mail_queue.remove(job)
            queue.enqueue_job(job)
        worker = make_worker(app, connection, [queue_name], simple=True)
        worker.work(burst=True)
        with app.app_context():
            row = db.session.get(OutgoingMessage, message_id)
            assert row is not None and row.status == Status.SENT
        from workers.mail import transport

        with app.app_context():
            assert transport().outbox[-1][1] == "rq-test@example.org"  # type: ignore[attr-defined]
    finally:
        assert jobs.JobSpec.__init__ is original
        for job in Queue(queue_name, connection=connection).get_jobs():
            job.delete()
        connection.delete(f"rq:queue:{queue_name}")


def test_unused(app: Flask) -> None:
    assert accounts.PASSWORD_MIN == 14
    assert EMAIL
    assert pyotp


RAN: list[str] = []


def note_job(name: str) -> None:
    """A job for the runner test below."""
    RAN.append(name)


def test_the_embedded_runner_reconciles_on_time_even_while_jobs_keep_coming(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    import workers.maintenance

    # (Other tests' runners may still be alive in this process: count this runner's only.)
    monkeypatch.setattr(workers.maintenance, "reconcile",
                        lambda: RAN.append(f"reconcile {threading.get_ident()}"))
    RAN.clear()
    runner = jobs.ThreadRunner(app, reconcile_interval=0.3)
    started = time.monotonic()
    try:
        for _ in range(30):  # a job every 50 ms: the queue is never idle for 0.3 s
            runner.enqueue(jobs.JobSpec("tests.test_jobs_and_ledger.note_job", ("job",)))
            time.sleep(0.05)
        runner.wait_idle()
        elapsed = time.monotonic() - started
    finally:
        runner.stop()
    assert runner._thread is not None
    ours = RAN.count(f"reconcile {runner._thread.ident}")
    assert RAN.count("job") == 30
    expected = elapsed / 0.3  # however slow the machine was
    assert expected - 2 <= ours <= expected + 1, (ours, elapsed)
