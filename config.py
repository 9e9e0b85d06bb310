"""Settings of the campaign mailer.

One frozen dataclass, filled by the pure function :func:`load_config` from a mapping of
environment variables. Nothing here reads the environment or the disk by itself except
:func:`config_from_environment`, which is what the app factory calls when it is given no
config: it reads ``os.environ`` and, in development only, the generated secrets file under
``instance/``.

Production (``CAMPAIGN_ENV=production``) refuses to start, with one line naming the setting,
when a secret is missing or is a development value, or when no SMTP relay is configured.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent
DEFAULT_INSTANCE = ROOT / "instance"

# Secrets generated for development are written here (never used in production).
DEV_SECRETS_FILE = "dev-secrets.json"
DEV_MARKER = "dev-"  # every generated development secret starts with this

SECRET_SETTINGS = ("SECRET_KEY", "LINK_KEY", "DATA_KEYS", "INDEX_KEY")


class ConfigError(ValueError):
    """A setting is missing or unsafe. The message names the setting in one line."""


@dataclass(frozen=True)
class Config:
    env: str = "development"
    instance_path: Path = DEFAULT_INSTANCE
    database_url: str = ""
    redis_url: str | None = None
    smtp_url: str | None = None
    maildir: Path = DEFAULT_INSTANCE / "maildir"
    base_url: str = "http://127.0.0.1:5000"
    mail_from: str = "alerts@campaign.example.org"
    mail_from_name: str = "Pamir Solidarity"
    discreet_from_name: str = "Newsletter"
    return_path: str = "bounces@campaign.example.org"
    list_id: str = "alerts.campaign.example.org"
    org_postal_address: str = "Example Street 1, 1000 Example City"
    secret_key: str = ""
    secret_key_fallbacks: tuple[str, ...] = ()
    link_key: bytes = b""
    data_keys: tuple[bytes, ...] = ()
    index_key: bytes = b""
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_key_file: Path | None = None
    send_rate: float = 50.0
    # Messages per second to one recipient domain; None = half of send_rate.
    send_rate_per_domain: float | None = None
    trusted_proxies: int = 0
    # Seconds between reconcile runs (due schedules, lost jobs, expired claims), in the embedded
    # runner and in the RQ workers (one run per interval among all workers).
    reconcile_interval: float = 30.0
    # "rq" when REDIS_URL is set, "thread" otherwise; tests use "eager" (run after commit).
    job_runner: str = "thread"
    require_second_approval: bool = False
    testing: bool = False
    # Flask-Limiter on or off; on unless TESTING (tests that check limits turn it on).
    rate_limits: bool = True

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def mail_domain(self) -> str:
        return self.mail_from.rpartition("@")[2] or "localhost"


def _decode_key(name: str, text: str) -> bytes:
    text = text.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{name}: not urlsafe base64 ({exc.__class__.__name__})") from exc
    if len(raw) != 32:
        raise ConfigError(f"{name}: each key must be 32 bytes of urlsafe base64, got {len(raw)}")
    return raw


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name}: expected a boolean (1/0, true/false), got {value!r}")


def _number(name: str, value: str, kind: type[int] | type[float]) -> float:
    try:
        number = kind(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: expected a number, got {value!r}") from exc
    if number < 0:
        raise ConfigError(f"{name}: must not be negative")
    return number


def _interval(value: str) -> float:
    seconds = float(_number("RECONCILE_INTERVAL", value, float))
    if not 1 <= seconds <= 3600:
        raise ConfigError("RECONCILE_INTERVAL: seconds between 1 and 3600")
    return seconds


def generate_secret() -> str:
    """A development secret: urlsafe base64 of 32 random bytes, marked as development."""
    return DEV_MARKER + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _dev_key(value: str) -> str:
    # A generated development key carries a marker so production can recognise and refuse it.
    return value.removeprefix(DEV_MARKER)


def load_config(env: Mapping[str, str], *, dev_secrets: Mapping[str, str] | None = None) -> Config:
    """Build the settings from ``env`` alone (pure: no I/O).

    ``dev_secrets`` supplies generated secrets in development for any secret the environment
    does not set. Raises :class:`ConfigError` with one line naming the setting at fault.
    """
    mode = env.get("CAMPAIGN_ENV", "development").strip() or "development"
    if mode not in {"development", "production"}:
        raise ConfigError(f"CAMPAIGN_ENV: expected 'development' or 'production', got {mode!r}")
    production = mode == "production"
    instance = Path(env.get("INSTANCE_PATH") or DEFAULT_INSTANCE).resolve()
    fallback = dev_secrets or {}

    def secret(name: str) -> str:
        value = env.get(name, "").strip()
        if production:
            if not value:
                raise ConfigError(f"{name} is not set; production needs its own secret value")
            if value.startswith(DEV_MARKER) or value in {"dev", "changeme", "secret"}:
                raise ConfigError(f"{name} is a development value; set a real secret")
            return value
        return value or fallback.get(name, "")

    secret_key = secret("SECRET_KEY")
    if production and len(secret_key) < 32:
        raise ConfigError("SECRET_KEY is too short; use at least 32 random characters")
    link_key = secret("LINK_KEY")
    data_keys_text = secret("DATA_KEYS")
    index_key_text = secret("INDEX_KEY")
    if not production:
        missing = [
            name
            for name, value in (
                ("SECRET_KEY", secret_key),
                ("LINK_KEY", link_key),
                ("DATA_KEYS", data_keys_text),
                ("INDEX_KEY", index_key_text),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"{missing[0]} is not set and no development secret was generated")

    data_keys = tuple(
        _decode_key("DATA_KEYS", _dev_key(part))
        for part in data_keys_text.split(",")
        if part.strip()
    )
    if not data_keys:
        raise ConfigError("DATA_KEYS: at least one key is needed")
    index_key = _decode_key("INDEX_KEY", _dev_key(index_key_text))

    smtp_url = env.get("SMTP_URL", "").strip() or None
    if smtp_url and urlsplit(smtp_url).scheme not in {"smtp", "smtps", "memory"}:
        raise ConfigError("SMTP_URL: expected smtp://… or smtps://…")
    if production and (not smtp_url or smtp_url.startswith("memory")):
        raise ConfigError("SMTP_URL is not set; production needs an SMTP relay")

    base_url = env.get("BASE_URL", "http://127.0.0.1:5000").strip().rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path:
        raise ConfigError("BASE_URL: expected an origin such as https://campaign.example.org")
    if production and parts.scheme != "https":
        raise ConfigError("BASE_URL must be https:// in production")

    database_url = env.get("DATABASE_URL", "").strip() or f"sqlite:///{instance / 'campaign.db'}"
    redis_url = env.get("REDIS_URL", "").strip() or None
    runner = env.get("JOB_RUNNER", "").strip() or ("rq" if redis_url else "thread")
    if runner not in {"rq", "thread", "eager"}:
        raise ConfigError(f"JOB_RUNNER: expected rq, thread or eager, got {runner!r}")
    if runner == "rq" and not redis_url:
        raise ConfigError("JOB_RUNNER=rq needs REDIS_URL")

    dkim_key = env.get("DKIM_KEY_FILE", "").strip()
    dkim_selector = env.get("DKIM_SELECTOR", "").strip() or None
    dkim_domain = env.get("DKIM_DOMAIN", "").strip() or None
    if any((dkim_key, dkim_selector, dkim_domain)) and not all(
        (dkim_key, dkim_selector, dkim_domain)
    ):
        raise ConfigError("DKIM_SELECTOR, DKIM_DOMAIN and DKIM_KEY_FILE must be set together")

    mail_from = env.get("MAIL_FROM", "alerts@campaign.example.org").strip()
    if "@" not in mail_from or any(c in mail_from for c in "\r\n <>"):
        raise ConfigError("MAIL_FROM: expected a bare address such as alerts@example.org")

    second_default = "1" if production else "0"
    return Config(
        env=mode,
        instance_path=instance,
        database_url=database_url,
        redis_url=redis_url,
        smtp_url=smtp_url,
        maildir=Path(env.get("MAILDIR") or instance / "maildir").resolve(),
        base_url=base_url,
        mail_from=mail_from,
        mail_from_name=env.get("MAIL_FROM_NAME", "Pamir Solidarity").strip(),
        discreet_from_name=env.get("DISCREET_FROM_NAME", "Newsletter").strip(),
        return_path=env.get("RETURN_PATH", "").strip() or mail_from,
        list_id=env.get("LIST_ID", "").strip() or f"alerts.{mail_from.rpartition('@')[2]}",
        org_postal_address=env.get(
            "ORG_POSTAL_ADDRESS", "Example Street 1, 1000 Example City"
        ).strip(),
        secret_key=secret_key,
        secret_key_fallbacks=tuple(
            p.strip() for p in env.get("SECRET_KEY_FALLBACKS", "").split(",") if p.strip()
        ),
        link_key=_dev_key(link_key).encode(),
        data_keys=data_keys,
        index_key=index_key,
        dkim_selector=dkim_selector,
        dkim_domain=dkim_domain,
        dkim_key_file=Path(dkim_key) if dkim_key else None,
        send_rate=float(_number("SEND_RATE", env.get("SEND_RATE", "50"), float)),
        send_rate_per_domain=(
            float(_number("SEND_RATE_PER_DOMAIN", env["SEND_RATE_PER_DOMAIN"], float))
            if env.get("SEND_RATE_PER_DOMAIN", "").strip() else None
        ),
        trusted_proxies=int(_number("TRUSTED_PROXIES", env.get("TRUSTED_PROXIES", "0"), int)),
        reconcile_interval=_interval(env.get("RECONCILE_INTERVAL", "30")),
        job_runner=runner,
        require_second_approval=_bool(
            "REQUIRE_SECOND_APPROVAL", env.get("REQUIRE_SECOND_APPROVAL", second_default)
        ),
        testing=_bool("TESTING", env.get("TESTING", "0")),
        rate_limits=_bool(
            "RATE_LIMITS",
            env.get("RATE_LIMITS", "0" if _bool("TESTING", env.get("TESTING", "0")) else "1"),
        ),
    )


def dev_secrets(instance: Path) -> dict[str, str]:
    """Read (or create once) the development secrets file under ``instance``."""
    path = instance / DEV_SECRETS_FILE
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.items()}
    instance.mkdir(parents=True, exist_ok=True)
    values = {name: generate_secret() for name in SECRET_SETTINGS}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(values, handle, indent=2)
    return values


def config_from_environment(environ: Mapping[str, str] | None = None) -> Config:
    """The settings of this process: ``os.environ`` plus, in development, generated secrets."""
    env = dict(os.environ if environ is None else environ)
    if env.get("CAMPAIGN_ENV", "development") == "production":
        return load_config(env)
    instance = Path(env.get("INSTANCE_PATH") or DEFAULT_INSTANCE).resolve()
    return load_config(env, dev_secrets=dev_secrets(instance))
