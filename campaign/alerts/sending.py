"""Rules of sending an alert: send now, schedule, pause, resume, cancel, retry, test.

Functions flush and never commit; the view, command or job calling them owns the transaction,
and jobs are enqueued (``campaign.jobs``) only after it commits. Every state change is a
conditional update, so a double click, two organisers at once or a job run twice change the
state once: exactly one fan-out per alert.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from campaign import jobs
from campaign.admin import approvals
from campaign.admin import services as accounts
from campaign.admin.lockdown import lockdown_active
from campaign.admin.models import Organiser
from campaign.alerts import content, delivery
from campaign.alerts.models import Alert, AlertDelivery, AlertStatus, DeliveryStatus
from campaign.alerts.services import (
    APPROVAL_ACTION,
    AlertError,
    approval_required,
    case_of,
    check_sendable,
    is_approved,
    problems,
)
from campaign.db import SessionLike, utcnow
from campaign.mail import services as mail
from campaign.mail.models import Kind

# --- sending -----------------------------------------------------------------------------------


def _startable(session: SessionLike, alert: Alert) -> list[str]:
    if lockdown_active(session):
        raise AlertError("lockdown")
    check_sendable(session, alert)
    if approval_required():
        if not is_approved(session, alert):
            raise AlertError("needs_approval")
        return [AlertStatus.APPROVED.value, AlertStatus.AWAITING_APPROVAL.value]
    return [AlertStatus.DRAFT.value, AlertStatus.APPROVED.value]


def _use_approval(session: SessionLike, alert: Alert, organiser: Organiser | None,
                  approved_here: bool) -> None:
    """Mark the second organiser's approval used (it is good for one send). An alert
    approved on this page counts even if the approval record has expired since."""
    if not approval_required():
        return
    used = approvals.consume(session, action=APPROVAL_ACTION, object_type="alert",
                             object_id=alert.public_id, actor=organiser)
    if not used and not approved_here:
        raise AlertError("needs_approval")


def _to_sending(session: SessionLike, alert_id: int, from_states: Sequence[str],
                now: datetime, organiser_id: int | None, **extra: Any) -> bool:
    result = session.execute(update(Alert).where(
        Alert.id == alert_id, Alert.status.in_(list(from_states)),
    ).values(status=AlertStatus.SENDING.value, started_at=now, fanout_at=now, updated_at=now,
             pause_reason=None, sent_by=organiser_id, **extra)
        .execution_options(synchronize_session=False))
    return getattr(result, "rowcount", 0) == 1


def send_now(session: SessionLike, alert: Alert, organiser: Organiser,
             ip: str | None = None) -> bool:
    """Start sending. True for exactly one caller (a conditional update decides); the
    fan-out job is enqueued after the commit."""
    if alert.status in (AlertStatus.SENDING.value, AlertStatus.PAUSED.value,
                        AlertStatus.SENT.value):
        return False  # a second click: already under way
    states = _startable(session, alert)
    approved_here = alert.status == AlertStatus.APPROVED.value
    now = utcnow()
    if not _to_sending(session, alert.id, states, now, organiser.id):
        return False
    _use_approval(session, alert, organiser, approved_here)
    jobs.enqueue_alert_fan_out(session, alert.id)
    accounts.audit(session, "alert.send", actor=organiser, object_type="alert",
                   object_id=alert.public_id, ip=ip)
    session.refresh(alert)
    return True


def schedule(session: SessionLike, alert: Alert, when: datetime, organiser: Organiser,
             ip: str | None = None) -> None:
    """Send at ``when`` (UTC). Kept in the database: reconcile starts it when due."""
    states = _startable(session, alert)
    approved_here = alert.status == AlertStatus.APPROVED.value
    if when <= utcnow() + timedelta(seconds=30):
        raise AlertError("past")
    result = session.execute(update(Alert).where(
        Alert.id == alert.id, Alert.status.in_(states),
    ).values(status=AlertStatus.SCHEDULED.value, scheduled_at=when, updated_at=utcnow(),
             sent_by=organiser.id).execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        raise AlertError("state")
    _use_approval(session, alert, organiser, approved_here)
    accounts.audit(session, "alert.scheduled", actor=organiser, object_type="alert",
                   object_id=alert.public_id, detail={"at": when.isoformat()}, ip=ip)
    session.refresh(alert)


def start_due(session: SessionLike, now: datetime) -> list[int]:
    """Scheduled alerts whose time has come start sending (not during a lockdown)."""
    if lockdown_active(session):
        return []
    due = list(session.scalars(select(Alert.id).where(
        Alert.status == AlertStatus.SCHEDULED.value, Alert.scheduled_at <= now)))
    started = [a for a in due if _to_sending(session, a, [AlertStatus.SCHEDULED.value], now,
                                             None)]
    for alert_id in started:
        jobs.enqueue_alert_fan_out(session, alert_id)
    return started


def restart_stalled_fan_outs(session: SessionLike, now: datetime, stale: timedelta,
                             everything: bool) -> int:
    conditions = [Alert.status == AlertStatus.SENDING.value, Alert.fanout_done.is_(False),
                  or_(Alert.fanout_at.is_(None),
                      Alert.fanout_at < now - (delivery.QUIET if everything else stale))]
    stalled = list(session.scalars(select(Alert.id).where(*conditions)))
    for alert_id in stalled:
        session.execute(update(Alert).where(Alert.id == alert_id).values(fanout_at=now))
        jobs.enqueue_alert_fan_out(session, alert_id)
    return len(stalled)


def sending_alert_ids(session: SessionLike) -> list[int]:
    return list(session.scalars(select(Alert.id).where(
        Alert.status == AlertStatus.SENDING.value, Alert.fanout_done.is_(True))))


def _pending_ids(session: SessionLike, alert: Alert) -> list[int]:
    return list(session.scalars(select(AlertDelivery.id).where(
        AlertDelivery.alert_id == alert.id,
        AlertDelivery.status == DeliveryStatus.PENDING.value).order_by(AlertDelivery.id)))


def _change(session: SessionLike, alert: Alert, from_states: Sequence[str], to: str,
            **values: Any) -> None:
    result = session.execute(update(Alert).where(
        Alert.id == alert.id, Alert.status.in_(list(from_states)),
    ).values(status=to, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        raise AlertError("state")
    session.refresh(alert)


def pause(session: SessionLike, alert: Alert, organiser: Organiser, ip: str | None = None) -> None:
    """Running batches stop at their next group; untried rows stay pending."""
    _change(session, alert, [AlertStatus.SENDING.value], AlertStatus.PAUSED.value,
            pause_reason="organiser")
    accounts.audit(session, "alert.paused", actor=organiser, object_type="alert",
                   object_id=alert.public_id, ip=ip)


def resume(session: SessionLike, alert: Alert, organiser: Organiser,
           ip: str | None = None) -> None:
    if lockdown_active(session):
        raise AlertError("lockdown")
    _change(session, alert, [AlertStatus.PAUSED.value], AlertStatus.SENDING.value,
            pause_reason=None)
    delivery.enqueue_batches(session, alert.id, _pending_ids(session, alert))
    if not alert.fanout_done:
        jobs.enqueue_alert_fan_out(session, alert.id)
    accounts.audit(session, "alert.resumed", actor=organiser, object_type="alert",
                   object_id=alert.public_id, ip=ip)


def cancel(session: SessionLike, alert: Alert, organiser: Organiser,
           ip: str | None = None) -> int:
    """Nothing more goes out: pending rows are cancelled (rows in flight finish)."""
    before = [s.value for s in AlertStatus if s not in (AlertStatus.SENT, AlertStatus.CANCELLED)]
    _change(session, alert, before, AlertStatus.CANCELLED.value, finished_at=utcnow())
    cancelled = delivery.cancel(session, _pending_ids(session, alert), "cancelled", utcnow())
    accounts.audit(session, "alert.cancelled", actor=organiser, object_type="alert",
                   object_id=alert.public_id, detail={"rows": cancelled}, ip=ip)
    return cancelled


def retry_failed(session: SessionLike, alert: Alert, organiser: Organiser,
                 ip: str | None = None) -> int:
    """Failed (not bounced) and expired rows go again; bounced addresses stay suppressed and
    are cancelled at claim time anyway."""
    if alert.status not in (AlertStatus.SENT.value, AlertStatus.SENDING.value,
                            AlertStatus.PAUSED.value):
        raise AlertError("state")
    if lockdown_active(session):
        raise AlertError("lockdown")
    ids = list(session.scalars(select(AlertDelivery.id).where(
        AlertDelivery.alert_id == alert.id,
        AlertDelivery.status.in_([DeliveryStatus.FAILED.value, DeliveryStatus.EXPIRED.value]),
        or_(AlertDelivery.error.is_(None), AlertDelivery.error != "bounce"),
    ).order_by(AlertDelivery.id)))
    if not ids:
        return 0
    now = utcnow()
    delivery.set_rows(session, ids, (DeliveryStatus.FAILED.value, DeliveryStatus.EXPIRED.value),
                      status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=None,
                      error=None, updated_at=now, created_at=now)
    if alert.status == AlertStatus.SENT.value:
        _change(session, alert, [AlertStatus.SENT.value], AlertStatus.SENDING.value,
                finished_at=None)
    if alert.status == AlertStatus.SENDING.value:
        delivery.enqueue_batches(session, alert.id, ids)
    accounts.audit(session, "alert.retry", actor=organiser, object_type="alert",
                   object_id=alert.public_id, detail={"rows": len(ids)}, ip=ip)
    return len(ids)


def send_test(session: SessionLike, alert: Alert, organiser: Organiser, locale: str) -> None:
    """The message of one language to the signed-in organiser's own address, through the
    outgoing-mail ledger (the links in it point nowhere personal)."""
    text = alert.text(locale)
    if text is None or not text.complete:
        raise AlertError("no_text")
    if problems(session, alert):
        raise AlertError("placeholders")
    sample = content.sample_recipient(locale)
    recipient = content.Recipient(content.fallback_name(locale), sample.preferences_url,
                                  sample.unsubscribe_url, sample.language_urls)
    values = content.context(alert, locale, discreet=False, case=case_of(session, alert),
                             recipient=recipient)
    values["alert_subject"] = content.test_subject(locale, values["alert_subject"])
    mail.queue_message(
        session, template=content.TEMPLATE, to_address=accounts.email_of(organiser),
        locale=locale, context=values, kind=Kind.ALERT,
        dedupe_key=f"alert-test:{alert.public_id}:{locale}:{secrets.token_hex(8)}",
    )
    accounts.audit(session, "alert.test_sent", actor=organiser, object_type="alert",
                   object_id=alert.public_id, detail={"locale": locale})
