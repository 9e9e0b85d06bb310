"""`flask campaign import-targets`, and the 0003_targets migration against the models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import MetaData, func, inspect, select

from campaign.extensions import db
from campaign.targets.cli import DEFAULT_PATH
from campaign.targets.models import Target, TargetChannel
from tests.test_targets_import import SHIPPED

TABLES = {"targets", "target_channels"}


def test_the_default_path_is_the_shipped_file() -> None:
    assert DEFAULT_PATH == SHIPPED


def test_import_targets_loads_the_shipped_file_and_reports_a_second_run_as_a_no_op(
    app: Flask,
) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["campaign", "import-targets"])
    assert first.exit_code == 0, first.output
    assert "added 9: un_sr_torture" in first.output
    assert "new channels 11" in first.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Target)) == 9
        assert db.session.scalar(select(func.count()).select_from(TargetChannel)) == 11
    second = runner.invoke(args=["campaign", "import-targets", str(SHIPPED)])
    assert second.exit_code == 0, second.output
    assert second.output.strip() == "targets: nothing changed (9 unchanged)"


def test_import_targets_reports_changes_by_key(app: Flask, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["campaign", "import-targets"])
    text = SHIPPED.read_text(encoding="utf-8")
    changed = tmp_path / "targets.yaml"
    changed.write_text(text.replace("hrc-wg-ad@un.org", "wgad@un.org"), encoding="utf-8")
    result = runner.invoke(args=["campaign", "import-targets", str(changed)])
    assert result.exit_code == 0, result.output
    assert "updated 1: un_wgad" in result.output
    assert "new channels 1 (unverified until an organiser checks them): un_wgad/email" in (
        result.output)
    assert "retired channels 1: un_wgad/email" in result.output


def test_an_invalid_file_exits_non_zero_with_one_line_naming_the_entry(
    app: Flask, tmp_path: Path
) -> None:
    bad = tmp_path / "targets.yaml"
    bad.write_text(SHIPPED.read_text(encoding="utf-8").replace(
        "letter_policy: submissions_only", "letter_policy: petitions", 1), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["campaign", "import-targets", str(bad)])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "entry 'un_cat': unknown letter_policy 'petitions'" in lines[0]
    missing = app.test_cli_runner().invoke(
        args=["campaign", "import-targets", str(tmp_path / "absent.yaml")])
    assert missing.exit_code != 0 and len(missing.output.strip().splitlines()) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Target)) == 0


def test_the_migration_builds_exactly_the_tables_the_models_describe(
    make_app: Callable[..., Flask], db_url: str
) -> None:
    app = make_app(create_schema=False, DATABASE_URL=db_url)
    with app.app_context():
        upgrade(revision="0003_targets")
        assert set(inspect(db.engine).get_table_names()) >= TABLES
        ours = MetaData(naming_convention=db.metadata.naming_convention)
        for name in ("organisers", *sorted(TABLES)):
            db.metadata.tables[name].to_metadata(ours)
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "render_as_batch": True,
                                  "include_name": _only(TABLES | {"organisers"})})
            assert compare_metadata(context, ours) == []
        downgrade(revision="0001_foundation")
        assert not TABLES & set(inspect(db.engine).get_table_names())


def _only(tables: set[str]) -> Callable[..., bool]:
    def include(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
        if type_ == "table":
            return name in tables
        return True

    return include
