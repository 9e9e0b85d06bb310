"""Fixtures: the real app factory on a temporary SQLite file or a fresh PostgreSQL database.

Factories are fixtures that return callables (``make_app``), so a test can build an app with
the settings it needs.
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from campaign import create_app
from campaign.extensions import db
from config import Config, load_config

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture(scope="session")
def keys() -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "LINK_KEY": secrets.token_urlsafe(32),
        "DATA_KEYS": _key(),
        "INDEX_KEY": _key(),
    }


@pytest.fixture
def make_config(tmp_path: Path, keys: dict[str, str]) -> Callable[..., Config]:
    def make(**overrides: str) -> Config:
        env = {
            "TESTING": "1",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}",
            "SMTP_URL": "memory://",
            "MAILDIR": str(tmp_path / "maildir"),
            "BASE_URL": "http://127.0.0.1:5000",
            **keys,
            **overrides,
        }
        return load_config(env)

    return make


@pytest.fixture
def make_app(make_config: Callable[..., Config]) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def make(create_schema: bool = True, **overrides: str) -> Flask:
        app = create_app(make_config(**overrides))
        if create_schema:
            with app.app_context():
                db.create_all()
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def outbox(app: Flask) -> Any:
    """The memory transport's list of (from, to, bytes), after the job runner is idle."""
    from workers.mail import transport

    with app.app_context():
        return transport()


def wait_for_jobs(app: Flask) -> None:
    from campaign.jobs import ThreadRunner

    runner = app.extensions["campaign.runner"]
    if isinstance(runner, ThreadRunner):
        runner.wait_idle()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    psycopg = pytest.importorskip("psycopg")
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:  # pragma: no cover - CI starts PostgreSQL
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL is not running: {exc}")
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"campaign_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs a test on both engines."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'engine.db'}"
    return str(request.getfixturevalue("pg_url"))
