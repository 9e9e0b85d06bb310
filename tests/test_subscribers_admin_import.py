"""CSV import (page, command and service) and CSV export of subscribers."""

from __future__ import annotations

import csv
import io
import itertools
import re
import threading
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select, text

from campaign.admin.models import Approval, AuditEvent, Role
from campaign.db import utcnow
from campaign.extensions import db
from campaign.mail.models import OutgoingMessage
from campaign.mail.services import STALE_PENDING, due_ids
from campaign.subscribers import imports, queries
from campaign.subscribers import services as subs
from campaign.subscribers.models import Consent, Status, Subscriber, SuppressionReason
from tests.admin_support import Account, csrf, make_account, row_counts, signed_in
from tests.conftest import wait_for_jobs
from tests.test_subscribers_admin import add_case, add_subscriber, upload_csv

FORMULAS = ("=cmd|' /C calc'!A0", "+1", "-1", "@x", "\t=1+1")


@pytest.fixture
def organiser(app: Flask) -> Account:
    return make_account(app, role=Role.ORGANISER)


@pytest.fixture
def signed(app: Flask, organiser: Account) -> FlaskClient:
    return signed_in(app, organiser)


def subscriber(app: Flask, address: str) -> Subscriber | None:
    with app.app_context():
        found = subs.find(db.session, address)
        if found is not None:
            db.session.expunge(found)
        return found


# --- the report ------------------------------------------------------------------------------


def test_the_report_names_each_row_s_outcome_and_never_re_adds_suppressed_people(
        app: Flask, signed: FlaskClient) -> None:
    case_id, case_pid = add_case(app, "Case A")
    add_subscriber(app, "already@example.org")
    add_subscriber(app, "left@example.org", status=Status.UNSUBSCRIBED)
    with app.app_context():
        subs.unsubscribe(db.session, subs.find(db.session, "left@example.org"), "test")  # type: ignore[arg-type]
        subs.suppress(db.session, subs.email_index("erased@example.org"),
                      SuppressionReason.ERASED)
        db.session.commit()
    rows = [
        "email,name,language,cases,phone",  # an unknown column is ignored
        f"new@example.org,New Person,ru,{case_pid},+7 000",  # 2 ok-attested
        "not-an-address,Someone,en,,",  # 3 invalid-address
        "NEW@Example.org,Again,en,,",  # 4 duplicate (same normalised address)
        "already@example.org,,,,",  # 5 already-subscribed
        "left@example.org,,,,",  # 6 suppressed (unsubscribed)
        "Erased@Example.org,,,,",  # 7 suppressed (erased)
        "lang@example.org,,fr,,",  # 8 invalid-language
        "case@example.org,,,nosuchcase,",  # 9 invalid-case
        f"long@example.org,{'x' * 201},,,",  # 10 invalid-name
        "\"formula@example.org\",\"=cmd|' /C calc'!A0\",tg,,",  # 11 ok: stored as written
        ",,,,",  # blank: skipped
    ]
    page = upload_csv(signed, "\r\n".join(rows) + "\r\n")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "new@example.org" not in html  # the report never repeats a cell
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 4
    report_rows = {
        int(n): why for n, why in re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td></tr>", html)}
    assert report_rows == {
        3: "invalid address", 4: "duplicate: the address appears earlier in the file",
        5: "already subscribed", 8: "unknown language", 9: "unknown case",
        10: "name too long",
        6: report_rows[6], 7: report_rows[7]}
    assert report_rows[6].startswith("suppressed") and report_rows[7].startswith("suppressed")
    left, erased = subscriber(app, "left@example.org"), subscriber(app, "erased@example.org")
    assert left is not None and left.status == Status.UNSUBSCRIBED and erased is None
    new = subscriber(app, "new@example.org")
    assert new is not None and new.status == Status.ACTIVE and new.locale == "ru"
    assert not new.all_alerts
    with app.app_context():
        new = subs.find(db.session, "new@example.org")
        assert new is not None and new.followed_case_ids == {case_id}
        formula = subs.find(db.session, "formula@example.org")
        assert formula is not None and subs.name_of(formula) == "=cmd|' /C calc'!A0"


def test_suppressed_addresses_are_refused_in_opt_in_mode_too(app: Flask) -> None:
    with app.app_context():
        subs.suppress(db.session, subs.email_index("gone@example.org"),
                      SuppressionReason.UNSUBSCRIBED)
        options = imports.ImportOptions(imports.Mode.OPT_IN)
        with app.test_request_context():
            report = imports.import_csv(db.session, ["email\n", "gone@example.org\n"], options)
        db.session.commit()
        assert report.counts == {"suppressed": 1} and report.confirmations == 0
        assert db.session.scalar(select(func.count()).select_from(OutgoingMessage)) == 0


def test_attested_rows_are_active_with_the_attestation_as_consent(
        app: Flask, signed: FlaskClient) -> None:
    page = upload_csv(signed, "email;name\nann@example.org;Ann\n", source="march petition",
                      day="2026-03-01")  # a semicolon file, as Russian spreadsheets write
    assert page.status_code == 200
    with app.app_context():
        ann = subs.find(db.session, "ann@example.org")
        assert ann is not None and ann.status == Status.ACTIVE and ann.source == "import"
        consent = db.session.scalars(select(Consent).where(Consent.subscriber_id == ann.id)).one()
        assert consent.form == "import-attested"
        assert consent.text_version == "march petition 2026-03-01"
        assert consent.at.date() == date(2026, 3, 1)
        assert db.session.scalar(select(func.count()).select_from(OutgoingMessage)) == 0


def test_opt_in_sends_exactly_one_confirmation_per_address(
        app: Flask, signed: FlaskClient) -> None:
    from workers.mail import transport

    text = ("email,language\n"
            "one@example.org,tg\n"
            "One@example.org,en\n"  # duplicate in the file
            "two.person@gmail.com,ru\n"
            "twoperson@gmail.com,ru\n"  # another address, same mailbox: no second mail today
            "three@example.org,\n")
    page = upload_csv(signed, text, mode="opt-in", language="ru")
    assert page.status_code == 200
    assert "3 confirmation emails queued." in page.get_data(as_text=True)
    wait_for_jobs(app)
    with app.app_context():
        sent = sorted(to for _from, to, _data in transport().outbox)
        three = subs.find(db.session, "three@example.org")
        assert three is not None and three.status == Status.PENDING and three.locale == "ru"
    assert sent == ["one@example.org", "three@example.org", "two.person@gmail.com"]
    again = upload_csv(signed, text, mode="opt-in")  # the same file twice: nothing new
    assert "0 confirmation emails queued." in again.get_data(as_text=True)
    wait_for_jobs(app)
    with app.app_context():
        assert len(transport().outbox) == 3


def test_one_lookup_query_per_chunk(app: Flask) -> None:
    statements: list[str] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda *args: statements.append(args[2]))
        lines = ["email\n"] + [f"p{i}@example.org\n" for i in range(35)]
        options = imports.ImportOptions(imports.Mode.ATTEST, "test", date(2026, 1, 1),
                                        chunk_size=10)
        report = imports.import_csv(db.session, lines, options)
        db.session.commit()
    assert report.added == 35
    lookups = [s for s in statements if "FROM suppressions" in s]
    inserts = [s for s in statements if s.startswith("INSERT INTO subscribers")]
    assert len(lookups) == 4 and len(inserts) == 4


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe\x00e\x00m", "not UTF-8"),
    (b"name,language\nAnn,en\n", "at least"),
    (b"email\n\"unclosed@example.org\n", "not valid CSV"),
])
def test_an_unreadable_file_imports_nothing(app: Flask, signed: FlaskClient, content: bytes,
                                            message: str) -> None:
    before = row_counts(app)
    token = csrf(signed, "/admin/subscribers/import")
    response = signed.post("/admin/subscribers/import", content_type="multipart/form-data",
                           data={"csrf_token": token, "mode": "opt-in", "language": "en",
                                 "file": (io.BytesIO(content), "x.csv")})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert "Reading stopped at row" in response.get_data(as_text=True)
    assert row_counts(app) == before


def test_attesting_needs_a_source_and_a_past_date(app: Flask, signed: FlaskClient) -> None:
    assert upload_csv(signed, "email\na@example.org\n", source="").status_code == 400
    assert upload_csv(signed, "email\na@example.org\n", day="2999-01-01").status_code == 400
    assert subscriber(app, "a@example.org") is None


# --- the command -----------------------------------------------------------------------------


def test_the_command_imports_with_the_same_service_and_prints_counts_only(
        app: Flask, tmp_path: Path) -> None:
    from workers.mail import transport

    source = tmp_path / "list.csv"
    source.write_text("\ufeffemail,name\ncli@example.org,Cli Person\nbad,\n", encoding="utf-8")
    report = tmp_path / "report.csv"
    runner = app.test_cli_runner()
    result = runner.invoke(args=["campaign", "import-subscribers", str(source), "--attest",
                                 "old list", "--consent-date", "2025-12-01",
                                 "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "ok-attested: 1" in result.output and "invalid-address: 1" in result.output
    assert "cli@example.org" not in result.output and "Cli Person" not in result.output
    assert list(csv.reader(io.StringIO(report.read_text()))) == [
        ["row", "outcome"], ["2", "ok-attested"], ["3", "invalid-address"]]
    optin = tmp_path / "optin.csv"
    optin.write_text("email\nfresh@example.org\n", encoding="utf-8")
    result = runner.invoke(args=["campaign", "import-subscribers", str(optin), "--opt-in"])
    assert result.exit_code == 0, result.output
    assert "confirmations queued: 1" in result.output
    with app.app_context():
        assert [to for _f, to, _d in transport().outbox] == ["fresh@example.org"]
        actions = list(db.session.scalars(select(AuditEvent.action)))
    assert actions.count("subscribers.imported") == 2
    both = runner.invoke(args=["campaign", "import-subscribers", str(optin), "--opt-in",
                               "--attest", "x"])
    assert both.exit_code != 0 and "exactly one" in both.output


# --- the export ------------------------------------------------------------------------------


def test_csv_line_neutralises_formulas_and_quotes_correctly() -> None:
    line = imports.csv_line([*FORMULAS, 'a "quoted", value', "plain"])
    [cells] = list(csv.reader(io.StringIO(line)))
    assert cells == ["'=cmd|' /C calc'!A0", "'+1", "'-1", "'@x", "'\t=1+1",
                     'a "quoted", value', "plain"]


def test_export_is_streamed_neutralised_filtered_and_imports_again(
        app: Flask, signed: FlaskClient) -> None:
    _case, case_pid = add_case(app, "Case A")
    with app.app_context():
        case_id = queries.case_by_public_id(db.session, case_pid).id  # type: ignore[union-attr]
    for i, name in enumerate(FORMULAS[:4]):
        add_subscriber(app, f"f{i}@example.org", name=name, locale="ru", cases=(case_id,))
    add_subscriber(app, "-dash@example.org", name="Гулноза, \"Q\"", locale="ru")
    add_subscriber(app, "other@example.org", locale="tg")
    token = csrf(signed, "/admin/subscribers/")
    response = signed.post("/admin/subscribers/export",
                           data={"csrf_token": token, "language": "ru"})
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 5 and "other@example.org" not in text
    for row in rows:
        for value in row.values():
            assert not value or value[0] not in "=+-@\t\r", value
    names = {row["email"]: row["name"] for row in rows}
    assert names["f0@example.org"] == "'=cmd|' /C calc'!A0" and names["f2@example.org"] == "'-1"
    assert names["'-dash@example.org"] == "Гулноза, \"Q\""
    assert rows[0]["cases"] == case_pid
    with app.app_context():
        exported = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "subscribers.exported")).one()
        assert exported.detail == {"rows": 5}
        # The export imports again unchanged: every row is already subscribed.
        report = imports.import_csv(db.session, io.StringIO(text.lstrip("\ufeff")),
                                    imports.ImportOptions(imports.Mode.ATTEST, "x",
                                                          date(2026, 1, 1)))
        assert report.counts == {"already-subscribed": 5}


def test_export_needs_the_export_permission_and_a_second_person_where_configured(
        make_app: Callable[..., Flask]) -> None:
    app = make_app(REQUIRE_SECOND_APPROVAL="1")
    add_subscriber(app, "someone@example.org")
    first = signed_in(app, make_account(app, "first@example.org", Role.ORGANISER))
    token = csrf(first, "/admin/subscribers/")
    waiting = first.post("/admin/subscribers/export", data={"csrf_token": token})
    assert waiting.status_code == 302
    with app.app_context():
        approval = db.session.scalars(select(Approval)).one()
        assert approval.object_id == "*:*:*"
    second = signed_in(app, make_account(app, "second@example.org", Role.ORGANISER))
    token2 = csrf(second, "/admin/approvals")
    decided = second.post(f"/admin/approvals/{approval.public_id}/approve",
                          data={"csrf_token": token2})
    assert decided.status_code == 302
    done = first.post("/admin/subscribers/export", data={"csrf_token": token})
    assert done.status_code == 200 and "someone@example.org" in done.get_data(as_text=True)
    again = first.post("/admin/subscribers/export", data={"csrf_token": token})
    assert again.status_code == 302  # an approval is used once
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "subscribers.exported")) == 1


def test_export_is_refused_during_a_lockdown(app: Flask, signed: FlaskClient) -> None:
    from campaign.admin import lockdown

    with app.app_context():
        lockdown.set_setting(db.session, lockdown.LOCKDOWN, "on", None)
        db.session.commit()
    token = csrf(signed, "/admin/subscribers/")
    response = signed.post("/admin/subscribers/export", data={"csrf_token": token},
                           follow_redirects=True)
    assert "stopped during a lockdown" in response.get_data(as_text=True)


def test_the_service_on_both_engines(make_app: Callable[..., Flask], db_url: str) -> None:
    """Chunks, the array look-ups of PostgreSQL, repeats across chunks, suppression, opt-in."""
    from workers.mail import send_message, transport

    app = make_app(DATABASE_URL=db_url)
    add_subscriber(app, "already@example.org")
    with app.app_context():
        subs.suppress(db.session, subs.email_index("gone@example.org"),
                      SuppressionReason.COMPLAINED)
        db.session.commit()
        lines = ["email,name,language\n", "gone@example.org,,\n", "already@example.org,,\n"]
        lines += [f"bulk{i}@example.org,Имя {i},tg\n" for i in range(25)]
        lines += ["BULK3@example.org,,\n", "bulk24@example.org,,\n"]
        with app.test_request_context():
            report = imports.import_csv(db.session, lines, imports.ImportOptions(
                imports.Mode.OPT_IN, chunk_size=7), after_chunk=db.session.commit)
        assert report.counts == {"suppressed": 1, "already-subscribed": 1, "ok-new": 25,
                                 "duplicate": 2}
        assert [(n, o.value) for n, o in report.problems] == [
            (2, "suppressed"), (3, "already-subscribed"), (29, "duplicate"), (30, "duplicate")]
        assert db.session.scalar(select(func.count()).select_from(Consent).where(
            Consent.form == "import-opt-in")) == 25
    wait_for_jobs(app)
    # campaign.jobs enqueues on SQLAlchemy's after_commit, which also fires when a SAVEPOINT
    # is released: a job may start before the import commits and find its row not yet
    # committed. The ledger row stays pending, and the reconcile pass sends it; run that pass
    # as if a minute had gone by. (To fix in campaign/jobs.py; see the report of issue #3.)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutgoingMessage)) == 25
        later = utcnow() + STALE_PENDING * 2
        for message_id in due_ids(db.session, later):
            send_message(message_id)
        sent = [to for _f, to, _d in transport().outbox]
        assert sorted(sent) == sorted({f"bulk{i}@example.org" for i in range(25)})
        lines_out = list(imports.export_lines(db.session, queries.Filters(locale="tg"), 10))
    assert len([line for chunk in lines_out for line in chunk.splitlines()]) == 26


def test_a_bulk_load_keeps_postgresql_statistics_in_step(
        make_app: Callable[..., Flask], db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without statistics the planner scans the whole table for each chunk; with them it
    scales its estimate as the table grows, so one ANALYZE is enough."""
    monkeypatch.setattr(queries.Statistics, "MIN_ROWS", 200)
    app = make_app(DATABASE_URL=db_url)
    statements: list[str] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda *args: statements.append(args[2]))
        lines = ["email\n"] + [f"s{i}@example.org\n" for i in range(2000)]
        imports.import_csv(db.session, lines, imports.ImportOptions(
            imports.Mode.ATTEST, "test", date(2026, 1, 1), chunk_size=100))
        db.session.commit()
        analyses = [s for s in statements if s.startswith("ANALYZE")]
        assert len(analyses) == (1 if db_url.startswith("postgresql") else 0)
        if db_url.startswith("postgresql"):
            # 1,800 rows later the estimate has grown with the table, without another ANALYZE
            plan = db.session.execute(text("EXPLAIN SELECT * FROM subscribers")).scalar()
            assert plan is not None
            estimate = int(re.search(r"rows=(\d+)", plan).group(1))  # type: ignore[union-attr]
            assert estimate >= 1500, plan


def test_the_command_stops_at_an_unreadable_row_and_keeps_the_chunks_before(
        app: Flask, tmp_path: Path) -> None:
    source = tmp_path / "broken.csv"
    source.write_bytes(b"email\na@example.org\nb@example.org\nc@example.org\n\"broken\n")
    result = app.test_cli_runner().invoke(args=["campaign", "import-subscribers", str(source),
                                                "--attest", "x", "--consent-date", "2026-01-01",
                                                "--chunk-size", "2"])
    assert result.exit_code != 0 and "(csv) at row 5" in result.output
    assert subscriber(app, "a@example.org") is not None  # the first chunk was committed
    assert subscriber(app, "c@example.org") is None  # the chunk that failed was not
    with app.app_context():
        failed = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "subscribers.import_failed")).one()
        assert failed.detail == {"mode": "attest", "error": "csv", "via": "cli"}


def _read_ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "import-read-ahead"]


def test_the_read_ahead_thread_hands_over_items_in_order_then_the_error() -> None:
    closed: list[bool] = []

    def source() -> Iterator[int]:
        try:
            yield from range(5)
            raise imports.ImportFileError("csv", 7)
        finally:
            closed.append(True)

    got: list[int] = []
    with pytest.raises(imports.ImportFileError) as raised:
        for item in imports._read_ahead(source()):
            got.append(item)
    assert got == [0, 1, 2, 3, 4] and raised.value.line == 7
    assert closed == [True] and not _read_ahead_threads()


def test_a_failing_consumer_stops_the_read_ahead_thread_and_closes_the_file() -> None:
    closed: list[bool] = []

    def endless() -> Iterator[int]:
        try:
            yield from itertools.count()
        finally:
            closed.append(True)

    chunks = imports._read_ahead(endless())
    with pytest.raises(RuntimeError):
        try:
            for item in chunks:
                if item == 3:
                    raise RuntimeError("the database went away")
        finally:
            chunks.close()
    assert closed == [True] and not _read_ahead_threads()


def test_an_import_that_fails_in_the_database_leaves_no_thread_behind(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(imports, "_insert", broken)
    lines = ["email\n"] + [f"t{i}@example.org\n" for i in range(50)]
    with app.app_context(), pytest.raises(RuntimeError, match="disk full"):
        imports.import_csv(db.session, lines, imports.ImportOptions(
            imports.Mode.ATTEST, "test", date(2026, 1, 1), chunk_size=10))
    assert not _read_ahead_threads()
