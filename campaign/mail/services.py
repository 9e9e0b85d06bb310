"""Rules of the outgoing-mail ledger. These functions flush and never commit: the job or view
that calls them owns the transaction (see workers/mail.py for the claim/send/record steps)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from campaign import jobs
from campaign.addresses import normalise
from campaign.db import SessionLike, public_id
from campaign.extensions import blind_index, cipher
from campaign.mail.compose import OutgoingMail, build_message, dkim_sign, make_message_id
from campaign.mail.models import Kind, OutgoingMessage, Status
from campaign.mail.render import render_email
from campaign.mail.transport import SendResult, scrub
from config import Config

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
# Growing delays for 4.x.x replies; after the horizon a message expires.
RETRY_DELAYS = (60, 300, 900, 1800, 3600, 7200, 14400)
RETRY_HORIZON = timedelta(hours=48)
RELAY_PAUSE = timedelta(seconds=60)
STALE_PENDING = timedelta(seconds=60)
TABLE = "outgoing_messages"


def _config() -> Config:
    return current_app.extensions["campaign.config"]


def queue_message(
    session: SessionLike,
    *,
    template: str,
    to_address: str,
    locale: str,
    context: Mapping[str, Any],
    dedupe_key: str,
    kind: Kind = Kind.TRANSACTIONAL,
) -> OutgoingMessage:
    """Record one message in the ledger and enqueue its delivery after commit.

    Idempotent on ``dedupe_key``: the same key returns the row already recorded.
    """
    existing = session.scalar(
        select(OutgoingMessage).where(OutgoingMessage.dedupe_key == dedupe_key)
    )
    if existing is not None:
        return existing
    address = normalise(to_address)
    pid = public_id()
    row = OutgoingMessage(
        public_id=pid,
        kind=kind.value,
        template=template,
        dedupe_key=dedupe_key,
        locale=locale,
        to_enc=cipher().encrypt(address, table=TABLE, column="to", row=pid),
        to_index=blind_index().digest(address, purpose="email"),
        context_enc=cipher().encrypt(
            json.dumps(dict(context), ensure_ascii=False), table=TABLE, column="context", row=pid
        ),
        status=Status.PENDING.value,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # A concurrent request recorded the same message first.
        found = session.scalar(
            select(OutgoingMessage).where(OutgoingMessage.dedupe_key == dedupe_key)
        )
        if found is None:
            raise
        return found
    jobs.enqueue_send_message(session, row.id)
    return row


def recipient(row: OutgoingMessage) -> str:
    return cipher().decrypt(row.to_enc, table=TABLE, column="to", row=row.public_id)


def context_of(row: OutgoingMessage) -> dict[str, Any]:
    if row.context_enc is None:
        return {}
    data = cipher().decrypt(row.context_enc, table=TABLE, column="context", row=row.public_id)
    loaded: dict[str, Any] = json.loads(data)
    return loaded


def claim(session: SessionLike, message_id: int, now: datetime) -> bool:
    """Take a due pending row by conditional update. Only the winner may send it."""
    result = session.execute(
        update(OutgoingMessage)
        .where(
            OutgoingMessage.id == message_id,
            OutgoingMessage.status == Status.PENDING.value,
            or_(OutgoingMessage.next_attempt_at.is_(None), OutgoingMessage.next_attempt_at <= now),
        )
        .values(
            status=Status.CLAIMED.value,
            lease_until=now + LEASE,
            attempts=OutgoingMessage.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def defer(session: SessionLike, message_id: int, until: datetime) -> bool:
    """A pending row waits until ``until`` (the relay is paused): not an attempt."""
    result = session.execute(
        update(OutgoingMessage)
        .where(OutgoingMessage.id == message_id,
               OutgoingMessage.status == Status.PENDING.value,
               or_(OutgoingMessage.next_attempt_at.is_(None),
                   OutgoingMessage.next_attempt_at < until))
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def stable_message_id(row: OutgoingMessage) -> str:
    config = _config()
    return make_message_id(config.mail_domain, seed=row.public_id.encode(), key=config.link_key)


def compose(row: OutgoingMessage) -> bytes:
    """Render the row's template in its locale and build the bytes to send."""
    config = _config()
    rendered = render_email(row.template, row.locale, context_of(row))
    mail = OutgoingMail(
        from_name=config.mail_from_name,
        from_addr=config.mail_from,
        to_name="",
        to_addr=recipient(row),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=stable_message_id(row),
    )
    data = build_message(mail)
    if config.dkim_key_file and config.dkim_selector and config.dkim_domain:
        data = dkim_sign(
            data, config.dkim_selector, config.dkim_domain, config.dkim_key_file.read_bytes()
        )
    return data


def mark_submitting(row: OutgoingMessage, now: datetime) -> None:
    row.status = Status.SUBMITTING.value
    row.message_id = stable_message_id(row)
    row.lease_until = now + LEASE
    row.updated_at = now


def _retry_delay(attempts: int) -> timedelta:
    index = min(max(attempts - 1, 0), len(RETRY_DELAYS) - 1)
    return timedelta(seconds=RETRY_DELAYS[index])


def record_result(row: OutgoingMessage, result: SendResult, now: datetime) -> None:
    """Move a row on after the server's answer."""
    row.last_code = result.code
    # Scrubbed again here, whatever the transport did: no address is ever stored in clear.
    row.last_reply = scrub(result.reply) if result.reply else None
    row.lease_until = None
    row.updated_at = now
    outcome = result.outcome
    if outcome == "sent":
        row.status = Status.SENT.value
        row.sent_at = now
    elif outcome == "retry":
        next_at = now + _retry_delay(row.attempts)
        if next_at - row.created_at > RETRY_HORIZON:
            row.status = Status.EXPIRED.value
        else:
            row.status = Status.PENDING.value
            row.next_attempt_at = next_at
    elif outcome == "paused":
        # The relay, not the message, is the problem: try again later, attempt not counted.
        row.status = Status.PENDING.value
        row.attempts = max(row.attempts - 1, 0)
        row.next_attempt_at = now + RELAY_PAUSE
    elif outcome == "unknown":
        unknown_outcome(row, now)
    else:  # failed, policy
        row.status = Status.FAILED.value


def unknown_outcome(row: OutgoingMessage, now: datetime) -> None:
    """The data may have reached the server. Letters are at most once: an organiser decides.
    Everything else is sent again with the same Message-ID (one duplicate at most)."""
    if row.kind == Kind.LETTER.value:
        row.status = Status.REVIEW.value
    else:
        row.status = Status.PENDING.value
        row.next_attempt_at = now
    row.lease_until = None


def record_failure(row: OutgoingMessage, reason: str, now: datetime, max_attempts: int = 3) -> None:
    """A message that could not even be built (a broken template): retry a few times, then
    fail with the reason, so the rest of the queue goes on."""
    row.last_reply = scrub(reason)
    row.lease_until = None
    row.updated_at = now
    if row.attempts >= max_attempts:
        row.status = Status.FAILED.value
    else:
        row.status = Status.PENDING.value
        row.next_attempt_at = now + _retry_delay(row.attempts)


def recover_expired(session: SessionLike, now: datetime) -> int:
    """Rows whose worker died: claimed ones go back to pending; submitting ones have an unknown
    outcome. Returns how many rows were recovered."""
    rows = session.scalars(
        select(OutgoingMessage).where(
            OutgoingMessage.status.in_([Status.CLAIMED.value, Status.SUBMITTING.value]),
            OutgoingMessage.lease_until < now,
        )
    ).all()
    for row in rows:
        if row.status == Status.CLAIMED.value:
            row.status = Status.PENDING.value
            row.lease_until = None
            row.attempts = max(row.attempts - 1, 0)
        else:
            log.warning("message %s: outcome unknown after a crash", row.public_id)
            unknown_outcome(row, now)
    session.flush()
    return len(rows)


def due_ids(session: SessionLike, now: datetime, limit: int = 5000) -> list[int]:
    """Pending rows that are due and have waited long enough to count as lost or scheduled."""
    return list(
        session.scalars(
            select(OutgoingMessage.id)
            .where(
                OutgoingMessage.status == Status.PENDING.value,
                or_(
                    and_(
                        OutgoingMessage.next_attempt_at.is_(None),
                        OutgoingMessage.updated_at < now - STALE_PENDING,
                    ),
                    OutgoingMessage.next_attempt_at <= now,
                ),
            )
            .order_by(OutgoingMessage.id)
            .limit(limit)
        )
    )


def status_counts(session: SessionLike) -> dict[str, int]:
    rows = session.execute(
        select(OutgoingMessage.status, func.count()).group_by(OutgoingMessage.status)
    ).all()
    return {str(status): int(count) for status, count in rows}
