"""Bench: a big send while the public site is in use (RELIABILITY 19).

    .venv/bin/python bench/under_load.py [--n 50000] [--rate 1000]

Sets up the production shape on this machine: a fresh PostgreSQL database (dropped at the
end), a private redis-server, the site under gunicorn (two sync workers), two RQ worker
processes and an aiosmtpd sink in its own process that counts messages per second. Demo
cases and actions are seeded and N subscribers added. Then:

1. the ceiling: a visitor's pages (home, case list, sign-up form, an action) are fetched one
   after another for a few seconds on the idle site, and their latency recorded;
2. an alert to all N subscribers is sent with ``SEND_RATE=--rate``, and the same pages are
   fetched for the whole send.

It prints the latencies (median and 95th percentile) idle and under the send, the highest
rate the sink saw over any one and any five seconds against the configured rate (a token
bucket lets one second's worth through as a burst), and Redis memory before, at the peak and
after the send. It checks that every subscriber got exactly one message, that no page answer
was an error, that the rate was never exceeded and that Redis memory came back to within
1 MiB of where it started. The last line is ``ratio=<idle p95 / p95 under the send>``
(goal: at least 0.5, that is pages at most twice as slow while the send runs).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import fanout  # noqa: E402 - the sibling bench's helpers

PAGES = ("/en/", "/ru/cases/", "/tg/subscribe", "/en/actions/demo-letter")


# --- the sink, run as its own process: under_load.py --sink PORT FILE -------------------------


def serve_sink(port: int, out: Path) -> None:
    per_second: Counter[int] = Counter()
    recipients: Counter[str] = Counter()

    def counted(envelope: Any) -> None:
        per_second[int(time.time())] += 1
        recipients.update(envelope.rcpt_tos)

    fanout.run_sink(port, counted)
    out.write_text(json.dumps({"per_second": per_second, "recipients": len(recipients),
                               "most_to_one": max(recipients.values(), default=0),
                               "total": sum(per_second.values())}))


# --- measuring ---------------------------------------------------------------------------------


def fetch_pages(base: str, until: threading.Event, latencies: list[float],
                errors: list[str]) -> None:
    """One visitor: the pages one after another, as fast as they come, until told to stop."""
    while not until.is_set():
        for path in PAGES:
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(base + path, timeout=30) as response:
                    response.read()
                    if response.status != 200:
                        errors.append(f"{path}: {response.status}")
            except OSError as exc:
                errors.append(f"{path}: {exc}")
            latencies.append(time.perf_counter() - started)


def redis_memory(url: str) -> int:
    from redis import Redis

    connection = Redis.from_url(url)
    try:
        return int(connection.info("memory")["used_memory"])
    finally:
        connection.close()


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def worst_window(per_second: dict[int, int], width: int) -> int:
    if not per_second:
        return 0
    first, last = min(per_second), max(per_second)
    return max(sum(per_second.get(t, 0) for t in range(start, start + width))
               for start in range(first, last + 1))


def start_web(env: dict[str, str], port: int, directory: Path) -> subprocess.Popen[bytes]:
    log = (directory / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py",
         "-b", f"127.0.0.1:{port}", "-w", "2", "campaign:create_app()"],
        env=env, cwd=str(fanout.ROOT), stdout=log, stderr=subprocess.STDOUT)
    log.close()
    fanout.wait_port(port, timeout=30)
    return process


def run(n: int, rate: int, idle_seconds: float, directory: Path) -> float:
    from campaign import create_app
    from campaign.cli import demo_seeders
    from campaign.extensions import db
    from config import load_config

    keys = {"SECRET_KEY": fanout.key(), "LINK_KEY": fanout.key(), "DATA_KEYS": fanout.key(),
            "INDEX_KEY": fanout.key()}
    sink_port, web_port = fanout.free_port(), fanout.free_port()
    counts_file = directory / "sink.json"
    with fanout.fresh_database() as database, fanout.private_redis(directory) as redis_url:
        base = f"http://127.0.0.1:{web_port}"
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")},
               **keys, "DATABASE_URL": database, "REDIS_URL": redis_url, "JOB_RUNNER": "rq",
               "SMTP_URL": f"smtp://127.0.0.1:{sink_port}", "SEND_RATE": str(rate),
               "BASE_URL": base, "INSTANCE_PATH": str(directory / "instance"),
               "RATE_LIMITS": "0", "PYTHONPATH": str(fanout.ROOT)}
        app = create_app(load_config(env))
        with app.app_context():
            db.create_all()
            for seed in demo_seeders():
                seed()
                db.session.commit()
        fanout.add_subscribers(app, n)
        alert_id = fanout.make_alert(app, short=True)
        fanout.settle(app)
        sink = subprocess.Popen([sys.executable, __file__, "--sink", str(sink_port),
                                 str(counts_file)])
        fanout.wait_port(sink_port)
        web = start_web(env, web_port, directory)
        workers = fanout.start_workers(env, 2, directory, "load")
        try:
            fanout.wait_workers_ready(redis_url, 2)
            for path in PAGES:  # warm every gunicorn worker's caches
                for _ in range(4):
                    urllib.request.urlopen(base + path, timeout=30).read()
            idle: list[float] = []
            errors: list[str] = []
            stop = threading.Event()
            visitor = threading.Thread(target=fetch_pages, args=(base, stop, idle, errors))
            visitor.start()
            time.sleep(idle_seconds)
            stop.set()
            visitor.join()
            memory_before = redis_memory(redis_url)
            loaded: list[float] = []
            stop = threading.Event()
            visitor = threading.Thread(target=fetch_pages, args=(base, stop, loaded, errors))
            visitor.start()
            fanout.send(app, alert_id)
            peak = [memory_before]

            def watch() -> None:
                while not stop.is_set():
                    peak.append(redis_memory(redis_url))
                    time.sleep(0.5)

            watcher = threading.Thread(target=watch)
            watcher.start()
            seconds = fanout.wait_sent(app, alert_id, n, timeout=n / rate * 3 + 120)
            stop.set()
            visitor.join()
            watcher.join()
            time.sleep(1)
            memory_after = redis_memory(redis_url)
        finally:
            fanout.stop_workers(workers)
            web.send_signal(signal.SIGTERM)
            web.wait(30)
            sink.send_signal(signal.SIGTERM)
            sink.wait(30)
        counts = json.loads(counts_file.read_text())
        per_second = {int(k): v for k, v in counts["per_second"].items()}
        print(f"send of {n:,} at SEND_RATE={rate}/s: {seconds:.1f} s, "
              f"{n / seconds:,.0f} msg/s on average")
        one, five = worst_window(per_second, 1), worst_window(per_second, 5)
        print(f"  sink: {counts['total']:,} messages to {counts['recipients']:,} recipients "
              f"(at most {counts['most_to_one']} to one); busiest second {one}, "
              f"busiest five seconds {five} (allowed {rate * 2} and {rate * 6})")
        print(f"  pages idle:       median {statistics.median(idle) * 1000:6.1f} ms, "
              f"p95 {percentile(idle, 95) * 1000:6.1f} ms ({len(idle)} fetches)")
        print(f"  pages under send: median {statistics.median(loaded) * 1000:6.1f} ms, "
              f"p95 {percentile(loaded, 95) * 1000:6.1f} ms ({len(loaded)} fetches)")
        print(f"  Redis memory: {memory_before / 2**20:.2f} MiB before, "
              f"{max(peak) / 2**20:.2f} MiB at the peak, {memory_after / 2**20:.2f} MiB after")
        assert counts["total"] == counts["recipients"] == n and counts["most_to_one"] == 1
        assert not errors, errors[:5]
        assert one <= rate * 2 and five <= rate * 6, "the configured rate was exceeded"
        assert memory_after - memory_before < 2**20, "Redis memory did not come back"
        return percentile(idle, 95) / percentile(loaded, 95)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--sink":
        serve_sink(int(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as directory:
        ratio = run(args.n, args.rate, args.idle_seconds, Path(directory))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print(f"ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
