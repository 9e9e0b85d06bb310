"""Letters to institutions: claim (committed), build and record the ledger row as submitting
(committed), send, record the answer (committed). At most once: a crash after the data may
have gone leaves the letter for review, never sent again by itself."""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app

from campaign import jobs
from campaign.actions import delivery, digests, signing
from campaign.actions.models import Digest, LetterDelivery
from campaign.db import utcnow
from campaign.extensions import db
from campaign.mail import services as mail
from workers.mail import transport

log = logging.getLogger(__name__)


def send_letter(delivery_id: int) -> str:
    return run_delivery(delivery_id, utcnow())


def run_delivery(delivery_id: int, now: dt.datetime) -> str:
    session = db.session
    state = delivery.claim(session, delivery_id, now)
    session.commit()
    if state != "claimed":
        return state
    row = session.get(LetterDelivery, delivery_id)
    if row is None:  # pragma: no cover - the claim just saw it
        return "missing"
    try:
        started = delivery.start(session, row, now)
    except Exception as exc:
        session.rollback()
        log.exception("letter delivery %s could not be built", row.public_id)
        delivery.fail_render(session, row, f"render: {exc.__class__.__name__}", now)
        session.commit()
        return "render-failed"
    session.commit()  # the ledger row is "submitting" before any data goes out
    if started is None:
        return "held"
    message, data = started
    config = current_app.extensions["campaign.config"]
    with transport().connect() as connection:
        result = connection.send(config.return_path, mail.recipient(message), data)
    status = delivery.finish(session, row, message, result, now)
    session.commit()
    log.info("letter delivery %s: %s %s", row.public_id, result.outcome, result.code)
    return status


def send_digest(digest_id: int) -> str:
    return run_digest(digest_id, utcnow())


def run_digest(digest_id: int, now: dt.datetime) -> str:
    session = db.session
    state = digests.claim(session, digest_id, now)
    session.commit()
    if state != "claimed":
        return state
    digest = session.get(Digest, digest_id)
    if digest is None:  # pragma: no cover
        return "missing"
    started = digests.start(session, digest, now)
    session.commit()
    if started is None:
        return "held"
    message, data = started
    config = current_app.extensions["campaign.config"]
    with transport().connect() as connection:
        result = connection.send(config.return_path, mail.recipient(message), data)
    status = digests.finish(session, digest, message, result, now)
    session.commit()
    log.info("digest %s: %s %s", digest.public_id, result.outcome, result.code)
    return status


def reconcile_letters(now: dt.datetime | None = None) -> dict[str, int]:
    """Called by workers.maintenance.reconcile: recover dead workers' letters, expire
    unconfirmed ones, draft finished digests, release held letters, enqueue what is due."""
    session = db.session
    now = now or utcnow()
    recovered = delivery.recover(session, now) + digests.recover(session, now)
    session.commit()
    purged = signing.purge_unconfirmed(session, now)
    session.commit()
    drafted = len(digests.prepare(session, now))
    session.commit()
    released = len(delivery.release_held(session, now))
    session.commit()
    due = delivery.due_ids(session, now)
    due_digests = digests.due_ids(session, now)
    session.commit()
    for delivery_id in due:
        jobs.enqueue_now(jobs.letter_job(delivery_id))
    for digest_id in due_digests:
        jobs.enqueue_now(jobs.digest_job(digest_id))
    counts = {"recovered": recovered, "purged": purged, "drafted": drafted,
              "released": released, "enqueued": len(due) + len(due_digests)}
    if any(counts.values()):
        log.info("letters: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts
