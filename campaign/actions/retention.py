"""Retention: some time after an action has closed, what volunteers gave us is reduced to
counts. Unconfirmed letters are deleted; confirmed ones whose deliveries are over become
``action_tallies`` (per day, target and status) and are deleted with their ledger rows;
sent digests lose their list of names. Letters still on their way (scheduled, held, under
review, listed in a digest awaiting approval) are kept and reported, so nothing in flight
is lost; letters that never left (no verified address, no digest) are cancelled and counted.
Functions flush and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import delete, or_, select

from campaign.actions.models import (
    FINAL_DELIVERY,
    Action,
    ActionTally,
    DeliveryStatus,
    Digest,
    DigestStatus,
    Letter,
    LetterDelivery,
    LetterStatus,
)
from campaign.actions.signing import delete_confirmation_mail
from campaign.admin.services import audit
from campaign.db import SessionLike, utcnow
from campaign.mail.models import OutgoingMessage

# Never left and never will: no verified address (held), or no digest drafted (waiting).
# Scheduled, sending, under review or listed in a digest awaiting approval: kept.
STALE = frozenset({DeliveryStatus.HELD.value, DeliveryStatus.WAITING.value})


@dataclass
class ReductionReport:
    actions: list[str] = field(default_factory=list)  # slugs
    unconfirmed_deleted: int = 0
    letters_reduced: int = 0
    letters_kept: int = 0  # still on their way
    digests_cleared: int = 0
    messages_deleted: int = 0

    def lines(self) -> list[str]:
        return [
            f"closed actions looked at: {len(self.actions)}"
            + (f" ({', '.join(self.actions)})" if self.actions else ""),
            f"unconfirmed letters deleted: {self.unconfirmed_deleted}",
            f"confirmed letters reduced to counts: {self.letters_reduced}",
            f"letters kept because still on their way: {self.letters_kept}",
            f"digests whose list of signers was removed: {self.digests_cleared}",
            f"mail ledger rows deleted: {self.messages_deleted}",
        ]


def _tally(session: SessionLike, action: Action, counts: Counter[tuple[dt.date, int | None,
                                                                       str]]) -> None:
    existing = {(t.day, t.target_id, t.status): t for t in session.scalars(
        select(ActionTally).where(ActionTally.action_id == action.id))}
    for (day, target_id, status), count in counts.items():
        row = existing.get((day, target_id, status))
        if row is None:
            session.add(ActionTally(action_id=action.id, day=day, target_id=target_id,
                                    status=status, count=count))
        else:
            row.count += count


def _delete_ledger(session: SessionLike, keys: list[str], ids: list[int]) -> int:
    clauses = [OutgoingMessage.dedupe_key.like(f"{key}:%") for key in keys]
    if ids:
        clauses.append(OutgoingMessage.id.in_(ids))
    if not clauses:
        return 0
    result = session.execute(delete(OutgoingMessage).where(or_(*clauses))
                             .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def reduce_action(session: SessionLike, action: Action, now: dt.datetime,
                  report: ReductionReport) -> None:
    counts: Counter[tuple[dt.date, int | None, str]] = Counter()
    kept = 0
    for letter in session.scalars(select(Letter).where(Letter.action_id == action.id)).all():
        if letter.status == LetterStatus.PENDING.value:
            delete_confirmation_mail(session, letter)
            session.delete(letter)
            report.unconfirmed_deleted += 1
            continue
        deliveries = session.scalars(select(LetterDelivery).where(
            LetterDelivery.letter_id == letter.id)).all()
        for d in deliveries:  # long after closing, a letter that never left will not
            if d.status in STALE:
                d.status, d.note = DeliveryStatus.CANCELLED.value, "cancelled: retention"
        if any(d.status not in FINAL_DELIVERY for d in deliveries):
            kept += 1
            continue
        day = (letter.confirmed_at or letter.created_at).date()
        counts[(day, None, LetterStatus.CONFIRMED.value)] += 1
        for d in deliveries:
            counts[(day, d.target_id, d.status)] += 1
        keys = [f"letter:{d.public_id}" for d in deliveries]
        report.messages_deleted += _delete_ledger(
            session, keys, [d.message_id for d in deliveries if d.message_id])
        delete_confirmation_mail(session, letter)
        session.delete(letter)
        report.letters_reduced += 1
    for digest in session.scalars(select(Digest).where(Digest.action_id == action.id)).all():
        if digest.status in (DigestStatus.SENT.value, DigestStatus.FAILED.value) and \
                digest.body_enc is not None:
            digest.body_enc = None
            report.messages_deleted += _delete_ledger(
                session, [f"digest:{digest.public_id}"],
                [digest.message_id] if digest.message_id else [])
            report.digests_cleared += 1
    _tally(session, action, counts)
    report.letters_kept += kept
    if kept == 0:
        action.reduced_at = now
    session.flush()


def reduce_action_data(session: SessionLike, older_than: dt.timedelta,
                       now: dt.datetime | None = None) -> ReductionReport:
    """Reduce every action closed more than ``older_than`` ago. Safe to run again."""
    now = now or utcnow()
    report = ReductionReport()
    actions = session.scalars(select(Action).where(
        Action.closes_at.is_not(None), Action.closes_at <= now - older_than)
        .order_by(Action.closes_at)).all()
    for action in actions:
        report.actions.append(action.slug)
        reduce_action(session, action, now, report)
    audit(session, "actions.data_reduced", object_type="actions",
          detail={"actions": len(report.actions), "reduced": report.letters_reduced,
                  "unconfirmed": report.unconfirmed_deleted, "kept": report.letters_kept})
    session.flush()
    return report
