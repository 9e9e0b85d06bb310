"""Per-target caps: letters per hour, spread over the target's office hours in its timezone.

Each capped target has one cursor row (``letter_schedules.next_free_at``). A confirmed letter
takes the next free slot within office hours and moves the cursor on by 3600 / cap seconds,
with a conditional update: two confirmations at the same moment never take the same slot.
The sender checks the cap once more (a rolling hour of attempts) before it sends.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from campaign.actions.models import LetterDelivery, LetterSchedule
from campaign.db import SessionLike
from campaign.targets.models import Target

WINDOW = dt.timedelta(hours=1)
_CAS_TRIES = 50


def _zone(target: Target) -> dt.tzinfo:
    try:
        return ZoneInfo(target.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def interval(target: Target) -> dt.timedelta | None:
    """The gap between two letters to ``target``, or None when it has no cap."""
    cap = target.letters_per_hour
    if not cap or cap <= 0:
        return None
    return dt.timedelta(seconds=3600 / cap)


def has_office_hours(target: Target) -> bool:
    return bool(target.office_start and target.office_end and target.office_days)


def open_at(target: Target, moment: dt.datetime) -> dt.datetime:
    """The first moment at or after ``moment`` within the target's office hours (UTC)."""
    if not has_office_hours(target):
        return moment
    start, end = target.office_start, target.office_end
    assert start is not None and end is not None  # noqa: S101 - has_office_hours checked
    days = set(target.office_days or [])
    zone = _zone(target)
    local = moment.astimezone(zone)
    for offset in range(8):
        day = local.date() + dt.timedelta(days=offset)
        if day.isoweekday() not in days:
            continue
        opening = dt.datetime.combine(day, start, tzinfo=zone)
        closing = dt.datetime.combine(day, end, tzinfo=zone)
        candidate = max(local, opening) if offset == 0 else opening
        if candidate < closing:
            return candidate.astimezone(dt.UTC)
    return moment  # office days that never open: treat as always open


def within_office_hours(target: Target, moment: dt.datetime) -> bool:
    return open_at(target, moment) == moment


def allocate(session: SessionLike, target: Target, now: dt.datetime) -> dt.datetime:
    """Take the next sending slot for ``target`` (now, when it has no cap and is open)."""
    gap = interval(target)
    if gap is None:
        return open_at(target, now)
    for _ in range(_CAS_TRIES):
        cursor = session.execute(
            select(LetterSchedule.next_free_at).where(LetterSchedule.target_id == target.id)
        ).scalar_one_or_none()
        if cursor is None:
            slot = open_at(target, now)
            try:
                with session.begin_nested():
                    session.add(LetterSchedule(target_id=target.id, next_free_at=slot + gap))
            except IntegrityError:
                continue  # another confirmation created the cursor first
            return slot
        slot = open_at(target, max(now, cursor))
        moved = session.execute(
            update(LetterSchedule)
            .where(LetterSchedule.target_id == target.id,
                   LetterSchedule.next_free_at == cursor)
            .values(next_free_at=slot + gap)
            .execution_options(synchronize_session=False)
        )
        if getattr(moved, "rowcount", 0) == 1:
            return slot
    raise RuntimeError("could not take a sending slot; too much contention")


def lock_target(session: SessionLike, target: Target, now: dt.datetime) -> None:
    """Serialise senders of one capped target until the caller commits (a row lock on
    PostgreSQL, the write lock on SQLite), so the rolling count below cannot race."""
    touched = session.execute(
        update(LetterSchedule).where(LetterSchedule.target_id == target.id)
        .values(next_free_at=LetterSchedule.next_free_at)
        .execution_options(synchronize_session=False)
    )
    if getattr(touched, "rowcount", 0) == 0:
        try:
            with session.begin_nested():
                session.add(LetterSchedule(target_id=target.id, next_free_at=now))
        except IntegrityError:
            lock_target(session, target, now)


def attempts_in_window(session: SessionLike, target: Target, now: dt.datetime) -> int:
    """Letters handed to the relay for ``target`` in the last hour, all actions together."""
    return int(session.scalar(
        select(func.count()).select_from(LetterDelivery).where(
            LetterDelivery.target_id == target.id,
            LetterDelivery.attempted_at > now - WINDOW,
        )
    ) or 0)


def may_send_now(session: SessionLike, target: Target, now: dt.datetime) -> bool:
    """True when a letter may go to ``target`` at ``now``: within office hours and under the
    cap for the rolling hour. Call :func:`lock_target` first in the same transaction."""
    if not within_office_hours(target, now):
        return False
    cap = target.letters_per_hour
    return not cap or attempts_in_window(session, target, now) < cap
