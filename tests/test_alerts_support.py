"""Helpers for the alert tests (no tests here): subscribers in bulk, alerts, a private
redis-server, worker processes, counting what reached the SMTP sink."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from campaign.admin import services as accounts
from campaign.admin.models import Organiser, Role
from campaign.alerts import sending, services
from campaign.alerts.models import Alert, AlertDelivery
from campaign.alerts.services import Settings, TextFields
from campaign.db import public_id
from campaign.extensions import db
from campaign.subscribers.models import Follow, Subscriber
from campaign.subscribers.services import set_email, set_name
from tests.smtp_sink import SmtpSink, free_port

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ("en", "ru", "tg")
SUBJECTS = {
    "en": "EN: Free Example Person now",
    "ru": "RU: Свободу Примеру Персонову",
    "tg": "TG: Озодӣ барои Намуна Шахсов ғ ӣ қ ӯ ҳ ҷ",
}
BODIES = {
    "en": "Dear {{ name }},\n\nWrite to the **OSCE** today.",
    "ru": "Здравствуйте, {{ name }}!\n\nНапишите в **ОБСЕ** сегодня.",
    "tg": "Салом, {{ name }}!\n\nИмрӯз ба **САҲА** нависед.",
}
DOMAINS = ("example.org", "example.net", "example.com", "mail.example")


def texts(locales: Iterable[str] = LOCALES) -> dict[str, TextFields]:
    return {code: TextFields(SUBJECTS[code], f"preheader {code}", BODIES[code])
            for code in locales}


def organiser(app: Flask, email: str = "sender@example.org",
              role: Role = Role.ORGANISER) -> int:
    with app.app_context():
        found = accounts.find_by_email(db.session, email)
        if found is None:
            found = accounts.create_organiser(db.session, email, role, password=None)
            db.session.commit()
        return found.id


def address(i: int) -> str:
    return f"person{i:06d}@{DOMAINS[i % len(DOMAINS)]}"


def add_subscribers(app: Flask, count: int, *, start: int = 0,
                    locale: Callable[[int], str] = lambda i: LOCALES[i % 3],
                    discreet: Callable[[int], bool] = lambda i: False,
                    all_alerts: bool = True, follows: Iterable[int] = (),
                    status: str = "active") -> list[tuple[str, str]]:
    """``count`` subscribers ``person<i>@…`` with names; returns (address, locale)."""
    made = []
    with app.app_context():
        case_ids = list(follows)
        for i in range(start, start + count):
            subscriber = Subscriber(public_id=public_id(), status=status, locale=locale(i),
                                    source="import", link_version=1, all_alerts=all_alerts,
                                    discreet=discreet(i))
            set_email(subscriber, address(i))
            set_name(subscriber, f"Name{i} Фамилия")
            for case_id in case_ids:
                subscriber.follows.append(Follow(case_id=case_id))
            db.session.add(subscriber)
            made.append((address(i), locale(i)))
        db.session.commit()
    return made


def make_alert(app: Flask, *, locales: Iterable[str] = LOCALES, audience: str = "all",
               case_ids: tuple[int, ...] = (), languages: tuple[str, ...] = LOCALES,
               rule: str = "english", case_id: int | None = None) -> str:
    author = organiser(app)
    with app.app_context():
        who = db.session.get(Organiser, author)
        assert who is not None
        alert = services.create(db.session, who, Settings(case_id, audience, case_ids,
                                                          languages, rule), texts(locales))
        db.session.commit()
        return alert.public_id


def send_now(app: Flask, pid: str) -> bool:
    author = organiser(app)
    with app.app_context():
        alert = services.find(db.session, pid)
        who = db.session.get(Organiser, author)
        assert alert is not None and who is not None
        started = sending.send_now(db.session, alert, who)
        db.session.commit()
        return started


def alert_of(app: Flask, pid: str) -> dict[str, Any]:
    with app.app_context():
        alert = services.find(db.session, pid)
        assert alert is not None
        counts = dict(db.session.execute(
            select(AlertDelivery.status, func.count()).where(AlertDelivery.alert_id == alert.id)
            .group_by(AlertDelivery.status)).all())
        return {"status": alert.status, "counts": counts, "id": alert.id,
                "duplicates": alert.possible_duplicates, "reason": alert.pause_reason}


def parse(data: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def language_of(data: bytes) -> str:
    """Which language's subject a message carries (from the raw, encoded header)."""
    subject = str(parse(data)["Subject"])
    return subject[:2].lower()


def received(sink: SmtpSink) -> Counter[str]:
    """Alert messages (they carry List-Id; transactional mail does not) per recipient."""
    with sink.lock:
        messages = list(sink.messages)
    return Counter(rcpt for _, rcpts, data in messages
                   if b"\r\nList-Id:" in data.split(b"\r\n\r\n", 1)[0] for rcpt in rcpts)


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


# --- processes -------------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of our own on a free loopback port, nothing on disk. Never the shared
    one on 6379: tests flush and stop only this one."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from redis import Redis

        self.client = Redis.from_url(self.url)
        assert wait_until(self._up, 10), "redis-server did not start"

    def _up(self) -> bool:
        from redis.exceptions import ConnectionError as RedisConnectionError

        try:
            return bool(self.client.ping())
        except RedisConnectionError:
            return False

    def flushall(self) -> None:
        self.client.flushall()

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(10)


def worker_env(keys: Mapping[str, str], instance: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMPAIGN_", "FLASK_"))}
    env.update(keys)
    env.update({"INSTANCE_PATH": str(instance), "MAILDIR": str(instance / "maildir"),
                "PYTHONPATH": str(ROOT), **settings})
    return env


class Worker:
    """``flask campaign worker`` in its own process group (the test kills the group)."""

    def __init__(self, env: Mapping[str, str], log: Path, queues: str = "alerts,mail") -> None:
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "campaign", "campaign", "worker",
             "--queues", queues],
            env=dict(env), cwd=str(ROOT), stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def children(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rpartition(")")[2].split()[1]) == self.process.pid:
                    found.append(int(entry.name))
        return found

    def kill(self) -> None:
        """SIGKILL to the worker's process group, and to the group of the job it forked:
        RQ starts each job ("work horse") in a session of its own."""
        horses = self.children()
        for group in [self.process.pid, *horses]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill()
                return
        self.log.close()


def alert_row(app: Flask, pid: str) -> Alert:
    with app.app_context():
        alert = services.find(db.session, pid)
        assert alert is not None
        db.session.expunge(alert)
        return alert
