"""Digests: for targets that take supporters' letters only in bulk (UN special procedures),
one letter per target and period (day or week, in the target's timezone) lists the signers
(name, city) and their count. It is prepared as a draft once the period is over, previewed
and approved by an organiser, then sent at most once like any letter.

Each confirmed signer is listed in exactly one digest: deliveries are attached to a digest by
a conditional update (``digest_id IS NULL``). Functions flush and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import select, update

from campaign import jobs
from campaign.actions import delivery as sending
from campaign.actions.models import (
    Action,
    ActionTarget,
    DeliveryStatus,
    Digest,
    DigestPeriod,
    DigestStatus,
    Letter,
    LetterDelivery,
)
from campaign.actions.signing import person_of
from campaign.actions.texts import PLACEHOLDERS, case_values, letter_locale, signature, variant_for
from campaign.admin.models import Organiser
from campaign.admin.services import audit
from campaign.db import SessionLike, utcnow
from campaign.extensions import cipher
from campaign.mail.models import OutgoingMessage
from campaign.mail.transport import SendResult
from campaign.targets.models import DeliveryMode
from campaign.targets.services import sendable_email_channel
from campaign.text import substitute

TABLE = "action_digests"


class DigestError(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def period_of(period: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """[start, end) of the day or ISO week (Monday first) holding ``day``."""
    if period == DigestPeriod.WEEKLY.value:
        start = day - dt.timedelta(days=day.isoweekday() - 1)
        return start, start + dt.timedelta(days=7)
    return day, day + dt.timedelta(days=1)


def body_of(digest: Digest) -> str:
    if digest.body_enc is None:
        return ""
    return cipher().decrypt(digest.body_enc, table=TABLE, column="body", row=digest.public_id)


def render(action: Action, at: ActionTarget, locale: str, start: dt.date, end: dt.date,
           letters: list[Letter]) -> tuple[str, str]:
    """Subject and body of a digest in ``locale``: a short note, the letter, the signers."""
    campaign_name = current_app.extensions["campaign.config"].mail_from_name
    variant = variant_for(action, locale, 0)
    count = len(letters)
    with force_locale(locale):
        values = {**case_values(action, locale), "volunteer_name": _("the undersigned"),
                  "city": "", "country": ""}
        letter_subject = substitute(variant.subject, values, PLACEHOLDERS) if variant else ""
        letter_body = substitute(variant.body, values, PLACEHOLDERS) if variant else ""
        signatures = ngettext("%(num)d signature", "%(num)d signatures", count)
        subject = " ".join(f"{letter_subject} ({signatures})".split())
        intro = ngettext(
            "This joint letter is sent on behalf of %(num)d supporter of %(campaign)s who "
            "signed it between %(start)s and %(end)s and confirmed the signature by email. "
            "It replaces separate messages.",
            "This joint letter is sent on behalf of %(num)d supporters of %(campaign)s who "
            "signed it between %(start)s and %(end)s and confirmed their signatures by email. "
            "It replaces separate messages.",
            count, campaign=campaign_name, start=start.isoformat(),
            end=(end - dt.timedelta(days=1)).isoformat())
        heading = ngettext("Signed by %(num)d person:", "Signed by %(num)d people:", count)
    people = [signature(person_of(letter)).replace("\n", ", ") for letter in letters]
    lines = "\n".join(f"- {line}" for line in people)
    return subject, f"{intro}\n\n{letter_body.strip()}\n\n{heading}\n{lines}\n"


def prepare(session: SessionLike, now: dt.datetime | None = None) -> list[Digest]:
    """Draft a digest for every digest-mode target and finished period with signers waiting.
    Running it twice changes nothing the second time."""
    now = now or utcnow()
    made: list[Digest] = []
    targets = session.scalars(select(ActionTarget).where(
        ActionTarget.mode == DeliveryMode.DIGEST.value)).all()
    for at in targets:
        waiting = session.execute(
            select(LetterDelivery, Letter.confirmed_at).join(Letter)
            .where(LetterDelivery.action_target_id == at.id,
                   LetterDelivery.status == DeliveryStatus.WAITING.value,
                   LetterDelivery.digest_id.is_(None))
            .order_by(Letter.confirmed_at, Letter.id)).all()
        if not waiting:
            continue
        zone = _zone(at.target.timezone)
        today = now.astimezone(zone).date()
        groups: dict[tuple[dt.date, dt.date], list[LetterDelivery]] = defaultdict(list)
        for row, confirmed_at in waiting:
            local = (confirmed_at or now).astimezone(zone).date()
            groups[period_of(at.digest_period or DigestPeriod.DAILY.value, local)].append(row)
        for (start, end), rows in sorted(groups.items(), key=lambda item: item[0]):
            if end > today:
                continue  # the period is not over yet
            digest = _draft(session, at, start, end, rows, now)
            if digest is not None:
                made.append(digest)
    session.flush()
    return made


def _draft(session: SessionLike, at: ActionTarget, start: dt.date, end: dt.date,
           rows: list[LetterDelivery], now: dt.datetime) -> Digest | None:
    digest = session.scalar(select(Digest).where(Digest.action_target_id == at.id,
                                                 Digest.period_start == start))
    if digest is not None and digest.status != DigestStatus.DRAFT.value:
        return None  # already approved: late arrivals stay waiting and are shown as such
    if digest is None:
        action = at.action
        digest = Digest(action_id=action.id, action_target_id=at.id, target_id=at.target_id,
                        period=at.digest_period or DigestPeriod.DAILY.value,
                        period_start=start, period_end=end,
                        locale=letter_locale(action, at), status=DigestStatus.DRAFT.value,
                        subject="", created_at=now)
        session.add(digest)
        session.flush()
    for row in rows:  # conditional: a delivery joins one digest only
        session.execute(
            update(LetterDelivery)
            .where(LetterDelivery.id == row.id, LetterDelivery.digest_id.is_(None),
                   LetterDelivery.status == DeliveryStatus.WAITING.value)
            .values(digest_id=digest.id, status=DeliveryStatus.IN_DIGEST.value, updated_at=now)
            .execution_options(synchronize_session=False))
    rebuild(session, digest)
    return digest


def members(session: SessionLike, digest: Digest) -> list[Letter]:
    return list(session.scalars(
        select(Letter).join(LetterDelivery).where(LetterDelivery.digest_id == digest.id)
        .order_by(Letter.confirmed_at, Letter.id)))


def rebuild(session: SessionLike, digest: Digest) -> None:
    letters = members(session, digest)
    subject, body = render(digest.action, digest.action_target, digest.locale,
                           digest.period_start, digest.period_end, letters)
    digest.subject = subject[:340]
    digest.signer_count = len(letters)
    digest.body_enc = cipher().encrypt(body, table=TABLE, column="body", row=digest.public_id)
    session.flush()


def for_action(session: SessionLike, action: Action) -> list[Digest]:
    return list(session.scalars(select(Digest).where(Digest.action_id == action.id)
                                .order_by(Digest.period_start.desc())))


def in_review(session: SessionLike) -> list[Digest]:
    return list(session.scalars(select(Digest).where(
        Digest.status == DigestStatus.REVIEW.value).order_by(Digest.period_start)))


def resolve_review(session: SessionLike, digest: Digest, decision: str,
                   actor: Organiser | None, now: dt.datetime | None = None) -> None:
    """An organiser decides about a digest whose outcome was unknown (audited)."""
    now = now or utcnow()
    if digest.status != DigestStatus.REVIEW.value or decision not in sending.REVIEW_DECISIONS:
        raise DigestError("decided")
    row = session.get(OutgoingMessage, digest.message_id) if digest.message_id else None
    from campaign.mail.models import Status

    if decision == "delivered":
        digest.status, digest.sent_at = DigestStatus.SENT.value, now
        outcome: str | None = DeliveryStatus.SENT.value
        if row is not None:
            row.status = Status.SENT.value
    elif decision == "resend":
        digest.status, digest.next_attempt_at, outcome = DigestStatus.APPROVED.value, now, None
        if row is not None:
            row.status = Status.CANCELLED.value
        jobs.enqueue_send_digest(session, digest.id)
    else:
        digest.status, outcome = DigestStatus.FAILED.value, DeliveryStatus.FAILED.value
        if row is not None:
            row.status = Status.FAILED.value
    if outcome is not None:
        session.execute(
            update(LetterDelivery).where(LetterDelivery.digest_id == digest.id)
            .values(status=outcome, updated_at=now).execution_options(synchronize_session=False))
    audit(session, f"digest.review_{decision}", actor=actor, object_type="action_digest",
          object_id=digest.public_id)
    session.flush()


def awaiting(session: SessionLike) -> list[Digest]:
    return list(session.scalars(select(Digest).where(
        Digest.status == DigestStatus.DRAFT.value).order_by(Digest.period_start)))


def get(session: SessionLike, pid: str) -> Digest | None:
    return session.scalar(select(Digest).where(Digest.public_id == pid))


def approve(session: SessionLike, digest: Digest, actor: Organiser | None,
            now: dt.datetime | None = None) -> None:
    """The organiser read the preview and approves: it is sent (once) after the commit."""
    now = now or utcnow()
    done = session.execute(
        update(Digest).where(Digest.id == digest.id, Digest.status == DigestStatus.DRAFT.value)
        .values(status=DigestStatus.APPROVED.value, approved_by_id=actor.id if actor else None,
                approved_at=now, next_attempt_at=now)
        .execution_options(synchronize_session=False))
    if getattr(done, "rowcount", 0) != 1:
        raise DigestError("decided")
    session.expire(digest)
    audit(session, "digest.approved", actor=actor, object_type="action_digest",
          object_id=digest.public_id, detail={"signers": digest.signer_count})
    jobs.enqueue_send_digest(session, digest.id)


# --- sending ---------------------------------------------------------------------------------


def claim(session: SessionLike, digest_id: int, now: dt.datetime) -> str:
    digest = session.get(Digest, digest_id)
    if digest is None or digest.status != DigestStatus.APPROVED.value or (
            digest.next_attempt_at is not None and digest.next_attempt_at > now):
        return "not-due"
    if sendable_email_channel(digest.target) is None:
        digest.note = "held: no verified channel"
        session.flush()
        return "held"
    done = session.execute(
        update(Digest).where(Digest.id == digest_id,
                             Digest.status == DigestStatus.APPROVED.value)
        .values(status=DigestStatus.SENDING.value, attempts=Digest.attempts + 1,
                lease_until=now + sending.LEASE)
        .execution_options(synchronize_session=False))
    session.expire(digest)
    return "claimed" if getattr(done, "rowcount", 0) == 1 else "not-due"


def start(session: SessionLike, digest: Digest,
          now: dt.datetime) -> tuple[OutgoingMessage, bytes] | None:
    channel = sendable_email_channel(digest.target)
    if channel is None:
        digest.status = DigestStatus.APPROVED.value
        digest.lease_until = None
        session.flush()
        return None
    campaign_name = current_app.extensions["campaign.config"].mail_from_name
    row, data = sending.open_submission(session, sending.Envelope(
        to_addr=channel.value, to_name=digest.target.name(digest.locale),
        from_name=campaign_name, subject=digest.subject, text=body_of(digest),
        locale=digest.locale, dedupe_key=f"digest:{digest.public_id}:{digest.attempts}"), now)
    digest.message_id = row.id
    session.flush()
    return row, data


def finish(session: SessionLike, digest: Digest, row: OutgoingMessage, result: SendResult,
           now: dt.datetime) -> str:
    outcome = sending.settle(row, result, now)
    digest.lease_until = None
    digest.note = result.reply or None
    final = {"sent": DeliveryStatus.SENT.value, "failed": DeliveryStatus.FAILED.value}
    if outcome == "sent":
        digest.status, digest.sent_at = DigestStatus.SENT.value, now
    elif outcome == "review":
        digest.status = DigestStatus.REVIEW.value
    elif outcome == "retry" and digest.approved_at and now - digest.approved_at <= \
            sending.RETRY_HORIZON:
        digest.status = DigestStatus.APPROVED.value
        digest.next_attempt_at = sending.retry_at(row, now)
    else:
        digest.status, outcome = DigestStatus.FAILED.value, "failed"
    if outcome in final:
        session.execute(
            update(LetterDelivery).where(LetterDelivery.digest_id == digest.id)
            .values(status=final[outcome], sent_at=now if outcome == "sent" else None,
                    updated_at=now)
            .execution_options(synchronize_session=False))
    if result.suppress:
        from campaign.mail import services as mail

        sending.bounced(session, digest.target, mail.recipient(row), result)
    session.flush()
    return digest.status


def recover(session: SessionLike, now: dt.datetime) -> int:
    stuck = session.scalars(select(Digest).where(Digest.status == DigestStatus.SENDING.value,
                                                 Digest.lease_until < now)).all()
    from campaign.mail import services as mail
    from campaign.mail.models import Status

    for digest in stuck:
        row = session.get(OutgoingMessage, digest.message_id) if digest.message_id else None
        if row is None or row.status == Status.CANCELLED.value:
            digest.status, digest.next_attempt_at = DigestStatus.APPROVED.value, now
        else:
            if row.status in (Status.SUBMITTING.value, Status.CLAIMED.value):
                mail.unknown_outcome(row, now)
            digest.status = DigestStatus.REVIEW.value
        digest.lease_until = None
    session.flush()
    return len(stuck)


def due_ids(session: SessionLike, now: dt.datetime) -> list[int]:
    return list(session.scalars(select(Digest.id).where(
        Digest.status == DigestStatus.APPROVED.value,
        (Digest.next_attempt_at.is_(None)) | (Digest.next_attempt_at <= now))))
