"""Extension objects, created unbound; ``create_app`` binds them."""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Flask, current_app
from flask_babel import Babel
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine

from campaign.crypto import BlindIndex, FieldCipher
from campaign.db import Base
from campaign.netutil import client_ip
from config import Config

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
babel = Babel()
csrf = CSRFProtect()


def rate_key() -> str:
    """The rate limits' key for the client: a keyed hash of its address, so the limiter's
    store (Redis) never holds an IP address in clear."""
    return blind_index().digest(client_ip(), purpose="rate-ip").hex()[:32]


limiter = Limiter(key_func=rate_key, default_limits=[], headers_enabled=False)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


event.listen(Engine, "connect", _sqlite_pragmas)


def init_personal_data(app: Flask, config: Config) -> None:
    """The cipher for personal fields and the keyed blind index, bound to this app."""
    app.extensions["campaign.cipher"] = FieldCipher(config.data_keys)
    app.extensions["campaign.index"] = BlindIndex(config.index_key)


def cipher() -> FieldCipher:
    return current_app.extensions["campaign.cipher"]


def blind_index() -> BlindIndex:
    return current_app.extensions["campaign.index"]
