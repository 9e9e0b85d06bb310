"""Settings: a pure function of the environment that fails fast in production."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, generate_secret, load_config

ROOT = Path(__file__).resolve().parent.parent


def key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        "CAMPAIGN_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "LINK_KEY": secrets.token_urlsafe(40),
        "DATA_KEYS": f"{key()},{key()}",
        "INDEX_KEY": key(),
        "SMTP_URL": "smtp://relay.example.org:587?starttls=1",
        "BASE_URL": "https://campaign.example.org",
        "DATABASE_URL": "postgresql+psycopg://app@db.example.org/campaign",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v != "<unset>"}


def test_development_defaults_are_local_and_safe() -> None:
    dev = {name: generate_secret() for name in ("SECRET_KEY", "LINK_KEY", "DATA_KEYS",
                                                 "INDEX_KEY")}
    config = load_config({}, dev_secrets=dev)
    assert config.env == "development"
    assert config.smtp_url is None  # mail goes to the maildir
    assert config.redis_url is None and config.job_runner == "thread"
    assert config.database_url.startswith("sqlite:///")
    assert config.base_url == "http://127.0.0.1:5000"
    assert len(config.data_keys) == 1 and len(config.data_keys[0]) == 32


def test_production_accepts_a_complete_environment() -> None:
    config = load_config(production_env())
    assert config.is_production and config.https
    assert len(config.data_keys) == 2
    assert config.require_second_approval  # on by default in production


@pytest.mark.parametrize("name", ["SECRET_KEY", "LINK_KEY", "DATA_KEYS", "INDEX_KEY"])
def test_production_refuses_a_missing_secret_naming_it(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config(production_env(**{name: "<unset>"}))


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATA_KEYS", "INDEX_KEY"])
def test_production_refuses_a_development_secret(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config(production_env(**{name: generate_secret()}))


def test_production_refuses_to_run_without_an_smtp_relay() -> None:
    with pytest.raises(ConfigError, match="SMTP_URL"):
        load_config(production_env(SMTP_URL="<unset>"))


def test_production_requires_https_base_url() -> None:
    with pytest.raises(ConfigError, match="BASE_URL"):
        load_config(production_env(BASE_URL="http://campaign.example.org"))


@pytest.mark.parametrize(
    ("name", "value"),
    [("DATA_KEYS", "not-base64!"), ("INDEX_KEY", base64.urlsafe_b64encode(b"short").decode()),
     ("SEND_RATE", "fast"), ("TRUSTED_PROXIES", "-1"), ("CAMPAIGN_ENV", "staging"),
     ("MAIL_FROM", "Campaign <a@example.org>"), ("SMTP_URL", "http://relay.example.org"),
     ("RECONCILE_INTERVAL", "0"), ("RECONCILE_INTERVAL", "soon"),
     ("RECONCILE_INTERVAL", "86400")],
)
def test_bad_values_are_refused_with_the_setting_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config(production_env(**{name: value}))


def test_reconcile_runs_every_thirty_seconds_unless_told() -> None:
    assert load_config(production_env()).reconcile_interval == 30.0
    assert load_config(production_env(RECONCILE_INTERVAL="5")).reconcile_interval == 5.0


def test_per_domain_send_rate_is_optional() -> None:
    assert load_config(production_env()).send_rate_per_domain is None
    assert load_config(production_env(SEND_RATE_PER_DOMAIN="5")).send_rate_per_domain == 5.0
    with pytest.raises(ConfigError, match="SEND_RATE_PER_DOMAIN"):
        load_config(production_env(SEND_RATE_PER_DOMAIN="-2"))


def test_config_is_frozen() -> None:
    config = load_config(production_env())
    with pytest.raises(AttributeError):
        config.env = "development"  # type: ignore[misc]


def test_production_process_without_secret_key_exits_with_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY"}}
    env.update(production_env(SECRET_KEY="<unset>"))
    env.pop("SECRET_KEY", None)
    env["INSTANCE_PATH"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "campaign", "campaign", "reconcile"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr
