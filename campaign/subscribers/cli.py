"""``flask campaign import-subscribers FILE`` (and, for now, ``rotate-data-key``).

The import uses the same service as the admin page (campaign.subscribers.imports), commits
after each chunk so a big file never holds one long transaction, and prints counts only:
addresses never reach the terminal or the logs. ``--report`` writes each row's outcome
(row number and outcome, nothing from the cells) to a CSV file.
"""

from __future__ import annotations

import csv
from contextlib import ExitStack
from datetime import date, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from campaign import jobs, keyrotation
from campaign.admin import services as accounts
from campaign.extensions import db
from campaign.i18n import LOCALES
from campaign.subscribers import imports

DELIVERY_WAIT = 600.0  # seconds


def _options(attest: str | None, consent_date: datetime | None, opt_in: bool,
             language: str, chunk_size: int) -> imports.ImportOptions:
    if bool(attest) == opt_in:
        raise click.UsageError("choose exactly one of --attest SOURCE or --opt-in")
    if attest and consent_date is None:
        raise click.UsageError("--attest needs --consent-date YYYY-MM-DD")
    try:
        if opt_in:
            return imports.ImportOptions(imports.Mode.OPT_IN, default_locale=language,
                                         chunk_size=chunk_size)
        day: date | None = consent_date.date() if consent_date else None
        return imports.ImportOptions(imports.Mode.ATTEST, attest or "", day,
                                     default_locale=language, chunk_size=chunk_size)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _deliver_in_process() -> None:
    """On the embedded default the job runner is a thread of this process: let it send the
    confirmations before the command exits (with RQ, the workers send them)."""
    runner = jobs.runner()
    if isinstance(runner, jobs.ThreadRunner):
        try:
            runner.wait_idle(timeout=DELIVERY_WAIT)
        except TimeoutError:
            click.echo("some confirmations are still queued; the site's job runner sends "
                       "them (they are recorded in the outgoing-mail ledger)")


def register(group: AppGroup) -> None:
    # rotate-data-key belongs to no feature; it is registered here until campaign/cli.py
    # registers it itself (campaign.cli only discovers feature cli modules).
    keyrotation.register_command(group)

    @group.command("import-subscribers")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--attest", metavar="SOURCE",
                  help="I attest these people already consented, through SOURCE "
                       f"(at most {imports.SOURCE_MAX} characters): rows are added active.")
    @click.option("--consent-date", type=click.DateTime(formats=["%Y-%m-%d"]),
                  help="When they consented (with --attest).")
    @click.option("--opt-in", is_flag=True,
                  help="Add rows pending and send each a double opt-in confirmation.")
    @click.option("--language", type=click.Choice(LOCALES), default="en", show_default=True,
                  help="For rows without a language.")
    @click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
                  help="Write every row's outcome (row number, outcome) to this CSV file.")
    @click.option("--chunk-size", type=click.IntRange(1, 10_000), default=imports.CHUNK,
                  show_default=True, help="Rows per look-up, insert and commit.")
    def import_subscribers_command(file: Path, attest: str | None,
                                   consent_date: datetime | None, opt_in: bool,
                                   language: str, report_path: Path | None,
                                   chunk_size: int) -> None:
        """Import subscribers from a CSV file (columns email, name, language, cases)."""
        options = _options(attest, consent_date, opt_in, language, chunk_size)
        config = current_app.extensions["campaign.config"]
        with ExitStack() as stack:
            source = stack.enter_context(file.open(encoding="utf-8-sig", newline=""))
            writer = None
            if report_path is not None:
                out = stack.enter_context(report_path.open("w", encoding="utf-8", newline=""))
                writer = csv.writer(out)
                writer.writerow(["row", "outcome"])
            # Confirmation links are built with url_for, which needs a request context;
            # the service prefixes them with BASE_URL.
            stack.enter_context(current_app.test_request_context(base_url=config.base_url))
            on_row = (lambda n, o: writer.writerow([n, o.value])) if writer else None
            try:
                report = imports.import_csv(db.session, source, options, on_row=on_row,
                                            after_chunk=db.session.commit)
            except imports.ImportFileError as exc:
                db.session.rollback()
                accounts.audit(db.session, "subscribers.import_failed",
                               object_type="subscribers",
                               detail={"mode": options.mode.value, "error": exc.code,
                                       "via": "cli"})
                db.session.commit()
                raise click.ClickException(
                    f"{file.name}: could not read the file ({exc.code}) at row {exc.line}; the "
                    "chunks read before it were imported (once the file is fixed, run it again: "
                    "those rows count as already subscribed)"
                ) from exc
            accounts.audit(db.session, "subscribers.imported", object_type="subscribers",
                           detail={**report.audit_detail(), "via": "cli"})
            db.session.commit()
        if report.confirmations:
            _deliver_in_process()
        for outcome, count in sorted(report.counts.items()):
            click.echo(f"{outcome}: {count}")
        click.echo(f"rows: {report.rows}, added: {report.added}, "
                   f"confirmations queued: {report.confirmations}")
        if report.problems and report_path is None:
            shown = ", ".join(f"{n} ({o.value})" for n, o in report.problems[:20])
            click.echo(f"rows not added: {shown}"
                       + (" …" if len(report.problems) > 20 else ""))
