"""``flask campaign reduce-action-data`` and ``prepare-digests``."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup

from campaign.actions import digests, retention
from campaign.extensions import db

DEFAULT_RETENTION_DAYS = 90


def register(group: AppGroup) -> None:
    @group.command("reduce-action-data")
    @click.option("--older-than", "days", type=click.IntRange(min=0),
                  default=DEFAULT_RETENTION_DAYS, show_default=True,
                  help="Days since an action closed before its volunteers' data is reduced.")
    def reduce_command(days: int) -> None:
        """Reduce the volunteers' personal data of closed actions to counts."""
        report = retention.reduce_action_data(db.session, dt.timedelta(days=days))
        db.session.commit()
        for line in report.lines():
            click.echo(line)

    @group.command("prepare-digests")
    def prepare_command() -> None:
        """Draft the digests of finished periods (reconcile does this on its own too)."""
        made = digests.prepare(db.session)
        db.session.commit()
        click.echo(f"digests drafted: {len(made)} (an organiser approves each before it goes)")
