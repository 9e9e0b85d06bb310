"""Letters to institutions: claiming a due delivery, building the message, recording the
relay's answer. At most once: a letter whose outcome is unknown goes to review and is never
sent again by itself.

Every submission is a ledger row (``OutgoingMessage``, kind ``letter``) written straight in
the ``submitting`` state just before the data goes out, so the general mail worker never sends
a letter (it only claims ``pending`` rows) and a crash leaves a row that reconcile turns into
``review``. A 4xx answer ends that row (``cancelled``) and puts the delivery back on the
schedule; the next try is a new row. No letter goes to a channel that is not verified.
Functions flush and never commit: ``workers.letters`` commits between the steps.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

from flask import current_app, has_request_context, url_for
from sqlalchemy import select, update

from campaign.actions import schedule
from campaign.actions.models import DeliveryStatus, LetterDelivery
from campaign.actions.signing import content_of, email_of, person_of
from campaign.actions.texts import from_name, letter_text
from campaign.admin.models import Organiser
from campaign.admin.permissions import Permission, allowed
from campaign.admin.services import audit
from campaign.admin.services import email_of as organiser_email
from campaign.db import SessionLike, public_id, utcnow
from campaign.extensions import blind_index, cipher
from campaign.mail import services as mail
from campaign.mail.compose import OutgoingMail, build_message, dkim_sign
from campaign.mail.models import Kind, OutgoingMessage, Status
from campaign.mail.transport import SendResult
from campaign.targets.models import Target, TargetChannel
from campaign.targets.services import (
    allowed_delivery_modes,
    mark_failing,
    sendable_email_channel,
)
from config import Config

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=5)
RETRY_HORIZON = dt.timedelta(hours=48)


def _config() -> Config:
    return current_app.extensions["campaign.config"]


@dataclass(frozen=True)
class Envelope:
    """One message to an institution."""

    to_addr: str
    to_name: str
    from_name: str
    subject: str
    text: str
    locale: str
    dedupe_key: str
    reply_to: tuple[str, str] | None = None


# --- building and recording ------------------------------------------------------------------


def open_submission(session: SessionLike, envelope: Envelope,
                    now: dt.datetime) -> tuple[OutgoingMessage, bytes]:
    """The message bytes and its ledger row, already ``submitting``: commit, then send."""
    config = _config()
    pid = public_id()
    row = OutgoingMessage(
        public_id=pid, kind=Kind.LETTER.value, template="actions/letter",
        dedupe_key=envelope.dedupe_key, locale=envelope.locale,
        to_enc=cipher().encrypt(envelope.to_addr, table=mail.TABLE, column="to", row=pid),
        to_index=blind_index().digest(envelope.to_addr, purpose="email"),
        context_enc=cipher().encrypt(
            json.dumps({"subject": envelope.subject, "text": envelope.text},
                       ensure_ascii=False), table=mail.TABLE, column="context", row=pid),
        attempts=1, created_at=now, updated_at=now,
    )
    mail.mark_submitting(row, now)
    assert row.message_id is not None  # noqa: S101 - mark_submitting sets it
    data = build_message(OutgoingMail(
        from_name=envelope.from_name, from_addr=config.mail_from, to_name=envelope.to_name,
        to_addr=envelope.to_addr, subject=envelope.subject, text=envelope.text, html=None,
        message_id=row.message_id, reply_to=envelope.reply_to, date=now,
    ))
    if config.dkim_key_file and config.dkim_selector and config.dkim_domain:
        data = dkim_sign(data, config.dkim_selector, config.dkim_domain,
                         config.dkim_key_file.read_bytes())
    session.add(row)
    session.flush()
    return row, data


def settle(row: OutgoingMessage, result: SendResult, now: dt.datetime) -> str:
    """Record the relay's answer on the ledger row; returns what it means for the letter:
    sent, review, retry (not delivered: try later), failed."""
    mail.record_result(row, result, now)
    if row.status == Status.PENDING.value:
        # Not delivered (4xx, or the relay was away). This row ends here; the schedule owns
        # the next try, so the general mail worker never picks a letter up.
        row.status = Status.CANCELLED.value
        return "retry"
    if row.status == Status.SENT.value:
        return "sent"
    if row.status == Status.REVIEW.value:
        return "review"
    return "failed"


def retry_at(row: OutgoingMessage, now: dt.datetime) -> dt.datetime:
    return row.next_attempt_at if row.next_attempt_at and row.next_attempt_at > now else now


# --- individual letters ----------------------------------------------------------------------


def claim(session: SessionLike, delivery_id: int, now: dt.datetime) -> str:
    """Take a due delivery: ``claimed`` when the caller may send it (after committing).
    Otherwise: not-due, held (no verified channel), later (cap or office hours)."""
    delivery = session.get(LetterDelivery, delivery_id)
    if (delivery is None or delivery.status != DeliveryStatus.SCHEDULED.value
            or (delivery.next_attempt_at is not None and delivery.next_attempt_at > now)):
        return "not-due"
    target = delivery.target
    if sendable_email_channel(target) is None or delivery.mode not in allowed_delivery_modes(
            target):
        delivery.status = DeliveryStatus.HELD.value
        delivery.updated_at = now
        session.flush()
        return "held"
    if schedule.interval(target) or schedule.has_office_hours(target):
        schedule.lock_target(session, target, now)
        if not schedule.may_send_now(session, target, now):
            delivery.next_attempt_at = schedule.allocate(session, target, now)
            delivery.updated_at = now
            session.flush()
            return "later"
    claimed = session.execute(
        update(LetterDelivery)
        .where(LetterDelivery.id == delivery_id,
               LetterDelivery.status == DeliveryStatus.SCHEDULED.value)
        .values(status=DeliveryStatus.SENDING.value, lease_until=now + LEASE,
                attempts=LetterDelivery.attempts + 1, attempted_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire(delivery)
    return "claimed" if getattr(claimed, "rowcount", 0) == 1 else "not-due"


def letter_envelope(delivery: LetterDelivery, channel: TargetChannel) -> Envelope:
    letter = delivery.letter
    person = person_of(letter)
    written = content_of(letter)[delivery.locale]
    campaign_name = _config().mail_from_name
    return Envelope(
        to_addr=channel.value,
        to_name=delivery.target.name(delivery.locale),
        from_name=from_name(delivery.locale, person.name, campaign_name),
        subject=written["subject"],
        text=letter_text(delivery.locale, written["body"], person, letter.reply_ok,
                         campaign_name),
        locale=delivery.locale,
        dedupe_key=f"letter:{delivery.public_id}:{delivery.attempts}",
        reply_to=(person.name, email_of(letter)) if letter.reply_ok else None,
    )


def start(session: SessionLike, delivery: LetterDelivery,
          now: dt.datetime) -> tuple[OutgoingMessage, bytes] | None:
    """After a committed claim: the ledger row and the bytes (None: nothing may be sent)."""
    channel = sendable_email_channel(delivery.target)
    if channel is None:  # un-verified between the claim and now
        delivery.status = DeliveryStatus.HELD.value
        delivery.lease_until = None
        session.flush()
        return None
    row, data = open_submission(session, letter_envelope(delivery, channel), now)
    delivery.message_id = row.id
    delivery.lease_until = now + LEASE
    session.flush()
    return row, data


def finish(session: SessionLike, delivery: LetterDelivery, row: OutgoingMessage,
           result: SendResult, now: dt.datetime) -> str:
    """Record the answer for the letter and its ledger row."""
    outcome = settle(row, result, now)
    delivery.lease_until = None
    delivery.updated_at = now
    delivery.note = result.reply or None
    if outcome == "sent":
        delivery.status = DeliveryStatus.SENT.value
        delivery.sent_at = now
    elif outcome == "review":
        delivery.status = DeliveryStatus.REVIEW.value
    elif outcome == "retry" and now - delivery.created_at <= RETRY_HORIZON:
        delivery.status = DeliveryStatus.SCHEDULED.value
        delivery.next_attempt_at = retry_at(row, now)
    else:
        delivery.status = DeliveryStatus.FAILED.value
    if result.suppress:
        bounced(session, delivery.target, mail.recipient(row), result)
    session.flush()
    return delivery.status


def fail_render(session: SessionLike, delivery: LetterDelivery, reason: str,
                now: dt.datetime) -> None:
    delivery.status = DeliveryStatus.FAILED.value
    delivery.note = reason[:500]
    delivery.lease_until = None
    delivery.updated_at = now
    session.flush()


# --- a bouncing address ----------------------------------------------------------------------


def bounced(session: SessionLike, target: Target, address: str, result: SendResult) -> None:
    """5.1.x from the institution's side: the channel is marked failing (nothing more goes to
    it until an organiser verifies it again) and the organisers are told. Other targets go
    on. The reason holds the scrubbed reply only."""
    channel = next((c for c in target.channels if c.value.lower() == address.lower()
                    and not c.retired), None)
    if channel is None or channel.state == "failing":
        return
    reason = f"bounce {result.enhanced or result.code}: {result.reply}"[:400]
    mark_failing(session, channel, reason)
    alert_organisers(session, target, channel)


def _admin_url(target: Target) -> str:
    """The target's admin page, from BASE_URL (workers have no request to build it from)."""
    base = _config().base_url
    if has_request_context():
        return base + url_for("admin_targets.detail", target_id=target.public_id)
    with current_app.test_request_context(base_url=base):
        return base + url_for("admin_targets.detail", target_id=target.public_id)


def alert_organisers(session: SessionLike, target: Target, channel: TargetChannel) -> None:
    url = _admin_url(target)
    day = (channel.failed_at or utcnow()).date().isoformat()
    for organiser in session.scalars(select(Organiser).where(Organiser.active.is_(True))):
        if not allowed(organiser.role, Permission.EDIT_CONTENT):
            continue
        mail.queue_message(
            session, template="actions/channel_failing", to_address=organiser_email(organiser),
            locale=organiser.locale,
            context={"target": target.name(organiser.locale), "url": url},
            dedupe_key=f"channel-failing:{channel.public_id}:{day}:{organiser.public_id}",
        )


# --- crash recovery and review ---------------------------------------------------------------


def recover(session: SessionLike, now: dt.datetime) -> int:
    """Deliveries whose worker died: never submitted -> scheduled again; submitted -> review
    (the data may have reached the relay: at most once)."""
    stuck = session.scalars(select(LetterDelivery).where(
        LetterDelivery.status == DeliveryStatus.SENDING.value,
        LetterDelivery.lease_until < now)).all()
    for delivery in stuck:
        row = session.get(OutgoingMessage, delivery.message_id) if delivery.message_id else None
        if row is None or row.status == Status.CANCELLED.value:
            delivery.status = DeliveryStatus.SCHEDULED.value
            delivery.next_attempt_at = now
            delivery.attempted_at = None
        elif row.status == Status.SENT.value:
            delivery.status = DeliveryStatus.SENT.value
            delivery.sent_at = row.sent_at
        elif row.status in (Status.FAILED.value, Status.EXPIRED.value):
            delivery.status = DeliveryStatus.FAILED.value
        else:
            if row.status in (Status.SUBMITTING.value, Status.CLAIMED.value):
                mail.unknown_outcome(row, now)
            log.warning("letter delivery %s: outcome unknown after a crash; for review",
                        delivery.public_id)
            delivery.status = DeliveryStatus.REVIEW.value
        delivery.lease_until = None
        delivery.updated_at = now
    session.flush()
    return len(stuck)


def release_held(session: SessionLike, now: dt.datetime) -> list[int]:
    """Held deliveries whose target has a verified channel again go back on the schedule."""
    released = []
    for delivery in session.scalars(select(LetterDelivery).where(
            LetterDelivery.status == DeliveryStatus.HELD.value)):
        target = delivery.target
        if sendable_email_channel(target) is None or delivery.mode not in \
                allowed_delivery_modes(target):
            continue
        delivery.status = DeliveryStatus.SCHEDULED.value
        delivery.next_attempt_at = schedule.allocate(session, target, now)
        delivery.updated_at = now
        released.append(delivery.id)
    session.flush()
    return released


def due_ids(session: SessionLike, now: dt.datetime, limit: int = 5000) -> list[int]:
    return list(session.scalars(
        select(LetterDelivery.id).where(
            LetterDelivery.status == DeliveryStatus.SCHEDULED.value,
            LetterDelivery.next_attempt_at <= now)
        .order_by(LetterDelivery.next_attempt_at, LetterDelivery.id).limit(limit)))


def review_list(session: SessionLike) -> list[LetterDelivery]:
    return list(session.scalars(select(LetterDelivery).where(
        LetterDelivery.status == DeliveryStatus.REVIEW.value).order_by(
        LetterDelivery.attempted_at)))


REVIEW_DECISIONS = ("delivered", "resend", "failed")


def resolve_review(session: SessionLike, delivery: LetterDelivery, decision: str,
                   actor: Organiser | None, now: dt.datetime | None = None) -> None:
    """An organiser decides about a letter whose outcome was unknown: it arrived (they
    checked with the institution), send it again, or give it up. Audited."""
    now = now or utcnow()
    if delivery.status != DeliveryStatus.REVIEW.value or decision not in REVIEW_DECISIONS:
        raise ValueError("not under review")
    row = session.get(OutgoingMessage, delivery.message_id) if delivery.message_id else None
    if decision == "delivered":
        delivery.status, delivery.sent_at = DeliveryStatus.SENT.value, delivery.attempted_at
        if row is not None:
            row.status, row.sent_at = Status.SENT.value, row.updated_at
    elif decision == "resend":
        delivery.status = DeliveryStatus.SCHEDULED.value
        delivery.next_attempt_at = schedule.allocate(session, delivery.target, now)
        if row is not None:
            row.status = Status.CANCELLED.value
    else:
        delivery.status = DeliveryStatus.FAILED.value
        if row is not None:
            row.status = Status.FAILED.value
    delivery.updated_at = now
    audit(session, f"letter.review_{decision}", actor=actor, object_type="letter_delivery",
          object_id=delivery.public_id, detail={"target": delivery.target.key})
    session.flush()
