"""``flask campaign …`` commands: init, seed-demo, organisers, worker, reconcile, serve."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable
from types import ModuleType

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from campaign.extensions import db
from config import Config

log = logging.getLogger(__name__)

group = AppGroup("campaign", help="Campaign mailer commands.")



def _feature_module(feature: str, name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"campaign.{feature}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"campaign.{feature}.{name}":
            raise
        return None


def demo_seeders() -> list[Callable[[], None]]:
    """Each feature's ``demo.seed()``, in FEATURES order (each must be idempotent)."""
    from campaign import FEATURES

    seeders = []
    for feature in FEATURES:
        module = _feature_module(feature, "demo")
        if module is not None:
            seeders.append(module.seed)
    return seeders


def _config() -> Config:
    return current_app.extensions["campaign.config"]


@group.command("init")
def init_command() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from flask_migrate import upgrade

    _config().instance_path.mkdir(parents=True, exist_ok=True)
    upgrade()
    click.echo("database is at the newest migration")


@group.command("seed-demo")
def seed_demo_command() -> None:
    """Add the demo data in all three languages (safe to run again)."""
    seeders = demo_seeders()
    for seeder in seeders:
        seeder()
        db.session.commit()
    click.echo(f"demo data present ({len(seeders)} seeders)")


@group.command("create-organiser")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "organiser", "translator", "viewer"]),
              default="admin", show_default=True)
def create_organiser_command(email: str, role: str) -> None:
    """Create an account and print its one-time password (changed at first login)."""
    from campaign.addresses import AddressError
    from campaign.admin import services as accounts
    from campaign.admin.models import Role

    password = accounts.generate_password()
    try:
        organiser = accounts.create_organiser(db.session, email, Role(role), password=password)
    except AddressError as exc:
        raise click.ClickException(f"not a valid address: {exc}") from exc
    except accounts.AccountError as exc:
        raise click.ClickException("an account with this address already exists") from exc
    accounts.audit(db.session, "organiser.created", object_type="organiser",
                   object_id=organiser.public_id, detail={"role": role, "via": "cli"})
    db.session.commit()
    click.echo(f"organiser created: {email} ({role})")
    click.echo(f"one-time password: {password}")
    click.echo("sign in at /admin/login; you will set up TOTP and a new password")


@group.command("ensure-organiser")
@click.option("--email", default="admin@campaign.example.org", show_default=True)
def ensure_organiser_command(email: str) -> None:
    """Create a first administrator when there is none, printing its login once."""
    from campaign.admin import services as accounts

    if accounts.count_organisers(db.session):
        return
    ctx = click.get_current_context()
    ctx.invoke(create_organiser_command, email=email, role="admin")


@group.command("reconcile")
def reconcile_command() -> None:
    """Recover work of dead workers and enqueue what is due (run from cron every minute)."""
    from workers.maintenance import reconcile

    result = reconcile()
    click.echo(f"recovered {result['recovered']}, enqueued {result['enqueued']}")


@group.command("worker")
@click.option("--queues", default="mail,alerts,letters,default", show_default=True)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--simple", is_flag=True, help="Run jobs in the worker process (no fork).")
def worker_command(queues: str, burst: bool, simple: bool) -> None:
    """Run an RQ worker whose jobs run inside this app's context."""
    config = _config()
    if not config.redis_url:
        raise click.ClickException("REDIS_URL is not set: the embedded runner needs no worker")
    from redis import Redis

    from workers.worker import run_worker

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    connection = Redis.from_url(config.redis_url)
    names = [q.strip() for q in queues.split(",") if q.strip()]
    ok = run_worker(app, connection, names, burst=burst, simple=simple)
    sys.exit(0 if ok or burst else 1)


@group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def serve_command(host: str, port: int) -> None:
    """Serve the site on the embedded default, with the in-process job runner."""
    from campaign.jobs import ThreadRunner, runner
    from workers.maintenance import reconcile

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    jobs = runner()
    if isinstance(jobs, ThreadRunner):
        jobs.start()
    reconcile()
    config = _config()
    mode = "SMTP relay" if config.smtp_url else f"maildir {config.maildir}"
    click.echo(f"serving {config.base_url} (mail: {mode}; captured mail at /admin/outbox)")
    # Flask ignores app.run() inside a CLI command; serve with Werkzeug directly.
    from werkzeug.serving import WSGIRequestHandler, run_simple

    class Handler(WSGIRequestHandler):
        def version_string(self) -> str:
            return "campaign"  # not Werkzeug's and Python's versions

    run_simple(host, port, app, threaded=True, use_reloader=False, request_handler=Handler)


def init_app(app: Flask) -> None:
    from campaign import FEATURES

    for feature in FEATURES:
        module = _feature_module(feature, "cli")
        if module is not None:
            module.register(group)
    app.cli.add_command(group)
