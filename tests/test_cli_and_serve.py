"""The app driven from outside: `flask campaign init / seed-demo / ensure-organiser / serve`
in a subprocess with DATABASE_URL and SMTP_URL from the environment, pages fetched over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "campaign", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def env(tmp_path: Path, keys: dict[str, str]) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(keys)
    environment.update({
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
        "MAILDIR": str(tmp_path / "maildir"),
    })
    return environment


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    server.start()
    yield server
    server.stop()


def test_init_seed_and_first_organiser_from_the_environment(
    env: dict[str, str], sink: SmtpSink
) -> None:
    env["SMTP_URL"] = f"smtp://127.0.0.1:{sink.port}"
    first = flask(env, "campaign", "init")
    assert first.returncode == 0, first.stderr
    assert flask(env, "campaign", "init").returncode == 0  # idempotent
    seeded = flask(env, "campaign", "seed-demo")
    assert seeded.returncode == 0, seeded.stderr
    assert flask(env, "campaign", "seed-demo").returncode == 0
    created = flask(env, "campaign", "ensure-organiser")
    assert "one-time password:" in created.stdout
    again = flask(env, "campaign", "ensure-organiser")
    assert again.returncode == 0 and "one-time password" not in again.stdout
    dup = flask(env, "campaign", "create-organiser", "admin@campaign.example.org")
    assert dup.returncode != 0 and "already exists" in dup.stderr
    bad = flask(env, "campaign", "create-organiser", "not an address")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


def test_serve_answers_in_three_languages_with_the_right_lang(env: dict[str, str]) -> None:
    assert flask(env, "campaign", "init").returncode == 0
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "campaign", "campaign", "serve", "--port",
         str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/en/", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        for lang, sample in (("en", "Pamiri"), ("ru", "памир"), ("tg", "Помир")):
            with urllib.request.urlopen(f"{base}/{lang}/", timeout=5) as response:
                assert response.status == 200
                assert response.headers["Server"] == "campaign"  # no server version
                html = response.read().decode()
            assert f'<html lang="{lang}"' in html
            assert sample in html
    finally:
        server.terminate()
        server.wait(timeout=10)
