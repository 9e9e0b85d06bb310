"""Delivering one ledger row: claim (committed), render, mark submitting (committed), send,
record the reply (committed). No row is ever sent without a committed claim."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app

from campaign.alerts import ratelimit
from campaign.db import utcnow
from campaign.extensions import db
from campaign.mail import services
from campaign.mail.models import OutgoingMessage
from campaign.mail.transport import Transport, transport_from_url
from config import Config

log = logging.getLogger(__name__)


def transport() -> Transport:
    existing: Transport | None = current_app.extensions.get("campaign.transport")
    if existing is None:
        config: Config = current_app.extensions["campaign.config"]
        existing = transport_from_url(config.smtp_url, str(config.maildir))
        current_app.extensions["campaign.transport"] = existing
    return existing


def send_message(message_id: int) -> str:
    session = db.session
    # The relay pause is shared with the alerts' workers (campaign.alerts.ratelimit): while
    # the relay refuses, transactional mail waits too instead of knocking every minute.
    relay = ratelimit.limiter()
    paused_for = relay.relay_paused_for()
    if paused_for > 0:
        services.defer(session, message_id, utcnow() + timedelta(seconds=paused_for))
        session.commit()
        return "relay-paused"
    if not services.claim(session, message_id, utcnow()):
        session.rollback()
        return "not-due"
    session.commit()
    row = session.get(OutgoingMessage, message_id)
    if row is None:  # pragma: no cover - the claim just saw it
        return "missing"
    try:
        data = services.compose(row)
    except Exception as exc:
        log.exception("message %s could not be rendered", row.public_id)
        services.record_failure(row, f"render: {exc.__class__.__name__}", utcnow())
        session.commit()
        return "render-failed"
    services.mark_submitting(row, utcnow())
    session.commit()
    config: Config = current_app.extensions["campaign.config"]
    with transport().connect() as connection:
        result = connection.send(config.return_path, services.recipient(row), data)
    now = utcnow()
    services.record_result(row, result, now)
    if result.outcome == "paused":
        pause = relay.pause_relay(services.RELAY_PAUSE.total_seconds())
        if pause:  # one line per episode, whichever worker starts it
            log.warning("relay paused for %ds: %s %s", pause, result.code, result.reply)
        wait = max(pause, relay.relay_paused_for(), services.RELAY_PAUSE.total_seconds())
        row.next_attempt_at = now + timedelta(seconds=wait)
    elif result.outcome == "sent":
        relay.relay_recovered()
    if result.suppress:
        # 5.1.x: the address does not exist. Nothing more goes to it until a new opt-in.
        from campaign.subscribers.models import SuppressionReason
        from campaign.subscribers.services import suppress_bounced

        suppress_bounced(session, row.to_index, SuppressionReason.BOUNCED)
    session.commit()
    log.info("message %s: %s %s", row.public_id, result.outcome, result.code)
    return result.outcome
