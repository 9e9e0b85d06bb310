"""The operations page tells an administrator the state of each security setting and never a
secret; gunicorn sends no version banner."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from campaign.admin.models import Role
from tests.admin_support import make_account, signed_in

ROOT = Path(__file__).resolve().parent.parent
SMTP_PASSWORD = "relay-password-Zq81"


def test_the_security_page_lists_the_settings_and_never_a_secret(
    make_app: Callable[..., Flask], keys: dict[str, str]
) -> None:
    app = make_app(SMTP_URL=f"smtp://mailer:{SMTP_PASSWORD}@127.0.0.1:2525",
                   REQUIRE_SECOND_APPROVAL="1", SECRET_KEY_FALLBACKS="an-old-secret-key-value")
    admin = signed_in(app, make_account(app, role=Role.ADMIN))
    page = admin.get("/admin/security")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    for label in ("Two-step verification (TOTP) required", "A second organiser must approve",
                  "HTTPS only", "DATA_KEYS configured", "DKIM signing configured",
                  "Emergency lockdown", "Start the lockdown"):
        assert label in html
    secrets = [SMTP_PASSWORD, "an-old-secret-key-value", *keys.values()]
    for value in list(secrets):
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)) if len(value) == 44 \
            else b""
        if raw:
            secrets += [raw.hex(), base64.b64encode(raw).decode()]
    for secret in secrets:
        assert secret not in html
        assert secret[:12] not in html


def test_only_administrators_see_the_security_page(app: Flask) -> None:
    organiser = signed_in(app, make_account(app, role=Role.ORGANISER))
    assert organiser.get("/admin/security").status_code == 403
    token_page = organiser.get("/admin/").get_data(as_text=True)
    assert "/admin/security" not in token_page  # not in the navigation either


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_gunicorn_with_the_shipped_config_sends_no_server_banner(tmp_path: Path,
                                                                keys: dict[str, str]) -> None:
    port = _free_port()
    env = {**os.environ, **keys, "INSTANCE_PATH": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}", "SMTP_URL": "memory://",
           "TESTING": "1"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "campaign:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        headers = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login",
                                            timeout=2) as response:
                    headers = response.headers
                    break
            except OSError:
                time.sleep(0.1)
        assert headers is not None, "gunicorn did not start"
        assert headers.get("Server", "") == ""
        assert "nosniff" in headers["X-Content-Type-Options"]
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stderr is not None
        process.stderr.close()
