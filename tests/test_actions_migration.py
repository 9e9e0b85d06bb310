"""Migration 0007_actions builds exactly the tables the action models describe, on SQLite and
PostgreSQL, and its downgrade removes them. Checked on its own, on top of the other features'
tables, so it holds whatever revision it is chained after."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from flask import Flask
from sqlalchemy import inspect

from campaign.extensions import db

ROOT = Path(__file__).resolve().parent.parent
MIGRATION = ROOT / "migrations" / "versions" / "0007_actions.py"
TABLES = {"actions", "action_texts", "action_variants", "action_cases", "action_targets",
          "letters", "letter_deliveries", "action_digests", "letter_schedules",
          "action_tallies"}


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("migration_0007_actions", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_actions_migration_matches_the_models_and_downgrades(
    make_app: Callable[..., Flask], db_url: str
) -> None:
    migration = load()
    assert migration.revision == "0007_actions"
    assert migration.down_revision == "0006_alerts"
    app = make_app(create_schema=False, DATABASE_URL=db_url)
    with app.app_context():
        others = [t for t in db.metadata.sorted_tables if t.name not in TABLES]
        db.metadata.create_all(db.engine, tables=others)
        opts = {"compare_type": True, "render_as_batch": True}
        with db.engine.begin() as connection:
            context = MigrationContext.configure(connection, opts=opts)
            with Operations.context(context):
                migration.upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=opts)
            assert compare_metadata(context, db.metadata) == []
        with db.engine.begin() as connection:
            context = MigrationContext.configure(connection, opts=opts)
            with Operations.context(context):
                migration.downgrade()
        assert TABLES.isdisjoint(inspect(db.engine).get_table_names())
