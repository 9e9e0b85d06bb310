"""How far an alert has got: counts by language and state, the send rate, time left, the
failures and their reasons. Read-only. There is no open or click tracking: "sent" means the
relay accepted the message, nothing more is known, by design."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from campaign.alerts.models import Alert, AlertDelivery, DeliveryStatus
from campaign.db import SessionLike, utcnow
from campaign.i18n import LOCALES

RATE_WINDOW = timedelta(seconds=60)
FINAL_STATES = ("sent", "cancelled")


@dataclass
class Counts:
    total: int = 0
    sent: int = 0
    pending: int = 0  # pending, claimed and submitting
    failed: int = 0  # failed and expired
    cancelled: int = 0

    def add(self, status: str, n: int) -> None:
        self.total += n
        if status == DeliveryStatus.SENT.value:
            self.sent += n
        elif status in (DeliveryStatus.FAILED.value, DeliveryStatus.EXPIRED.value):
            self.failed += n
        elif status == DeliveryStatus.CANCELLED.value:
            self.cancelled += n
        else:
            self.pending += n

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.cancelled

    def as_dict(self) -> dict[str, int]:
        return {"total": self.total, "sent": self.sent, "pending": self.pending,
                "failed": self.failed, "cancelled": self.cancelled, "done": self.done}


@dataclass
class Progress:
    status: str
    fanout_done: bool
    all: Counts
    by_locale: dict[str, Counts] = field(default_factory=dict)
    rate: float = 0.0  # messages per second over the last minute
    seconds_left: int | None = None
    possible_duplicates: int = 0
    pause_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "fanout_done": self.fanout_done,
            "final": self.status in FINAL_STATES,
            **self.all.as_dict(),
            "all": self.all.as_dict(),
            "by_locale": {code: c.as_dict() for code, c in self.by_locale.items()},
            "rate": round(self.rate, 1),
            "seconds_left": self.seconds_left,
            "possible_duplicates": self.possible_duplicates,
            "pause_reason": self.pause_reason,
        }


def progress(session: SessionLike, alert: Alert) -> Progress:
    now = utcnow()
    rows = session.execute(
        select(AlertDelivery.locale, AlertDelivery.status, func.count())
        .where(AlertDelivery.alert_id == alert.id)
        .group_by(AlertDelivery.locale, AlertDelivery.status)
    ).all()
    result = Progress(alert.status, alert.fanout_done, Counts(),
                      {code: Counts() for code in LOCALES},
                      possible_duplicates=alert.possible_duplicates,
                      pause_reason=alert.pause_reason)
    for locale, status, n in rows:
        result.all.add(status, int(n))
        result.by_locale.setdefault(locale, Counts()).add(status, int(n))
    result.by_locale = {k: v for k, v in result.by_locale.items() if v.total}
    recent = session.scalar(
        select(func.count()).select_from(AlertDelivery).where(
            AlertDelivery.alert_id == alert.id,
            AlertDelivery.status == DeliveryStatus.SENT.value,
            AlertDelivery.sent_at >= now - RATE_WINDOW,
        )
    ) or 0
    started = alert.started_at
    window = RATE_WINDOW.total_seconds()
    if started is not None and now - started < RATE_WINDOW:
        window = max((now - started).total_seconds(), 1.0)
    result.rate = int(recent) / window
    if result.all.pending and result.rate > 0:
        result.seconds_left = int(result.all.pending / result.rate) + 1
    return result


@dataclass(frozen=True)
class Failure:
    locale: str
    error: str
    code: int | None
    reply: str
    count: int


def failures(session: SessionLike, alert: Alert, limit: int = 50) -> list[Failure]:
    """Failed and expired rows grouped by language, reason and (scrubbed) server reply."""
    rows = session.execute(
        select(AlertDelivery.locale, AlertDelivery.error, AlertDelivery.last_code,
               AlertDelivery.last_reply, func.count())
        .where(AlertDelivery.alert_id == alert.id,
               AlertDelivery.status.in_([DeliveryStatus.FAILED.value,
                                         DeliveryStatus.EXPIRED.value]))
        .group_by(AlertDelivery.locale, AlertDelivery.error, AlertDelivery.last_code,
                  AlertDelivery.last_reply)
        .order_by(func.count().desc())
        .limit(limit)
    ).all()
    return [Failure(loc, err or "rejected", code, reply or "", int(n))
            for loc, err, code, reply, n in rows]
