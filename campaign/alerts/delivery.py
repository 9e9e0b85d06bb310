"""The alert delivery ledger: fan-out, claims, outcomes, recovery. Functions flush, never commit;
the jobs in ``workers/alerts.py`` own the transactions (see there for the order of commits).

States (docs/ARCHITECTURE.md)::

    pending --claim--> claimed --before DATA--> submitting --250--> sent
    pending <-- 4xx (growing next_attempt_at), relay paused, alert paused
    failed (5.x.x; 5.1.x also suppressed) · expired (retry horizon) · cancelled
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Update, and_, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from campaign import jobs
from campaign.alerts import audience
from campaign.alerts.models import OPEN, Alert, AlertDelivery, AlertStatus, DeliveryStatus
from campaign.db import SessionLike, UTCDateTime, utcnow
from campaign.mail.transport import SendResult
from campaign.subscribers.models import RECEIVING, Subscriber, Suppression

log = logging.getLogger(__name__)

CHUNK: Final = 5000  # subscribers per INSERT … SELECT
BATCH: Final = 250  # deliveries per send_batch job
LEASE: Final = timedelta(minutes=5)
RETRY_DELAYS: Final = (60, 300, 900, 1800, 3600, 7200, 14400)
RETRY_HORIZON: Final = timedelta(hours=48)
RELAY_PAUSE: Final = timedelta(seconds=60)
MAX_RENDER_ATTEMPTS: Final = 3
# Work committed this recently may still be on its way to the queue (enqueued after commit).
QUIET: Final = timedelta(seconds=2)
P: Final = DeliveryStatus.PENDING.value
CLAIMED: Final = DeliveryStatus.CLAIMED.value
SUBMITTING: Final = DeliveryStatus.SUBMITTING.value
UNDER_WAY: Final = (AlertStatus.SENDING.value, AlertStatus.PAUSED.value,
                    AlertStatus.CANCELLED.value)


def _in_chunks(ids: Sequence[int], size: int = 1000) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _run(session: SessionLike, statement: Update) -> int:
    result = session.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


# --- fan-out -----------------------------------------------------------------------------------


def enqueue_batches(session: SessionLike, alert_id: int, ids: Sequence[int]) -> int:
    """After commit, one send_batch job per BATCH ids. Returns how many jobs."""
    count = 0
    for part in _in_chunks(list(ids), BATCH):
        jobs.enqueue_alert_batch(session, alert_id, tuple(part))
        count += 1
    return count


def _insert(session: SessionLike) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(AlertDelivery)
    if name == "sqlite":
        return sqlite.insert(AlertDelivery)
    raise RuntimeError(f"unsupported database {name}")  # pragma: no cover


def fan_out_step(session: SessionLike, alert: Alert, now: datetime) -> str:
    """Create the delivery rows of the next chunk of subscribers (one INSERT … SELECT) and
    enqueue their batches after commit. Returns "more", "done", or "lost" when another job
    moved the cursor first (roll back then: that job does this chunk)."""
    lo = alert.fanout_cursor
    window = select(Subscriber.id).where(Subscriber.id > lo).order_by(Subscriber.id).limit(CHUNK)
    hi = session.scalar(select(func.max(window.subquery().c.id)))
    if hi is None:
        moved = _run(session, update(Alert).where(Alert.id == alert.id,
                                                  Alert.fanout_cursor == lo,
                                                  Alert.fanout_done.is_(False))
                     .values(fanout_done=True, fanout_at=now, updated_at=now))
        return "done" if moved else "lost"
    selected = (
        select(literal(alert.id), Subscriber.id, audience.locale_expression(alert), literal(P),
               literal(0), literal(now, UTCDateTime()), literal(now, UTCDateTime()))
        .where(Subscriber.id > lo, Subscriber.id <= hi, *audience.conditions(alert))
    )
    columns = ["alert_id", "subscriber_id", "locale", "status", "attempts", "created_at",
               "updated_at"]
    session.execute(_insert(session).from_select(columns, selected)
                    .on_conflict_do_nothing(index_elements=["alert_id", "subscriber_id"]))
    moved = _run(session, update(Alert).where(
        Alert.id == alert.id, Alert.fanout_cursor == lo,
        Alert.status.in_([AlertStatus.SENDING.value, AlertStatus.PAUSED.value]),
    ).values(fanout_cursor=hi, fanout_at=now, updated_at=now))
    if not moved:
        return "lost"
    ids = list(session.scalars(
        select(AlertDelivery.id).where(AlertDelivery.alert_id == alert.id,
                                       AlertDelivery.subscriber_id > lo,
                                       AlertDelivery.subscriber_id <= hi,
                                       AlertDelivery.status == P)
        .order_by(AlertDelivery.id)
    ))
    if alert.status == AlertStatus.SENDING.value:
        enqueue_batches(session, alert.id, ids)
    return "more"


# --- one batch ---------------------------------------------------------------------------------


def claim(session: SessionLike, alert_id: int, ids: Sequence[int], now: datetime) -> list[int]:
    """Take the due pending rows among ``ids`` (conditional update): only the winner sends."""
    statement = (
        update(AlertDelivery)
        .where(AlertDelivery.id.in_(list(ids)), AlertDelivery.alert_id == alert_id,
               AlertDelivery.status == P,
               or_(AlertDelivery.next_attempt_at.is_(None), AlertDelivery.next_attempt_at <= now))
        .values(status=CLAIMED, lease_until=now + LEASE, attempts=AlertDelivery.attempts + 1,
                updated_at=now)
        .returning(AlertDelivery.id)
    )
    return sorted(session.execute(statement).scalars().all())


@dataclass(frozen=True)
class SubscriberData:
    """The columns of a subscriber a batch needs, read without the ORM (hydrating full
    objects cost more than rendering the message). ``subscribers.services`` reads only these
    attributes (email_of, name_of, the link tokens), so :meth:`as_subscriber` may stand in."""

    id: int
    public_id: str
    email_enc: bytes
    name_enc: bytes | None
    email_index: bytes
    status: str
    discreet: bool
    link_version: int
    locale: str

    def as_subscriber(self) -> Subscriber:
        return cast(Subscriber, self)


_SUBSCRIBER_COLUMNS: Final = (
    Subscriber.id, Subscriber.public_id, Subscriber.email_enc, Subscriber.name_enc,
    Subscriber.email_index, Subscriber.status, Subscriber.discreet, Subscriber.link_version,
    Subscriber.locale,
)


@dataclass
class Row:
    """A claimed delivery with what is needed to send it (address still encrypted)."""

    id: int
    locale: str
    attempts: int
    created_at: datetime
    subscriber: SubscriberData
    suppressed: bool

    @property
    def receiving(self) -> bool:
        return self.subscriber.status in RECEIVING and not self.suppressed


def load(session: SessionLike, ids: Sequence[int]) -> list[Row]:
    """The claimed rows and their subscribers, in one query."""
    statement = (
        select(AlertDelivery.id, AlertDelivery.locale, AlertDelivery.attempts,
               AlertDelivery.created_at, Suppression.id, *_SUBSCRIBER_COLUMNS)
        .join(Subscriber, Subscriber.id == AlertDelivery.subscriber_id)
        .outerjoin(Suppression, Suppression.email_index == Subscriber.email_index)
        .where(AlertDelivery.id.in_(list(ids)))
        .order_by(AlertDelivery.id)
    )
    return [Row(r[0], r[1], r[2], r[3], SubscriberData(r[5], r[6], r[7], r[8], r[9], r[10],
                                                       r[11], r[12], r[13]), r[4] is not None)
            for r in session.execute(statement)]


def set_rows(session: SessionLike, ids: Sequence[int], only: Sequence[str],
             **values: Any) -> int:
    """Bulk change of rows still in one of the ``only`` states."""
    changed = 0
    for part in _in_chunks(ids):
        changed += _run(session, update(AlertDelivery)
                        .where(AlertDelivery.id.in_(list(part)), AlertDelivery.status.in_(only))
                        .values(**values))
    return changed


def cancel(session: SessionLike, ids: Sequence[int], error: str, now: datetime) -> int:
    return set_rows(session, ids, (P, CLAIMED, SUBMITTING), status=DeliveryStatus.CANCELLED.value,
                    error=error, lease_until=None, updated_at=now)


def mark_submitting(session: SessionLike, ids: Sequence[int], now: datetime) -> None:
    set_rows(session, ids, (CLAIMED,), status=SUBMITTING, lease_until=now + LEASE,
             updated_at=now)


def extend_leases(session: SessionLike, ids: Sequence[int], now: datetime) -> None:
    set_rows(session, ids, (CLAIMED,), lease_until=now + LEASE)


def release(session: SessionLike, ids: Sequence[int], now: datetime,
            delay: timedelta | None = None) -> int:
    """Claimed rows that were not tried go back to pending; the claim does not count as an
    attempt. With ``delay`` they wait (a paused relay)."""
    return set_rows(session, ids, (CLAIMED, SUBMITTING), status=P,
                    attempts=_one_less(session), lease_until=None, updated_at=now,
                    next_attempt_at=now + delay if delay else None)


def _one_less(session: SessionLike) -> Any:
    """``attempts - 1``, never below zero (GREATEST in PostgreSQL, MAX in SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.greatest(AlertDelivery.attempts - 1, 0)
    return func.max(AlertDelivery.attempts - 1, 0)


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=RETRY_DELAYS[min(max(attempts - 1, 0), len(RETRY_DELAYS) - 1)])


def _error_of(result: SendResult) -> str:
    if result.outcome == "policy":
        return "policy"
    if result.suppress:
        return "bounce"
    return "rejected"


def record(session: SessionLike, alert_id: int, outcomes: Sequence[tuple[Row, SendResult]],
           now: datetime) -> int:
    """Move rows on after the server's answers. Sent rows change in one statement; the
    others one by one. Returns how many outcomes were unknown (re-sent: maybe doubled)."""
    sent = [row.id for row, result in outcomes if result.outcome == "sent"]
    set_rows(session, sent, (SUBMITTING,), status=DeliveryStatus.SENT.value, sent_at=now,
             last_code=250, last_reply=None, error=None, lease_until=None, updated_at=now)
    unknown = 0
    for row, result in outcomes:
        common: dict[str, Any] = {"last_code": result.code, "last_reply": result.reply[:500],
                                  "lease_until": None, "updated_at": now}
        if result.outcome == "sent":
            continue
        if result.outcome == "retry":
            next_at = now + retry_delay(row.attempts)
            if next_at - row.created_at > RETRY_HORIZON:
                set_rows(session, [row.id], (SUBMITTING,), status=DeliveryStatus.EXPIRED.value,
                         error="expired", **common)
            else:
                set_rows(session, [row.id], (SUBMITTING,), status=P, next_attempt_at=next_at,
                         **common)
        elif result.outcome == "paused":
            set_rows(session, [row.id], (SUBMITTING,), status=P,
                     attempts=max(row.attempts - 1, 0), next_attempt_at=now + RELAY_PAUSE,
                     **common)
        elif result.outcome == "unknown":
            # The data may have arrived: sent again once, same Message-ID, counted.
            unknown += 1
            set_rows(session, [row.id], (SUBMITTING,), status=P, next_attempt_at=None, **common)
        else:  # failed, policy
            set_rows(session, [row.id], (SUBMITTING,), status=DeliveryStatus.FAILED.value,
                     error=_error_of(result), **common)
            if result.suppress:
                from campaign.subscribers.models import SuppressionReason
                from campaign.subscribers.services import suppress_bounced

                suppress_bounced(session, row.subscriber.email_index, SuppressionReason.BOUNCED)
    if unknown:
        add_possible_duplicates(session, alert_id, unknown)
    return unknown


def render_failed(session: SessionLike, rows: Sequence[Row], reason: str, now: datetime) -> None:
    """The message could not be built: retried a few times, then failed with the reason."""
    for row in rows:
        if row.attempts >= MAX_RENDER_ATTEMPTS:
            set_rows(session, [row.id], (CLAIMED, SUBMITTING),
                     status=DeliveryStatus.FAILED.value, error="render",
                     last_reply=reason[:500], lease_until=None, updated_at=now)
        else:
            set_rows(session, [row.id], (CLAIMED, SUBMITTING), status=P,
                     next_attempt_at=now + retry_delay(row.attempts), last_reply=reason[:500],
                     lease_until=None, updated_at=now)


def add_possible_duplicates(session: SessionLike, alert_id: int, count: int) -> None:
    _run(session, update(Alert).where(Alert.id == alert_id)
         .values(possible_duplicates=Alert.possible_duplicates + count))


def alert_status(session: SessionLike, alert_id: int) -> str | None:
    return session.scalar(select(Alert.status).where(Alert.id == alert_id))


def pause_alert(session: SessionLike, alert_id: int, reason: str, now: datetime) -> bool:
    return bool(_run(session, update(Alert).where(
        Alert.id == alert_id, Alert.status == AlertStatus.SENDING.value,
    ).values(status=AlertStatus.PAUSED.value, pause_reason=reason[:500], updated_at=now)))


def finish_if_done(session: SessionLike, alert_id: int, now: datetime) -> bool:
    """Sending → sent once the fan-out is complete and no row is still open."""
    open_row = session.scalar(select(AlertDelivery.id).where(
        AlertDelivery.alert_id == alert_id, AlertDelivery.status.in_(OPEN)).limit(1))
    if open_row is not None:
        return False
    return bool(_run(session, update(Alert).where(
        Alert.id == alert_id, Alert.status == AlertStatus.SENDING.value,
        Alert.fanout_done.is_(True),
    ).values(status=AlertStatus.SENT.value, finished_at=now, updated_at=now)))


def commit_and_finish(session: SessionLike, alert_id: int) -> bool:
    """Commit the caller's work and close the alert if nothing is left open.

    Two last batches committing at the same moment each see the other's rows still open from
    inside their own transaction, so neither would close the alert. Whoever did not close it
    therefore looks once more after its commit: the last of them to commit then sees everything
    (READ COMMITTED; SQLite has one writer at a time)."""
    finished = finish_if_done(session, alert_id, utcnow())
    session.commit()
    if not finished:
        finished = finish_if_done(session, alert_id, utcnow())
        session.commit()
    return finished


# --- recovery (reconcile) ----------------------------------------------------------------------


def recover_expired(session: SessionLike, now: datetime) -> dict[int, list[int]]:
    """Rows of dead workers, by alert: claimed ones go back to pending (not an attempt);
    submitting ones had an unknown outcome, so they are sent again once and counted."""
    # Only alerts under way can have open rows: the (alert_id, status) index finds them.
    rows = session.execute(
        select(AlertDelivery.id, AlertDelivery.alert_id, AlertDelivery.status)
        .join(Alert, Alert.id == AlertDelivery.alert_id)
        .where(Alert.status.in_(UNDER_WAY), AlertDelivery.status.in_([CLAIMED, SUBMITTING]),
               AlertDelivery.lease_until < now)
    ).all()
    by_alert: dict[int, list[int]] = {}
    unknown: dict[int, int] = {}
    for row_id, alert_id, status in rows:
        by_alert.setdefault(alert_id, []).append(row_id)
        if status == SUBMITTING:
            unknown[alert_id] = unknown.get(alert_id, 0) + 1
    for alert_id, ids in by_alert.items():
        release(session, ids, now)
        if alert_status(session, alert_id) == AlertStatus.CANCELLED.value:
            cancel(session, ids, "cancelled", now)
    for alert_id, count in unknown.items():
        log.warning("alert %d: %d deliveries with an unknown outcome are sent again",
                    alert_id, count)
        add_possible_duplicates(session, alert_id, count)
    return by_alert


def due(session: SessionLike, now: datetime, stale: timedelta, everything: bool,
        limit: int = 50_000) -> dict[int, list[int]]:
    """Pending rows of sending alerts that no job may be carrying any more, by alert: due
    retries not enqueued since they fell due, rows untouched for ``stale``, or (when the
    queue is known to be empty) every due row not touched in the last QUIET seconds (a row
    committed a moment ago may be about to be enqueued). Their ``updated_at`` becomes now."""
    conditions = [
        AlertDelivery.status == P,
        or_(AlertDelivery.next_attempt_at.is_(None), AlertDelivery.next_attempt_at <= now),
        Alert.status == AlertStatus.SENDING.value,
    ]
    if everything:
        conditions.append(AlertDelivery.updated_at < now - QUIET)
    else:
        conditions.append(or_(
            AlertDelivery.updated_at < now - stale,
            and_(AlertDelivery.next_attempt_at.is_not(None),
                 AlertDelivery.updated_at < AlertDelivery.next_attempt_at),
        ))
    rows = session.execute(
        select(AlertDelivery.id, AlertDelivery.alert_id)
        .join(Alert, Alert.id == AlertDelivery.alert_id)
        .where(*conditions).order_by(AlertDelivery.id).limit(limit)
    ).all()
    by_alert: dict[int, list[int]] = {}
    for row_id, alert_id in rows:
        by_alert.setdefault(alert_id, []).append(row_id)
    for ids in by_alert.values():
        set_rows(session, ids, (P,), updated_at=now)
    return by_alert
