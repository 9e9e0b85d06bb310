"""Fan-out benchmark: one alert to N subscribers in three languages, personalised, through the
real pipeline (PostgreSQL ledger, RQ on a private redis-server, two worker processes, SMTP),
against two sinks, each in its own process: an aiosmtpd sink and Postfix's smtp-sink.

For each sink, in the same run, the ceiling: pre-rendered messages pushed by plain smtplib over
one connection. Prints the rates, the peak memory (ru_maxrss) of the worker processes that ran
the jobs, and ends with one line ``ratio=<the lower of the two pipeline/ceiling ratios>``.

    .venv/bin/python bench/fanout.py            # 20,000 subscribers
    .venv/bin/python bench/fanout.py --n 100000

It creates a fresh PostgreSQL database (dropped at the end) and starts its own redis-server;
the machine's shared Redis and databases are not touched.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import secrets
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SMTP_SINK = "/usr/sbin/smtp-sink"
LOCALES = ("en", "ru", "tg")
DOMAINS = ("example.org", "example.net", "example.com", "mail.example", "post.example")

CEILING_MESSAGES = 10_000
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


# --- the aiosmtpd sink, run as its own process: fanout.py --aiosmtpd-sink PORT ------------------


def run_sink(port: int, on_message: Callable[[Any], None]) -> None:
    """An aiosmtpd sink on ``port`` until SIGTERM; ``on_message(envelope)`` for every message.
    (bench/under_load.py uses it too.)"""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session

    class Handler:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            on_message(envelope)
            return "250 2.0.0 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                            data_size_limit=10_000_000)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()


def serve_aiosmtpd(port: int) -> None:
    count = [0]

    def counted(_envelope: Any) -> None:
        count[0] += 1

    run_sink(port, counted)
    print(f"aiosmtpd sink accepted {count[0]}", flush=True)


# --- processes -------------------------------------------------------------------------------


@contextmanager
def private_redis(directory: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def fresh_database() -> Iterator[str]:
    import psycopg

    name = f"campaign_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sink_process(kind: str, directory: Path) -> Iterator[int]:
    port = free_port()
    log = (directory / f"{kind}.log").open("wb")
    if kind == "aiosmtpd":
        command = [sys.executable, str(Path(__file__).resolve()), "--aiosmtpd-sink", str(port)]
    else:
        command = [SMTP_SINK, "-u", "nobody", "-c", "127.0.0.1:" + str(port), "1000"]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def accepted(kind: str, directory: Path) -> int:
    """How many messages the sink says it accepted (its log, read after it stopped)."""
    text = (directory / f"{kind}.log").read_text(errors="replace")
    if kind == "aiosmtpd":
        return int(text.rsplit("accepted ", 1)[1].split()[0])
    return int(text.rsplit("mesg=", 1)[1].split()[0])


def start_workers(env: dict[str, str], count: int, directory: Path,
                  tag: str) -> list[subprocess.Popen[bytes]]:
    workers = []
    for i in range(count):
        log = (directory / f"worker-{tag}-{i}.log").open("wb")
        profile = (["-m", "cProfile", "-o", str(directory / f"worker-{tag}-{i}.prof")]
                   if os.environ.get("FANOUT_PROFILE") else [])
        workers.append(subprocess.Popen(
            [sys.executable, *profile, "-m", "flask", "--app", "campaign", "campaign", "worker",
             "--queues", "alerts", "--simple"],
            env=env, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT))
        log.close()
    return workers


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> tuple[int, float]:
    """SIGTERM (RQ's warm shut-down), then the peak RSS of each in KiB and the CPU seconds of
    all of them (wait4)."""
    peaks, cpu = [], 0.0
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        _, status, usage = os.wait4(worker.pid, 0)
        worker.returncode = os.waitstatus_to_exitcode(status)
        peaks.append(usage.ru_maxrss)
        cpu += usage.ru_utime + usage.ru_stime
    return max(peaks), cpu


# --- the measured parts ----------------------------------------------------------------------


def add_subscribers(app: Any, n: int) -> None:
    from sqlalchemy import insert

    from campaign.db import public_id
    from campaign.extensions import blind_index, cipher, db
    from campaign.subscribers.models import Subscriber
    from campaign.subscribers.services import fold_index

    now = datetime.now(UTC)
    with app.app_context():
        box, index = cipher(), blind_index()
        for start in range(0, n, 5000):
            rows = []
            for i in range(start, min(n, start + 5000)):
                pid, address = public_id(), f"supporter{i:07d}@{DOMAINS[i % len(DOMAINS)]}"
                rows.append({
                    "public_id": pid, "locale": LOCALES[i % 3], "status": "active",
                    "email_enc": box.encrypt(address, table="subscribers", column="email",
                                             row=pid),
                    "email_index": index.digest(address, purpose="email"),
                    "fold_index": fold_index(address),
                    "name_enc": box.encrypt(f"Supporter {i} Намуна", table="subscribers",
                                            column="name", row=pid),
                    "all_alerts": True, "discreet": i % 50 == 0, "link_version": 1,
                    "source": "import", "created_at": now, "updated_at": now,
                })
            db.session.execute(insert(Subscriber), rows)
            db.session.commit()


def make_alert(app: Any, short: bool = False) -> int:
    from campaign.admin import services as accounts
    from campaign.admin.models import Role
    from campaign.alerts import demo, services
    from campaign.extensions import db

    with app.app_context():
        who = accounts.find_by_email(db.session, "bench@example.org")
        if who is None:
            who = accounts.create_organiser(db.session, "bench@example.org", Role.ORGANISER)
        texts = {code: services.TextFields(
                     subject, preheader, body.split("## ")[0].strip() if short else body)
                 for code, (subject, preheader, body) in demo.TEXTS.items()}
        alert = services.create(db.session, who, services.Settings(
            None, "all", (), LOCALES, "english"), texts)
        db.session.commit()
        return alert.id


def send(app: Any, alert_id: int) -> None:
    from campaign.admin.models import Organiser
    from campaign.alerts import sending
    from campaign.alerts.models import Alert
    from campaign.extensions import db

    with app.app_context():
        alert = db.session.get(Alert, alert_id)
        who = db.session.get(Organiser, alert.created_by if alert else None)
        assert alert is not None and who is not None
        assert sending.send_now(db.session, alert, who)
        db.session.commit()


def wait_sent(app: Any, alert_id: int, n: int, timeout: float) -> float:
    from sqlalchemy import func, select

    from campaign.alerts.models import Alert, AlertDelivery
    from campaign.extensions import db

    started = time.perf_counter()
    with app.app_context():
        while time.perf_counter() - started < timeout:
            status = db.session.scalar(select(Alert.status).where(Alert.id == alert_id))
            db.session.rollback()
            if status == "sent":
                elapsed = time.perf_counter() - started
                sent = db.session.scalar(select(func.count()).select_from(AlertDelivery).where(
                    AlertDelivery.alert_id == alert_id, AlertDelivery.status == "sent"))
                if sent != n:
                    raise RuntimeError(f"only {sent} of {n} sent")
                return elapsed
            time.sleep(0.2)
    raise RuntimeError("the send did not finish in time")


def prerendered(app: Any, alert_id: int, count: int) -> list[tuple[str, bytes]]:
    """Real messages of the alert, personalised, rendered before the clock starts."""
    from sqlalchemy import select

    from campaign.alerts import content
    from campaign.alerts.models import Alert
    from campaign.extensions import db
    from campaign.subscribers import services as subscribers
    from campaign.subscribers.models import Subscriber

    out = []
    with app.app_context(), app.test_request_context():
        alert = db.session.get(Alert, alert_id)
        assert alert is not None
        prepared = {code: content.prepare_message(alert, code, discreet=False, case=None)
                    for code in LOCALES}
        for sub in db.session.scalars(select(Subscriber).order_by(Subscriber.id).limit(count)):
            links = subscribers.links(sub)
            recipient = content.Recipient(subscribers.name_of(sub), links["preferences_url"],
                                          links["unsubscribe_url"], links["language_urls"])
            address = subscribers.email_of(sub)
            out.append((address, content.personalise(
                prepared[sub.locale], to_name=recipient.name, to_addr=address,
                message_id=content.message_id(alert.public_id, sub.public_id),
                recipient=recipient, fallback="friend")))
    return out


def ceiling(port: int, messages: list[tuple[str, bytes]], total: int) -> float:
    """Plain smtplib, one connection, pre-rendered bytes: messages per second."""
    smtp = smtplib.SMTP("127.0.0.1", port, local_hostname="localhost", timeout=30)
    smtp.ehlo()
    started = time.perf_counter()
    for i in range(total):
        to, data = messages[i % len(messages)]
        smtp.sendmail("bounces@campaign.example.org", [to], data)
    elapsed = time.perf_counter() - started
    smtp.quit()
    return total / elapsed


def settle(app: Any) -> None:
    """VACUUM ANALYZE now, so that no autovacuum of the last run competes with the next
    measurement (ceiling or pipeline)."""
    from sqlalchemy import text

    from campaign.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("subscribers", "alerts", "alert_deliveries"):
            connection.execute(text(f"VACUUM ANALYZE {table}"))


def wait_workers_ready(redis_url: str, count: int) -> None:
    from redis import Redis
    from rq import Worker

    connection = Redis.from_url(redis_url)
    deadline = time.monotonic() + 60
    while Worker.count(connection=connection) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start")
        time.sleep(0.1)
    connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="subscribers (default 20,000)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--short", action="store_true",
                        help="a two-paragraph alert instead of a full one (smaller messages)")
    parser.add_argument("--logs", type=Path, help="keep the worker and sink logs here")
    parser.add_argument("--aiosmtpd-sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.aiosmtpd_sink:
        serve_aiosmtpd(args.aiosmtpd_sink)
        return 0

    from campaign import create_app
    from campaign.extensions import db
    from config import load_config

    print(f"fan-out benchmark: {args.n} subscribers, {args.workers} workers, "
          f"{os.cpu_count()} CPUs, {platform.python_implementation()} "
          f"{platform.python_version()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    ratios = []
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp, fresh_database() as database, \
            private_redis(Path(tmp)) as redis_url:
        directory = Path(tmp)
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMPAIGN_", "FLASK_"))}
        env.update({
            "SECRET_KEY": secrets.token_urlsafe(32), "LINK_KEY": secrets.token_urlsafe(32),
            "DATA_KEYS": key(), "INDEX_KEY": key(), "DATABASE_URL": database,
            "REDIS_URL": redis_url, "JOB_RUNNER": "rq", "SEND_RATE": "1000000",
            "BASE_URL": "https://campaign.example.org", "INSTANCE_PATH": str(directory),
            "MAILDIR": str(directory / "maildir"), "PYTHONPATH": str(ROOT),
        })
        app = create_app(load_config(env))
        with app.app_context():
            db.create_all()
        started = time.perf_counter()
        add_subscribers(app, args.n)
        print(f"  {args.n} subscribers created in {time.perf_counter() - started:.1f} s",
              flush=True)
        for kind in ("aiosmtpd", "smtp-sink"):
            with sink_process(kind, directory) as port:
                smtp_env = {**env, "SMTP_URL": f"smtp://127.0.0.1:{port}"}
                alert_id = make_alert(app, args.short)
                sample = prerendered(app, alert_id, 600)
                if kind == "aiosmtpd":
                    size = sum(len(data) for _, data in sample) / len(sample) / 1024
                    print(f"  messages: {size:.1f} KiB on average (text + HTML, three "
                          f"languages, personalised)", flush=True)
                settle(app)
                top = ceiling(port, sample, CEILING_MESSAGES)
                workers = start_workers(smtp_env, args.workers, args.logs or directory, kind)
                wait_workers_ready(redis_url, args.workers)
                start_cpu = sum(cpu_seconds(w.pid) for w in workers)  # imports, app, reconcile
                send(app, alert_id)
                elapsed = wait_sent(app, alert_id, args.n, timeout=args.n / 20 + 120)
                peak, cpu = stop_workers(workers)
                cpu -= start_cpu
            got = accepted(kind, directory)
            if got != args.n + CEILING_MESSAGES:
                raise RuntimeError(f"{kind} accepted {got}, not {args.n + CEILING_MESSAGES}")
            rate = args.n / elapsed
            ratios.append(rate / top)
            print(f"{kind:>9}: pipeline {rate:7.0f} msg/s ({args.n} in {elapsed:.1f} s), "
                  f"ceiling {top:7.0f} msg/s (smtplib, one connection), "
                  f"ratio {rate / top:.2f}, worker peak RSS {peak / 1024:.0f} MiB, "
                  f"worker CPU {cpu / args.n * 1000:.2f} ms/msg; sink got {got}", flush=True)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    print(f"ratio={min(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
