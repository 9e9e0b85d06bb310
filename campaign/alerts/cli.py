"""``flask campaign alerts`` and ``flask campaign alert-progress``: what operators check from a
shell. Starting, pausing and approving sends stay in the admin pages (TOTP, audit, approval)."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from campaign.alerts import progress, services
from campaign.extensions import db


def register(group: AppGroup) -> None:
    @group.command("alerts")
    @click.option("--limit", default=20, show_default=True)
    def alerts_command(limit: int) -> None:
        """List recent alerts: public id, state, schedule."""
        for alert in services.recent(db.session, limit):
            when = alert.scheduled_at.isoformat() if alert.scheduled_at else "-"
            click.echo(f"{alert.public_id}  {alert.status:<18} scheduled={when}")

    @group.command("alert-progress")
    @click.argument("public_id")
    def alert_progress_command(public_id: str) -> None:
        """Counts of one alert by state and language, as JSON."""
        alert = services.find(db.session, public_id)
        if alert is None:
            raise click.ClickException("no alert with this id")
        click.echo(json.dumps(progress.progress(db.session, alert).as_dict(), indent=2))
