"""The reconcile step: recover rows of dead workers and enqueue what is due."""

from __future__ import annotations

import logging

from campaign import jobs
from campaign.db import utcnow
from campaign.extensions import db
from campaign.mail import services
from campaign.subscribers.services import purge_unconfirmed

log = logging.getLogger(__name__)


def reconcile() -> dict[str, int]:
    session = db.session
    now = utcnow()
    recovered = services.recover_expired(session, now)
    session.commit()
    purged = purge_unconfirmed(session, now)
    session.commit()
    due = services.due_ids(session, now)
    session.commit()
    for message_id in due:
        jobs.enqueue_now(jobs.JobSpec("workers.mail.send_message", (message_id,), "mail", 120))
    from workers.letters import reconcile_letters

    reconcile_letters(now)
    from workers.alerts import reconcile_alerts

    alerts = reconcile_alerts()  # alert deliveries, due schedules, stalled fan-outs
    if recovered or due or purged:
        log.info("reconcile: %d recovered, %d enqueued, %d unconfirmed sign-ups deleted",
                 recovered, len(due), purged)
    return {"recovered": recovered + alerts["recovered"],
            "enqueued": len(due) + alerts["enqueued"], "purged": purged}
