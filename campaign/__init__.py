"""The campaign mailer: a Flask application built by :func:`create_app`."""

from __future__ import annotations

import importlib
import sys
from io import BytesIO
from pathlib import Path
from typing import IO
from urllib.parse import unquote_to_bytes

from flask import Flask, Request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from config import ROOT, Config, ConfigError, config_from_environment

# Feature packages, each with models, services, forms, views (``create_blueprints()``) and,
# where it has them, ``cli.register(group)`` commands and a ``demo.seed()`` function.
FEATURES: tuple[str, ...] = ("cases", "targets", "subscribers", "alerts", "actions")

TEMPLATES = ROOT / "templates"
TRANSLATIONS = ROOT / "translations"
STATIC = Path(__file__).resolve().parent / "static"


def create_app(config: Config | None = None) -> Flask:
    """Build the application. Reads settings, binds extensions, registers blueprints; no I/O
    against the database, Redis or the network happens here."""
    if config is None:
        try:
            config = config_from_environment()
        except ConfigError as exc:
            # One clear line and a non-zero exit, whether run by flask, gunicorn or a worker.
            sys.exit(f"campaign: configuration error: {exc}")

    app = CampaignFlask(
        __name__,
        template_folder=str(TEMPLATES),
        static_folder=str(STATIC),
        instance_path=str(config.instance_path),
    )
    _apply_config(app, config)

    from campaign import cli, errors, extensions, i18n, jobs, logs, security

    logs.install()
    from campaign.extensions import csrf, db, limiter, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True,
                     compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    jobs.init_app(app)
    extensions.init_personal_data(app, config)

    from campaign import public
    from campaign.admin import nav
    from campaign.admin import views as admin_views

    app.register_blueprint(public.create_blueprint())
    app.add_url_rule("/", "root", public.root_redirect)
    app.register_blueprint(admin_views.create_blueprint())
    for feature in FEATURES:
        views = importlib.import_module(f"campaign.{feature}.views")
        for blueprint in views.create_blueprints():
            app.register_blueprint(blueprint)
    nav.init_app(app)

    errors.init_app(app)
    cli.init_app(app)
    return app


class CampaignRequest(Request):
    def _load_form_data(self) -> None:
        if self.mimetype == "application/x-www-form-urlencoded":
            # Werkzeug keeps bytes that are not UTF-8 as literal "%XX" text, which would then
            # pass for what someone typed. A browser sends a typed "%" as "%25": such bytes
            # are a broken or hostile client, refused with 400. (The body is bounded by
            # MAX_CONTENT_LENGTH and kept, so the form is parsed from this same copy.)
            try:
                unquote_to_bytes(self.get_data(cache=True).replace(b"+", b" ")).decode()
            except UnicodeDecodeError:
                raise BadRequest() from None
        super()._load_form_data()
        # Werkzeug counts the parts of multipart forms only; a url-encoded body of thousands
        # of fields is refused the same way (413), before any view or CSRF check reads it.
        limit = self.max_form_parts
        if limit is not None and sum(len(v) for _k, v in self.form.lists()) > limit:
            raise RequestEntityTooLarge()

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        # Uploads (CSV imports of addresses) stay in memory, bounded by MAX_CONTENT_LENGTH,
        # instead of a temporary file on disk in clear.
        return BytesIO()


class CampaignFlask(Flask):
    request_class = CampaignRequest


def _apply_config(app: Flask, config: Config) -> None:
    app.extensions["campaign.config"] = config
    secure = config.https
    app.config.update(
        SECRET_KEY=config.secret_key,
        SECRET_KEY_FALLBACKS=list(config.secret_key_fallbacks),
        TESTING=config.testing,
        SQLALCHEMY_DATABASE_URI=config.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(config.database_url),
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS),
        BABEL_DEFAULT_LOCALE="en",
        SESSION_COOKIE_NAME="__Host-session" if secure else "session",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        WTF_CSRF_TIME_LIMIT=None,  # the token is bound to the session, which expires itself
        WTF_CSRF_SSL_STRICT=True,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        MAX_FORM_MEMORY_SIZE=512 * 1024,
        MAX_FORM_PARTS=1000,  # room for a campaign's hundreds of cases ticked in one form
        RATELIMIT_STORAGE_URI=config.redis_url or "memory://",
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_ENABLED=config.rate_limits,
        PREFERRED_URL_SCHEME="https" if secure else "http",
    )
    if config.trusted_proxies:
        n = config.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0)  # type: ignore[method-assign]


def _engine_options(url: str) -> dict[str, object]:
    if url.startswith("sqlite"):
        # WAL and busy_timeout are set per connection in campaign.extensions.
        return {"connect_args": {"timeout": 15}}
    return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5}
