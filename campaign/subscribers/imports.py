"""CSV import and export of subscribers: the rules behind the admin pages and the CLI.

Import. Columns ``email`` (required), ``name``, ``language``, ``cases`` (case public ids,
separated by spaces, commas or semicolons), in any order; other columns are ignored (we keep
the least data). A comma or semicolon delimiter is recognised from the header (spreadsheets
in Russian locales write semicolons). Each row gets one :class:`Outcome`. The organiser
chooses a :class:`Mode`:

* ``attest``: the organiser attests these people already consented (a source and a date);
  rows are created active, each with a ``Consent(form="import-attested")`` whose
  ``text_version`` is the attestation label.
* ``opt-in``: rows are created pending and each is sent the double opt-in confirmation
  (``services.send_confirmation``), at most one per folded address per day.

An address on the suppression list (unsubscribed, bounced, complained, erased) is never added
back, in either mode: only the person's own new double opt-in can undo a suppression, and an
import must not mail someone who left.

Rows are handled in chunks. A helper thread reads, checks, normalises, indexes and encrypts
the next chunk (and builds its COPY lines) while the session's connection loads this one.
One query looks up the chunk's blind indexes in the subscribers and the suppression list;
new rows are written in bulk, pre-encrypted (on PostgreSQL with COPY, their ids from the
column default; elsewhere one executemany INSERT), and their consents and follows are made
from the rows just written, found by index. No ORM object is made per row except to send
opt-in mail. Memory does not grow with the file: at most three chunks are held, the report
keeps counts and the first ``REPORT_LIMIT`` problem rows, and a repeat of an address across
chunks is recognised in the database (rows this import created carry its exact
``created_at``), not with an in-memory set.

Export writes the same columns (plus status and dates), streamed in batches, every cell passed
through ``neutralise_csv_cell`` and quoted by the csv module. A cell this export prefixed with
``'`` is read back without it, so an export imports again unchanged.
"""

from __future__ import annotations

import csv
import io
import itertools
import queue
import re
import threading
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, insert, literal, select

from campaign.addresses import AddressError, normalise
from campaign.db import SessionLike, public_id, utcnow
from campaign.extensions import blind_index, cipher
from campaign.i18n import LOCALES
from campaign.subscribers import queries
from campaign.subscribers import services as subs
from campaign.subscribers.models import (
    ConfirmationSlot,
    Consent,
    Follow,
    Status,
    Subscriber,
)
from campaign.text import neutralise_csv_cell, strip_controls

CHUNK = 2000
REPORT_LIMIT = 500
SOURCE_MAX = 21  # the label is "<source> <YYYY-MM-DD>" in Consent.text_version (32)
COLUMNS = ("email", "name", "language", "cases")
EXPORT_COLUMNS = (*COLUMNS, "status", "subscribed_at", "confirmed_at")
_CASE_SPLIT = re.compile(r"[\s,;]+")
T = TypeVar("T")
_GONE = frozenset({Status.UNSUBSCRIBED.value, Status.BOUNCED.value, Status.COMPLAINED.value})


class Mode(StrEnum):
    ATTEST = "attest"
    OPT_IN = "opt-in"


class Outcome(StrEnum):
    ADDED_ATTESTED = "ok-attested"  # created active on the organiser's attestation
    ADDED = "ok-new"  # created pending; confirmation mail queued
    ADDED_NO_MAIL = "ok-throttled"  # created pending; a confirmation already went out today
    INVALID_ADDRESS = "invalid-address"
    INVALID_NAME = "invalid-name"
    INVALID_LANGUAGE = "invalid-language"
    INVALID_CASE = "invalid-case"
    DUPLICATE = "duplicate"  # the address appeared earlier in this file
    ALREADY_SUBSCRIBED = "already-subscribed"  # pending, active or paused already
    SUPPRESSED = "suppressed"  # left, bounced, complained or erased: never re-added


ADDED = frozenset({Outcome.ADDED_ATTESTED, Outcome.ADDED, Outcome.ADDED_NO_MAIL})


class ImportFileError(ValueError):
    """The file as a whole cannot be read: ``code`` is encoding, header or csv; ``line`` the
    spreadsheet row where reading stopped (rows before it were read)."""

    def __init__(self, code: str, line: int) -> None:
        super().__init__(f"{code} at row {line}")
        self.code = code
        self.line = line


@dataclass(frozen=True)
class ImportOptions:
    mode: Mode
    attest_source: str = ""
    attest_date: date | None = None
    default_locale: str = "en"
    chunk_size: int = CHUNK

    def __post_init__(self) -> None:
        if self.default_locale not in LOCALES:
            raise ValueError("unknown default language")
        if self.mode is Mode.ATTEST:
            source = strip_controls(self.attest_source)
            if not source or len(source) > SOURCE_MAX or self.attest_date is None:
                raise ValueError("an attestation needs a source (at most "
                                 f"{SOURCE_MAX} characters) and a date")
            if self.attest_date > utcnow().date():
                raise ValueError("the consent date is in the future")

    @property
    def label(self) -> str:
        """The attestation label stored as the consent's text version."""
        day = self.attest_date.isoformat() if self.attest_date else ""
        return f"{strip_controls(self.attest_source)} {day}"


@dataclass
class ImportReport:
    """Counts per outcome and the first ``REPORT_LIMIT`` rows that were not added (row
    number and outcome only: the report never repeats what a cell held)."""

    mode: Mode
    rows: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[int, Outcome]] = field(default_factory=list)
    problems_omitted: int = 0
    confirmations: int = 0

    def add(self, line: int, outcome: Outcome) -> None:
        self.rows += 1
        self.counts[outcome.value] += 1
        if outcome not in ADDED:
            if len(self.problems) < REPORT_LIMIT:
                self.problems.append((line, outcome))
            else:
                self.problems_omitted += 1

    @property
    def added(self) -> int:
        return sum(self.counts[o.value] for o in ADDED)

    def audit_detail(self) -> dict[str, Any]:
        """Numbers only, for the audit log."""
        return {"mode": self.mode.value, "rows": self.rows, "added": self.added,
                "confirmations": self.confirmations,
                "outcomes": dict(sorted(self.counts.items()))}


@dataclass(frozen=True)
class _Candidate:
    """A valid row, already sealed: its subscriber row's values (``_SUBSCRIBER_COLUMNS``)
    and, for PostgreSQL, the same row as a line of COPY text."""

    line: int
    index: bytes
    locale: str
    case_ids: tuple[int, ...]
    values: tuple[Any, ...]
    copy_line: bytes


Entry = tuple[int, "Outcome | _Candidate"]


# --- reading ---------------------------------------------------------------------------------


def _unneutralise(value: str) -> str:
    """Undo our own export's quote prefix: ``'=x`` was exported from ``=x``."""
    if value.startswith("'") and neutralise_csv_cell(value[1:]) != value[1:]:
        return value[1:]
    return value


def records(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(spreadsheet row number, {column: cell}) for each non-blank row after the header."""
    it = iter(lines)
    number = 0
    try:
        first = next(it, None)
        if first is None:
            raise ImportFileError("header", 1)
        delimiter = ";" if first.count(";") > first.count(",") else ","
        reader = csv.reader(itertools.chain([first], it), delimiter=delimiter, strict=True)
        header = [h.strip().lower() for h in next(reader)]
        named = [h for h in header if h in COLUMNS]
        if "email" not in named or len(set(named)) != len(named):
            raise ImportFileError("header", 1)
        wanted = [(i, h) for i, h in enumerate(header) if h in COLUMNS]
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            yield number, {h: _unneutralise(cells[i]) if i < len(cells) else ""
                           for i, h in wanted}
    except UnicodeDecodeError as exc:  # read in blocks: the row is approximate
        raise ImportFileError("encoding", max(number, 1)) from exc
    except csv.Error as exc:
        raise ImportFileError("csv", number + 1) from exc


class _Preparer:
    """Turns CSV records into chunks of entries: each row checked, its address normalised
    and indexed, its subscriber row encrypted (for every valid row, before the database says
    whether it is new: a duplicate costs a wasted encryption, a new row no wait). Needs no app
    context: the cipher and the index are taken once, so that it can run in a helper thread."""

    def __init__(self, options: ImportOptions, cases: dict[str, int], run_at: datetime,
                 copy_text: bool) -> None:
        self.options, self.cases, self.run_at, self.copy_text = options, cases, run_at, copy_text
        self.sealer, self.indexer = cipher(), blind_index()
        self.status = (Status.ACTIVE if options.mode is Mode.ATTEST else Status.PENDING).value
        # The rest of a COPY line, by (language, all alerts): the same few tails every time.
        stamp = run_at.isoformat()
        self.fixed = {(locale, every): "\t".join((
            locale, self.status, "t" if every else "f", "f", "1", "import", stamp, stamp,
        )).encode() + b"\n" for locale in LOCALES for every in (True, False)}

    def chunks(self, lines: Iterable[str]) -> Iterator[list[Entry]]:
        """Full chunks; a file error raises after the chunks before it (the partial chunk
        it interrupted is dropped, as the rows after it)."""
        chunk: list[Entry] = []
        for number, row in records(lines):
            chunk.append((number, self.entry(number, row)))
            if len(chunk) >= self.options.chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def entry(self, number: int, row: dict[str, str]) -> Outcome | _Candidate:
        try:
            address = normalise(row.get("email", ""))
        except AddressError:
            return Outcome.INVALID_ADDRESS
        try:
            name = subs.clean_name(row.get("name"))
        except subs.SubscriberError:
            return Outcome.INVALID_NAME
        locale = row.get("language", "").strip().lower() or self.options.default_locale
        if locale not in LOCALES:
            return Outcome.INVALID_LANGUAGE
        cell = row.get("cases", "").strip()
        wanted = [c for c in _CASE_SPLIT.split(cell) if c] if cell else []
        if any(c not in self.cases for c in wanted):
            return Outcome.INVALID_CASE
        case_ids = tuple(sorted({self.cases[c] for c in wanted}))
        pid = public_id()
        index = subs.email_index(address, self.indexer)
        sealed = subs.sealed_columns(pid, address, name, index, sealer=self.sealer,
                                     indexer=self.indexer)
        values = (pid, sealed["email_enc"], index, sealed["fold_index"], sealed["name_enc"],
                  locale, self.status, not case_ids, False, 1, "import", self.run_at,
                  self.run_at)
        return _Candidate(number, index, locale, case_ids, values,
                          self.copy_line(values) if self.copy_text else b"")

    def copy_line(self, values: tuple[Any, ...]) -> bytes:
        """The row in PostgreSQL's COPY text format. Every value is either bytes (written
        as ``\\\\x`` and hex), NULL (``\\N``), or text that holds no tab, newline or
        backslash by construction (hex public id, a known language and status, fixed words,
        an ISO timestamp), so nothing needs escaping."""
        pid, email, index, folded, name = values[:5]
        name_cell = b"\\\\x" + name.hex().encode() if name else b"\\N"
        return b"\t".join((
            pid.encode(), b"\\\\x" + email.hex().encode(), b"\\\\x" + index.hex().encode(),
            b"\\\\x" + folded.hex().encode(), name_cell,
            self.fixed[values[5], values[7]]))


def _read_ahead(items: Iterator[T], depth: int = 1) -> Generator[T, None, None]:
    """``items`` produced by a helper thread at most ``depth`` ahead of the consumer, so that
    the next chunk is read, checked and encrypted while the database works on this one.
    An exception in the thread is raised here, after the items before it; leaving the loop
    early (an error in the consumer) stops the thread."""
    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                box.put((kind, value), timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put("item", item):
                    return
        except Exception as exc:  # handed over, raised by the consumer
            put("error", exc)
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        put("done", None)

    thread = threading.Thread(target=produce, name="import-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            try:
                kind, value = box.get(timeout=1)
            except queue.Empty:
                if thread.is_alive():
                    continue
                try:  # it may have handed over its last item as it ended
                    kind, value = box.get_nowait()
                except queue.Empty:
                    raise RuntimeError("the import's read-ahead thread ended early") from None
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join()


# --- importing -------------------------------------------------------------------------------


def import_csv(session: SessionLike, lines: Iterable[str], options: ImportOptions, *,
               on_row: Callable[[int, Outcome], None] | None = None,
               after_chunk: Callable[[], None] | None = None) -> ImportReport:
    """Import the rows of a CSV text. Flushes, never commits (``after_chunk`` may, in a
    command that wants a transaction per chunk). Raises :class:`ImportFileError` when the
    file cannot be read; rows already handled are then in the session."""
    report = ImportReport(options.mode)
    run_at = utcnow()
    case_ids = {case.public_id: case.id for case, _label in queries.all_cases(session, "en")}
    statistics = queries.Statistics(session)
    postgres = session.get_bind().dialect.name == "postgresql"
    preparer = _Preparer(options, case_ids, run_at, copy_text=postgres)
    chunks = _read_ahead(preparer.chunks(lines))
    try:
        for chunk in chunks:
            added = report.added
            _import_chunk(session, chunk, options, run_at, report, on_row)
            statistics.inserted(report.added - added)
            if after_chunk is not None:
                after_chunk()
    finally:
        chunks.close()  # stops the read-ahead thread when a chunk failed
    return report


def _same_instant(stored: Any, run_at: datetime) -> bool:
    if isinstance(stored, str):  # a UNION on SQLite loses the column type
        stored = datetime.fromisoformat(stored)
    if not isinstance(stored, datetime):
        return False
    if stored.tzinfo is None:
        stored = stored.replace(tzinfo=UTC)
    return stored == run_at


def _import_chunk(session: SessionLike, chunk: list[Entry], options: ImportOptions,
                  run_at: datetime, report: ImportReport,
                  on_row: Callable[[int, Outcome], None] | None) -> None:
    candidates = [c for _n, c in chunk if isinstance(c, _Candidate)]
    known = queries.known_indexes(session, [c.index for c in candidates]) if candidates else {}
    outcomes: dict[int, Outcome] = {}
    new: list[_Candidate] = []
    seen: set[bytes] = set()
    for c in candidates:
        status, source, created = known.get(c.index, ("", None, None))
        if status == "suppressed" or status in _GONE:
            outcomes[c.line] = Outcome.SUPPRESSED
        elif c.index in seen or (status and source == "import"
                                 and _same_instant(created, run_at)):
            outcomes[c.line] = Outcome.DUPLICATE
        elif status:
            outcomes[c.line] = Outcome.ALREADY_SUBSCRIBED
        else:
            new.append(c)
        seen.add(c.index)
    if new:
        outcomes.update(_insert(session, new, options, run_at, report))
    for number, parsed in chunk:
        outcome = parsed if isinstance(parsed, Outcome) else outcomes[number]
        report.add(number, outcome)
        if on_row is not None:
            on_row(number, outcome)


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def _insert(session: SessionLike, new: list[_Candidate], options: ImportOptions,
            run_at: datetime, report: ImportReport) -> dict[int, Outcome]:
    """The new subscribers, then their follows and consents, found by index in the database.
    (No history event: the subscriber row itself says when and through which source it
    came.)"""
    if session.get_bind().dialect.name == "postgresql":
        _copy_subscribers(session, new)
    else:
        _insert_subscribers(session, new)
    indexes = [c.index for c in new]
    following = {c.index: c.case_ids for c in new if c.case_ids}
    if following:
        rows = session.execute(select(Subscriber.id, Subscriber.email_index).where(
            queries.among(session, Subscriber.email_index, list(following))))
        session.execute(insert(_table(Follow)), [
            {"subscriber_id": sid, "case_id": case_id}
            for sid, index in rows for case_id in following[bytes(index)]])
    if options.mode is Mode.ATTEST:
        assert options.attest_date is not None  # noqa: S101 - checked by ImportOptions
        consent_at = datetime.combine(options.attest_date, datetime.min.time(), tzinfo=UTC)
        form, version = "import-attested", options.label
    else:
        consent_at, form, version = run_at, "import-opt-in", subs.CONSENT_VERSION
    # One statement: the consent rows are made from the rows just written, in the database.
    session.execute(insert(_table(Consent)).from_select(
        ["subscriber_id", "at", "form", "text_version", "locale"],
        select(Subscriber.id, literal(consent_at, Consent.at.type), literal(form),
               literal(version), Subscriber.locale)
        .where(queries.among(session, Subscriber.email_index, indexes))))
    if options.mode is Mode.ATTEST:
        return {c.line: Outcome.ADDED_ATTESTED for c in new}
    return _send_confirmations(session, new, run_at, report)


_SUBSCRIBER_COLUMNS = ("public_id", "email_enc", "email_index", "fold_index", "name_enc",
                       "locale", "status", "all_alerts", "discreet", "link_version", "source",
                       "created_at", "updated_at")


def _copy_subscribers(session: SessionLike, new: list[_Candidate]) -> None:
    """PostgreSQL: the chunk's rows in one COPY, in the session's transaction, from the text
    the read-ahead thread prepared (ids from the column default). A unique violation (a
    concurrent sign-up of the same address) fails the chunk, as an INSERT would."""
    session.flush()
    driver: Any = session.connection().connection.driver_connection
    columns = ", ".join(_SUBSCRIBER_COLUMNS)
    with driver.cursor() as cur, cur.copy(
            f"COPY {_table(Subscriber).name} ({columns}) FROM STDIN") as copy:
        copy.write(b"".join(c.copy_line for c in new))


def _insert_subscribers(session: SessionLike, new: list[_Candidate]) -> None:
    """Other databases: one executemany of the prepared rows."""
    raw = {name: bindparam(name, type_=queries.RawBytes())
           for name in ("email_enc", "email_index", "fold_index", "name_enc")}
    session.execute(insert(_table(Subscriber)).values(raw),
                    [dict(zip(_SUBSCRIBER_COLUMNS, c.values, strict=True)) for c in new])


def _send_confirmations(session: SessionLike, new: list[_Candidate], run_at: datetime,
                        report: ImportReport) -> dict[int, Outcome]:
    """The double opt-in for each new row, through the same rules as the sign-up form: at
    most one confirmation per folded address per day (``take_daily_slot``)."""
    line_of = {c.index: c.line for c in new}
    ours = queries.among(session, Subscriber.email_index, list(line_of))
    rows = session.scalars(select(Subscriber).where(ours).order_by(Subscriber.id)).all()
    # Slots already taken today are looked up first, so that take_daily_slot's savepoint is
    # only rolled back in a race: a savepoint rollback also drops the jobs queued so far in
    # this transaction (campaign.jobs listens to after_rollback), leaving them to reconcile.
    taken = set(session.scalars(select(ConfirmationSlot.fold_index).where(
        queries.among(session, ConfirmationSlot.fold_index, [s.fold_index for s in rows]),
        ConfirmationSlot.day == run_at.date(), ConfirmationSlot.purpose == "confirm")))
    outcomes: dict[int, Outcome] = {}
    for subscriber in rows:
        line = line_of[subscriber.email_index]
        if subscriber.fold_index in taken or not subs.take_daily_slot(
                session, subscriber.fold_index, "confirm", run_at):
            outcomes[line] = Outcome.ADDED_NO_MAIL
            continue
        taken.add(subscriber.fold_index)
        subs.send_confirmation(session, subscriber, subscriber.locale)
        report.confirmations += 1
        outcomes[line] = Outcome.ADDED
    session.flush()
    return outcomes


# --- exporting -------------------------------------------------------------------------------


def csv_line(values: Sequence[str]) -> str:
    """One CSV line, every cell neutralised against formula injection, quoted as needed."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(
        [neutralise_csv_cell(v) for v in values])
    return buffer.getvalue()


def export_lines(session: SessionLike, filters: queries.Filters,
                 batch_size: int = 500) -> Iterator[str]:
    """The header and one line per matching subscriber, decrypted a batch at a time."""
    case_pids = {case.id: case.public_id for case, _label in queries.all_cases(session, "en")}
    yield csv_line(EXPORT_COLUMNS)
    for batch in queries.batches(session, filters, batch_size):
        yield "".join(csv_line(_export_row(s, case_pids)) for s in batch)


def _export_row(subscriber: Subscriber, case_pids: dict[int, str]) -> list[str]:
    return [
        subs.email_of(subscriber),
        subs.name_of(subscriber),
        subscriber.locale,
        " ".join(sorted(case_pids[i] for i in subscriber.followed_case_ids if i in case_pids)),
        subscriber.status,
        subscriber.created_at.isoformat(timespec="seconds"),
        subscriber.confirmed_at.isoformat(timespec="seconds") if subscriber.confirmed_at else "",
    ]
