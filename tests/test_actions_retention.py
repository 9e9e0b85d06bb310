"""Retention: some time after an action closed, the volunteers' personal data is reduced to
counts; letters still on their way are kept and reported."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from campaign.actions import digests, services, stats
from campaign.actions.models import (
    Action,
    ActionTally,
    DeliveryStatus,
    Digest,
    Letter,
    LetterDelivery,
)
from campaign.extensions import db
from campaign.mail.models import OutgoingMessage
from campaign.mail.transport import MemoryTransport
from tests.test_actions_flow import count, make_action, make_target, record_jobs, sign_and_confirm
from workers.letters import run_delivery, run_digest

CANARY_NAME = "Zarina Retentioncanary"


def test_the_command_leaves_counts_and_no_personal_data(app: Flask, tmp_path: Path) -> None:
    record_jobs(app)
    app.extensions["campaign.transport"] = MemoryTransport()
    now = dt.datetime.now(dt.UTC)
    with app.app_context():
        individual = make_target("body_a")
        un_body = make_target("body_b", policy_="digest_only")
        held = make_target("body_c")
        make_action("old", [(individual, "individual", None), (un_body, "digest", "daily")])
        make_action("still-going", [(held, "individual", None)])
        db.session.commit()
    with app.test_request_context():
        for n in range(3):
            sign_and_confirm("old", f"canary{n}@example.org", name=CANARY_NAME,
                             now=now - dt.timedelta(days=120))
        sign_and_confirm("old", "pending@example.org", name=CANARY_NAME, confirm_it=False,
                         now=now - dt.timedelta(days=120))
        for delivery_id in db.session.scalars(select(LetterDelivery.id).where(
                LetterDelivery.status == DeliveryStatus.SCHEDULED.value)).all():
            assert run_delivery(delivery_id, now) == DeliveryStatus.SENT
        [digest] = digests.prepare(db.session, now)
        digests.approve(db.session, digest, None, now=now)
        db.session.commit()
        assert run_digest(digest.id, now) == "sent"
        # Another closed action: one letter's outcome is unknown (kept for the organiser's
        # decision, and said so); one never left for want of a verified address (cancelled).
        sign_and_confirm("still-going", "kept@example.org", now=now - dt.timedelta(days=120))
        sign_and_confirm("still-going", "held@example.org", now=now - dt.timedelta(days=120))
        review, held = db.session.scalars(select(LetterDelivery)).all()[-2:]
        review.status, held.status = DeliveryStatus.REVIEW.value, DeliveryStatus.HELD.value
        for action in db.session.scalars(select(Action)):
            action.closes_at = now - dt.timedelta(days=100)
        db.session.commit()

    result = app.test_cli_runner().invoke(args=["campaign", "reduce-action-data",
                                                "--older-than", "90"])
    assert result.exit_code == 0, result.output
    assert "unconfirmed letters deleted: 1" in result.output
    assert "confirmed letters reduced to counts: 4" in result.output
    assert "letters kept because still on their way: 1" in result.output
    assert "digests whose list of signers was removed: 1" in result.output

    with app.app_context():
        action = db.session.scalars(select(Action).where(Action.slug == "old")).one()
        assert action.reduced_at is not None
        assert count(app, Letter, Letter.action_id == action.id) == 0
        kept = db.session.scalars(select(LetterDelivery)).one()
        assert kept.status == DeliveryStatus.REVIEW
        assert db.session.scalar(select(func.count()).select_from(OutgoingMessage).where(
            OutgoingMessage.dedupe_key.like("letter%"))) == 1  # only the kept letter's
        other = db.session.scalars(select(Action).where(Action.slug == "still-going")).one()
        assert other.reduced_at is None
        assert stats.collect(db.session, other).by_target[0][1] == {"review": 1,
                                                                    "cancelled": 1}
        assert db.session.scalars(select(Digest)).one().body_enc is None
        assert services.confirmed_count(db.session, action) == 3
        collected = stats.collect(db.session, action)
        assert collected.confirmed == 3 and sum(n for _d, n in collected.by_day) == 3
        assert {at.target.key: c for at, c in collected.by_target} == {
            "body_a": {"sent": 3}, "body_b": {"sent": 3}}
        assert db.session.scalar(select(func.count()).select_from(ActionTally).where(
            ActionTally.action_id == action.id)) == 3
        db.session.remove()
        db.engine.dispose()
    # Nothing personal of the reduced action is left at rest, encrypted or not.
    connection = sqlite3.connect(tmp_path / "test.db")
    dump = "\n".join(connection.iterdump())
    connection.close()
    assert "Retentioncanary" not in dump and "canary0" not in dump
    # Running it again changes nothing and counts stay.
    again = app.test_cli_runner().invoke(args=["campaign", "reduce-action-data",
                                               "--older-than", "90"])
    assert "confirmed letters reduced to counts: 0" in again.output
    with app.app_context():
        action = db.session.scalars(select(Action).where(Action.slug == "old")).one()
        assert services.confirmed_count(db.session, action) == 3
