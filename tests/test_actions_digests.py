"""Digests: one letter per target and period, listing every confirmed signer once, prepared
as a draft, previewed and approved by an organiser, then sent (at most once)."""

from __future__ import annotations

import datetime as dt
import re

from flask import Flask
from sqlalchemy import select

from campaign.actions import digests
from campaign.actions.models import DeliveryStatus, Digest, DigestStatus, LetterDelivery
from campaign.admin.models import AuditEvent
from campaign.extensions import db
from campaign.mail.transport import MemoryTransport
from tests.test_actions_flow import make_action, make_target, record_jobs, sign_and_confirm
from tests.test_admin_login import csrf, make_organiser, sign_in
from workers.letters import run_digest

DAY1 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def setup_digest_action(app: Flask) -> None:
    with app.app_context():
        body = make_target("un_body", languages=("en", "fr", "es"), policy_="digest_only",
                           timezone="Europe/Zurich", address="un-body@example.org")
        make_action("digest", [(body, "digest", "daily")])
        db.session.commit()


def test_a_digest_holds_every_confirmed_signer_once_and_goes_after_approval(
    app: Flask
) -> None:
    recorder = record_jobs(app)
    outbox = MemoryTransport()
    app.extensions["campaign.transport"] = outbox
    setup_digest_action(app)
    names = [f"Signer {n} Canary" for n in range(7)]
    with app.test_request_context():
        for n, name in enumerate(names[:5]):  # day one
            sign_and_confirm("digest", f"s{n}@example.org", now=DAY1 + dt.timedelta(minutes=n),
                             name=name)
        sign_and_confirm("digest", "late@example.org", now=DAY1, name="Never Confirmed",
                         confirm_it=False)
        for n, name in enumerate(names[5:], start=5):  # day two
            sign_and_confirm("digest", f"s{n}@example.org",
                             now=DAY1 + dt.timedelta(days=1, hours=n), name=name)
        assert digests.prepare(db.session, DAY1 + dt.timedelta(hours=3)) == []  # not over yet
        made = digests.prepare(db.session, DAY1 + dt.timedelta(days=3))
        db.session.commit()
        assert [d.signer_count for d in made] == [5, 2]
        assert digests.prepare(db.session, DAY1 + dt.timedelta(days=4)) == []  # idempotent
        bodies = [digests.body_of(d) for d in made]
        for name in names:
            assert sum(body.count(name) for body in bodies) == 1
        assert "Never Confirmed" not in "".join(bodies)
        assert all(d.status == DigestStatus.DRAFT for d in made)
        # Nothing is sent before an organiser approves.
        assert "workers.letters.send_digest" not in recorder.names()
        assert run_digest(made[0].id, DAY1 + dt.timedelta(days=3)) == "not-due"
        assert outbox.outbox == []
        first_id = made[0].public_id

    secret = make_organiser(app)
    assert secret
    client = app.test_client()
    sign_in(client, secret)
    page = client.get(f"/admin/actions/digests/{first_id}").get_data(as_text=True)
    assert "Signer 0 Canary" in page and "un-body@example.org" in page
    assert client.post(f"/admin/actions/digests/{first_id}/approve",
                       data={"csrf_token": csrf(client, "/admin/actions/")}).status_code == 303
    assert "workers.letters.send_digest" in recorder.names()
    with app.app_context():
        digest = db.session.scalars(select(Digest).where(Digest.public_id == first_id)).one()
        assert digest.status == DigestStatus.APPROVED
        assert run_digest(digest.id, dt.datetime.now(dt.UTC)) == DigestStatus.SENT
        assert run_digest(digest.id, dt.datetime.now(dt.UTC)) == "not-due"
        listed = db.session.scalars(select(LetterDelivery).where(
            LetterDelivery.digest_id == digest.id)).all()
        assert len(listed) == 5 and {d.status for d in listed} == {DeliveryStatus.SENT}
        assert db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "digest.approved")) is not None
    [(_from, to_addr, data)] = outbox.outbox
    assert to_addr == "un-body@example.org"
    text = data.decode("ascii")
    assert re.search(r"^From: Pamir Solidarity <alerts@campaign\.example\.org>", text, re.M)
    assert "Reply-To" not in text.split("\r\n\r\n")[0]
    # A second approval of the same digest changes nothing.
    again = client.post(f"/admin/actions/digests/{first_id}/approve",
                        data={"csrf_token": csrf(client, "/admin/actions/")})
    assert again.status_code == 303
    assert len(outbox.outbox) == 1


def test_weekly_periods_start_on_monday_and_late_signers_wait_for_the_next_digest() -> None:
    assert digests.period_of("weekly", dt.date(2026, 12, 3)) == (dt.date(2026, 11, 30),
                                                                 dt.date(2026, 12, 7))
    assert digests.period_of("daily", dt.date(2026, 12, 3)) == (dt.date(2026, 12, 3),
                                                                dt.date(2026, 12, 4))
