"""``flask campaign import-targets [PATH]``: load the directory of institutions."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy.exc import OperationalError, ProgrammingError

from campaign.extensions import db
from campaign.targets import services as targets
from campaign.targets.spec import TargetDataError, load_file
from config import ROOT

DEFAULT_PATH = ROOT / "data" / "targets.yaml"


def _keys(keys: list[str]) -> str:
    return f": {', '.join(keys)}" if keys else ""


def format_report(report: targets.ImportReport) -> list[str]:
    """The lines the command prints: one per kind of change, keys named."""
    if not report.changed:
        return [f"targets: nothing changed ({len(report.unchanged)} unchanged)"]
    lines = [
        f"added {len(report.added)}{_keys(report.added)}",
        f"updated {len(report.updated)}{_keys(report.updated)}",
        f"deactivated {len(report.deactivated)}{_keys(report.deactivated)}",
        f"unchanged {len(report.unchanged)}",
        f"new channels {len(report.new_channels)} (unverified until an organiser checks them)"
        + _keys([f"{key}/{kind}" for key, kind in report.new_channels]),
        f"retired channels {len(report.retired_channels)}"
        + _keys([f"{key}/{kind}" for key, kind in report.retired_channels]),
    ]
    if report.reactivated:
        lines.insert(2, f"reactivated {len(report.reactivated)}{_keys(report.reactivated)}")
    return lines


def register(group: AppGroup) -> None:
    @group.command("import-targets")
    @click.argument("path", required=False,
                    type=click.Path(dir_okay=False, path_type=Path))
    def import_targets_command(path: Path | None) -> None:
        """Load the directory of institutions (default: data/targets.yaml)."""
        source = path if path is not None else DEFAULT_PATH
        try:
            report = targets.import_targets(db.session, load_file(source))
        except TargetDataError as exc:
            db.session.rollback()
            raise click.ClickException(f"{source}: {exc}") from exc
        except (OperationalError, ProgrammingError) as exc:  # no tables yet, database down
            db.session.rollback()
            raise click.ClickException(
                "the database is not ready; run `flask campaign init` first "
                f"({exc.orig.__class__.__name__ if exc.orig else exc.__class__.__name__})"
            ) from exc
        db.session.commit()
        for line in format_report(report):
            click.echo(line)
