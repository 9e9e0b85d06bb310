"""Bench: the CSV import of N subscribers into PostgreSQL against a COPY of the same rows.

    .venv/bin/python bench/import.py [--n 100000] [--chunk 2000] [--url postgresql://...]

Creates a fresh database on the server (dropped at the end), builds the real app on it and
imports N generated rows (valid, unique addresses; names in Latin, Cyrillic and Tajik;
attested mode) through ``campaign.subscribers.imports.import_csv``, committing per chunk as
the CLI does. Then, in the same run, it COPYs the final rows the import wrote (read back
first, so only the COPY is timed) with psycopg's ``copy`` into identical empty tables: that is
the ceiling for loading these rows from Python. The import writes two rows per person: the
encrypted subscriber and its consent record (a foreign key to it). Two ceilings are timed:

* the subscriber rows alone;
* the same final rows: the subscribers, then their consents (with the same foreign key).

Memory: the import runs at N/5 and at N; for each the peak of Python allocations
(tracemalloc, in a separate traced run, since tracing slows allocation) and the process's
maximum resident size after the untraced run (ru_maxrss, which only grows) are printed. Flat
memory means the figures at N are close to those at N/5. Each COPY is timed three times and
the best run kept; the load average is printed, since other work on the machine skews rates.

Both ratios are printed; the last line is exactly ``ratio=<import rate / COPY rate of the
same final rows>`` (goal: at least 0.3).
"""

from __future__ import annotations

import argparse
import base64
import gc
import os
import resource
import secrets
import signal
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
from flask import Flask
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from campaign import create_app
from campaign.extensions import db
from campaign.subscribers import imports
from config import load_config

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TABLES = "subscribers, subscriber_follows, consents, subscriber_events"
NAMES = ("Anna Smith", "Гулноза Раҳимова", "Иван Петров", "Фарҳод Қодиров", "")
LANGS = ("en", "ru", "tg", "ru", "tg")


def csv_lines(n: int, salt: str) -> Iterator[str]:
    """A generated file, one line at a time (never held whole in memory)."""
    yield "email,name,language,cases\r\n"
    for i in range(n):
        k = i % 5
        yield f"Supporter.{salt}{i}@Example{i % 97}.org,{NAMES[k]},{LANGS[k]},\r\n"


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def make_app(url: str, instance: Path) -> Flask:
    return create_app(load_config({
        "TESTING": "1", "INSTANCE_PATH": str(instance), "DATABASE_URL": url,
        "SMTP_URL": "memory://", "BASE_URL": "http://127.0.0.1:5000",
        "SECRET_KEY": secrets.token_urlsafe(32), "LINK_KEY": secrets.token_urlsafe(32),
        "DATA_KEYS": _key(), "INDEX_KEY": _key(),
    }))


def run_import(n: int, chunk: int, traced: bool) -> tuple[float, int]:
    """(seconds, tracemalloc peak in bytes or 0) for one import of n rows into empty tables."""
    db.session.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    db.session.commit()
    gc.collect()
    options = imports.ImportOptions(imports.Mode.ATTEST, "bench", date(2026, 1, 1),
                                    chunk_size=chunk)
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    report = imports.import_csv(db.session, csv_lines(n, uuid.uuid4().hex[:6]), options,
                                after_chunk=db.session.commit)
    seconds = time.perf_counter() - started
    peak = 0
    if traced:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert report.added == n, report.counts
    return seconds, peak


def _copy_table(conn: psycopg.Connection, target: str, rows: list[tuple[object, ...]],
                columns: str) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _read(conn: psycopg.Connection, table: str) -> tuple[list[tuple[object, ...]], str]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {table} ORDER BY id")
        return cur.fetchall(), ", ".join(d.name for d in cur.description or ())


def run_copy(conn: psycopg.Connection, tables: tuple[str, ...],
             rounds: int = 3) -> tuple[int, float]:
    """COPY the rows of ``tables`` (in this order) into their identical empty ``_copy``
    twins; (rows of the first table, best seconds of ``rounds``: on a shared machine the best
    run is the least disturbed one)."""
    read = {table: _read(conn, table) for table in tables}
    best = float("inf")
    for _ in range(rounds):
        conn.execute("TRUNCATE subscribers_copy, consents_copy")
        conn.commit()
        started = time.perf_counter()
        for table in tables:
            rows, columns = read[table]
            _copy_table(conn, f"{table}_copy", rows, columns)
        conn.commit()
        best = min(best, time.perf_counter() - started)
    with conn.cursor() as cur:
        for table in tables:
            cur.execute(f"SELECT count(*) FROM (SELECT * FROM {table} EXCEPT "
                        f"SELECT * FROM {table}_copy) AS missing")
            missing = cur.fetchone()
            assert missing is not None and missing[0] == 0, f"the copy of {table} differs"
    return len(read[tables[0]][0]), best


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=imports.CHUNK)
    parser.add_argument("--url", default=ADMIN_URL, help="a PostgreSQL server's admin URL")
    args = parser.parse_args()
    # A SIGTERM still drops the database (the ``finally`` below runs on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    small = max(args.n // 5, 1)
    name = f"campaign_bench_{uuid.uuid4().hex[:10]}"
    server = args.url.rsplit("/", 1)[0]
    with psycopg.connect(args.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as instance:
            app = make_app(f"postgresql+psycopg://{server.split('://', 1)[1]}/{name}",
                           Path(instance))
            with app.app_context():
                db.create_all()
                db.session.execute(text(
                    "CREATE TABLE subscribers_copy (LIKE subscribers INCLUDING ALL)"))
                db.session.execute(text(
                    "CREATE TABLE consents_copy (LIKE consents INCLUDING ALL, FOREIGN KEY "
                    "(subscriber_id) REFERENCES subscribers_copy (id) ON DELETE SET NULL)"))
                db.session.commit()
                print(f"import of {small:,} and {args.n:,} rows, chunks of {args.chunk} "
                      f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
                results = {}
                for n in (small, args.n):
                    seconds, _ = run_import(n, args.chunk, traced=False)
                    results[n] = (n / seconds, maxrss_mib())
                    print(f"  n={n:>9,}  import {n / seconds:>9,.0f} rows/s "
                          f"({seconds:.2f} s)  max RSS after {results[n][1]:.1f} MiB")
                with psycopg.connect(f"{server}/{name}") as conn:
                    rows, alone = run_copy(conn, ("subscribers",))
                    _rows, both = run_copy(conn, ("subscribers", "consents"))
                print(f"  COPY of the same {rows:,} subscriber rows: {rows / alone:,.0f} rows/s "
                      f"({alone:.2f} s, best of 3)")
                print(f"  COPY of the same final rows ({rows:,} subscribers and their "
                      f"consents): {rows / both:,.0f} subscribers/s ({both:.2f} s, best of 3)")
                copy_rate = rows / both
                peaks = {n: run_import(n, args.chunk, traced=True)[1] for n in (small, args.n)}
                for n, peak in peaks.items():
                    print(f"  n={n:>9,}  peak Python allocations (tracemalloc) "
                          f"{peak / 2**20:.1f} MiB")
                db.session.remove()
                db.engine.dispose()
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print(f"ratio against the subscriber rows alone: {results[args.n][0] * alone / rows:.3f}")
    print(f"ratio={results[args.n][0] / copy_rate:.3f}")


if __name__ == "__main__":
    main()
