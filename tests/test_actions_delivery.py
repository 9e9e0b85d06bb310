"""Letters to institutions: only what the page offered, only to verified channels, within each
target's cap and office hours, at most once, and a bouncing address stops only itself."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import event, select

from campaign.actions import delivery, services
from campaign.actions.models import DeliveryStatus, Letter, LetterDelivery
from campaign.extensions import db
from campaign.mail import services as mail
from campaign.mail.models import Kind, OutgoingMessage, Status
from campaign.mail.transport import MemoryTransport
from campaign.targets import services as targets
from campaign.targets.models import ChannelState, Target, TargetChannel
from tests.conftest import wait_for_jobs
from tests.smtp_sink import SmtpSink
from tests.test_actions_flow import (
    confirm,
    confirm_path,
    count,
    form_of,
    make_action,
    make_target,
    messages,
    record_jobs,
    sign,
    sign_and_confirm,
    sink_fixture,  # noqa: F401  (a fixture)
    site_fixture,  # noqa: F401  (a fixture)
    text_of,
)
from tests.test_admin_login import make_organiser
from workers.letters import reconcile_letters, run_delivery

WARSAW = ZoneInfo("Europe/Warsaw")


def memory_transport(app: Flask) -> MemoryTransport:
    transport = MemoryTransport()
    app.extensions["campaign.transport"] = transport
    return transport


def two_actions(app: Flask) -> None:
    with app.app_context():
        body = make_target("body_one")
        other = make_target("body_two")
        mailto_body = make_target("body_three")
        unverified = make_target("body_four", verified=False)
        make_action("first", [(body, "individual", None), (mailto_body, "mailto", None),
                              (unverified, "individual", None)])
        make_action("second", [(other, "individual", None)])
        db.session.commit()


def at_id(app: Flask, slug: str, key: str) -> str:
    with app.app_context():
        action = services.by_slug(db.session, slug)
        assert action is not None
        return next(at.public_id for at in action.targets if at.target.key == key)


@pytest.mark.parametrize("tamper", [
    "other_action_target", "extra_target", "mailto_target", "unverified_target",
    "variant_out_of_range", "variant_not_a_number", "missing_body",
])
def test_tampered_hidden_fields_get_400_and_nothing_is_queued(site: Flask, sink: SmtpSink,
                                                              tamper: str) -> None:
    two_actions(site)
    foreign = at_id(site, "second", "body_two")
    targets_of: dict[str, Callable[[dict[str, object]], None]] = {
        "other_action_target": lambda d: d.update(target=[foreign]),
        "extra_target": lambda d: d.update(target=[*d["target"], foreign]),  # type: ignore[misc]
        "mailto_target": lambda d: d.update(target=[at_id(site, "first", "body_three")]),
        "unverified_target": lambda d: d.update(target=[at_id(site, "first", "body_four")]),
        "variant_out_of_range": lambda d: d.update(variant_tg="7"),
        "variant_not_a_number": lambda d: d.update(variant_tg="0 OR 1"),
        "missing_body": lambda d: d.pop("body_tg"),
    }
    status, _page = sign(site.test_client(), "en", "first", edit=targets_of[tamper])
    assert status == 400
    wait_for_jobs(site)
    assert count(site, Letter) == 0 and count(site, OutgoingMessage) == 0
    assert sink.messages == []


def test_the_page_offers_only_reachable_targets_and_says_which_are_not(site: Flask) -> None:
    two_actions(site)
    page = site.test_client().get("/en/actions/first").get_data(as_text=True)
    data = form_of(page)
    assert data["target"] == [at_id(site, "first", "body_one")]
    assert "cannot receive letters through this site right now" in page
    assert "Body body_four" in page.split("cannot receive letters")[1]
    assert "Send it from my own mail program" in page  # the mailto target


def test_no_letter_ever_goes_to_a_channel_that_is_not_verified(site: Flask,
                                                               sink: SmtpSink) -> None:
    recorder = record_jobs(site)
    with site.app_context():
        body = make_target("body_one", address="checked@example.org")
        make_action("first", [(body, "individual", None)])
        db.session.commit()
    with site.test_request_context():
        letter = sign_and_confirm("first", "one@example.org")
        delivery_id = db.session.scalars(select(LetterDelivery.id)).one()
        # Before the job runs, the channel is found wrong; someone adds another address.
        target = db.session.scalars(select(Target)).one()
        channel = targets.sendable_email_channel(target)
        assert channel is not None
        targets.mark_failing(db.session, channel, "the page no longer lists it")
        targets.add_channel(db.session, target, channel_type="email",
                            value="unchecked@example.org", source_url="https://example.org/y",
                            source_quality="secondary", organiser=None)
        db.session.commit()
        assert "workers.letters.send_letter" in recorder.names()
        assert run_delivery(delivery_id, letter.confirmed_at or dt.datetime.now(dt.UTC)) == "held"
        assert db.session.get(LetterDelivery, delivery_id).status == DeliveryStatus.HELD
        # Reconcile leaves it held while nothing is verified…
        assert reconcile_letters()["released"] == 0
        assert sink.messages == []
        # …and sends it, once, to the verified address when an organiser checks it.
        new = db.session.scalars(select(TargetChannel).where(
            TargetChannel.value == "unchecked@example.org")).one()
        targets.verify_channel(db.session, new, None)
        db.session.commit()
        assert reconcile_letters()["released"] == 1
        assert run_delivery(delivery_id, dt.datetime.now(dt.UTC)) == DeliveryStatus.SENT
        assert run_delivery(delivery_id, dt.datetime.now(dt.UTC)) == "not-due"
    assert [rcpts for _f, rcpts, _d in sink.messages] == [["unchecked@example.org"]]


def _no_sync_commits(connection: Any, record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("SET synchronous_commit TO OFF")
    cursor.close()
    connection.commit()


def _within_office_hours(moment: dt.datetime) -> bool:
    local = moment.astimezone(WARSAW)
    return local.isoweekday() <= 5 and dt.time(9) <= local.time() < dt.time(17)


def _max_per_rolling_hour(times: list[dt.datetime]) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= dt.timedelta(hours=1):
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.slow
def test_the_per_target_cap_holds_under_a_burst_of_500_confirmed_letters(
    make_app: Callable[..., Flask], db_url: str
) -> None:
    app = make_app(DATABASE_URL=db_url)
    if db_url.startswith("postgresql"):
        with app.app_context():  # thousands of commits: skip waiting for the disk in a test
            event.listen(db.engine, "connect", _no_sync_commits)
            db.engine.dispose()
    record_jobs(app)
    outbox = memory_transport(app)
    # Monday 30 November 2026, 07:00 UTC = 08:00 in Warsaw, an hour before the office opens.
    start = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)
    with app.app_context():
        body = make_target("capped", cap=10, timezone="Europe/Warsaw",
                           office=(dt.time(9), dt.time(17), [1, 2, 3, 4, 5]))
        make_action("burst", [(body, "individual", None)])
        db.session.commit()
    with app.test_request_context():
        action = services.by_slug(db.session, "burst")
        assert action is not None
        letters = [sign_and_confirm(action, f"v{i}@example.org", now=start, confirm_it=False,
                                    commit=False) for i in range(500)]
        db.session.commit()
        pending = [(letter.id, letter.confirm_nonce or "") for letter in letters]

    def confirm_some(chunk: list[tuple[int, str]]) -> None:  # concurrent confirmations
        from campaign.actions import signing

        with app.test_request_context():
            for letter_id, nonce in chunk:
                letter = db.session.get(Letter, letter_id)
                assert letter is not None
                signing.confirm(db.session, letter, nonce, now=start)
                db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=confirm_some, args=(pending[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with app.app_context():
        slots = sorted(db.session.scalars(select(LetterDelivery.next_attempt_at)).all())
        assert len(slots) == 500 and len(set(slots)) == 500
        assert all(b - a >= dt.timedelta(minutes=6) for a, b in itertools.pairwise(slots))
        assert all(_within_office_hours(slot) for slot in slots)
        assert slots[0] == dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)  # 09:00 in Warsaw

        # The worker was away for a day: everything due at once still goes out at 10/hour.
        now = dt.datetime(2026, 12, 1, 11, 0, tzinfo=dt.UTC)
        sent_at: list[dt.datetime] = []
        for _ in range(2000):
            due = delivery.due_ids(db.session, now)
            db.session.commit()
            for delivery_id in due:
                if run_delivery(delivery_id, now) == DeliveryStatus.SENT:
                    sent_at.append(now)
            remaining = db.session.scalars(
                select(LetterDelivery.next_attempt_at).where(
                    LetterDelivery.status == DeliveryStatus.SCHEDULED.value)
                .order_by(LetterDelivery.next_attempt_at).limit(1)).first()
            db.session.commit()
            if remaining is None:
                break
            now = max(remaining, now)
        assert len(sent_at) == 500 and len(outbox.outbox) == 500
        assert _max_per_rolling_hour(sent_at) <= 10
        assert all(_within_office_hours(moment) for moment in sent_at)


def test_a_bouncing_address_fails_its_channel_alerts_organisers_and_others_go_on(
    site: Flask, sink: SmtpSink
) -> None:
    make_organiser(site)
    with site.app_context():
        bad = make_target("bouncing", address="gone@example.org")
        good = make_target("fine", address="fine@example.org")
        make_action("both", [(bad, "individual", None), (good, "individual", None)])
        db.session.commit()
    sink.rcpt_reply = lambda address: (
        f"550 5.1.1 <{address}> user unknown" if address.startswith("gone@") else None)
    client = site.test_client()
    sign(client, "en", "both", email="volunteer@example.org")
    wait_for_jobs(site)
    assert confirm(client, confirm_path(messages(sink)[0])) == 303
    wait_for_jobs(site)
    rcpts = [r for _f, r, _d in sink.messages]
    assert ["fine@example.org"] in rcpts and ["gone@example.org"] not in rcpts
    assert ["organiser@example.org"] in rcpts
    alert = messages(sink)[rcpts.index(["organiser@example.org"])]
    assert "/admin/targets/" in text_of(alert)
    with site.app_context():
        channel = db.session.scalars(select(TargetChannel).where(
            TargetChannel.value == "gone@example.org")).one()
        assert channel.state == ChannelState.FAILING
        assert "volunteer" not in (channel.failure_note or "")
        assert "gone@" not in (channel.failure_note or "")
        statuses = {d.target.key: d.status for d in db.session.scalars(select(LetterDelivery))}
        assert statuses == {"bouncing": DeliveryStatus.FAILED, "fine": DeliveryStatus.SENT}
    page = site.test_client().get("/en/actions/both").get_data(as_text=True)
    assert form_of(page)["target"] == [at_id(site, "both", "fine")]


def test_a_crash_after_submitting_leaves_the_letter_for_review_never_resent(
    site: Flask
) -> None:
    recorder = record_jobs(site)
    outbox = memory_transport(site)
    with site.app_context():
        make_action("crash", [(make_target("crashy"), "individual", None)])
        db.session.commit()
    with site.test_request_context():
        sign_and_confirm("crash", "one@example.org")
        delivery_id = db.session.scalars(select(LetterDelivery.id)).one()
        now = dt.datetime.now(dt.UTC)
        # The worker claims, records the submission… and dies before the relay's answer.
        assert delivery.claim(db.session, delivery_id, now) == "claimed"
        db.session.commit()
        row = db.session.get(LetterDelivery, delivery_id)
        assert row is not None and delivery.start(db.session, row, now) is not None
        db.session.commit()
        later = now + dt.timedelta(minutes=10)
        mail.recover_expired(db.session, later)  # the general reconcile runs first
        db.session.commit()
        before = len(recorder.specs)
        reconcile_letters(later)
        row = db.session.get(LetterDelivery, delivery_id)
        assert row is not None and row.status == DeliveryStatus.REVIEW
        ledger = db.session.scalars(select(OutgoingMessage).where(
            OutgoingMessage.kind == Kind.LETTER.value)).one()
        assert ledger.status == Status.REVIEW
        assert ledger.id not in mail.due_ids(db.session, later + dt.timedelta(hours=1))
        assert run_delivery(delivery_id, later) == "not-due"
        assert "workers.letters.send_letter" not in recorder.names()[before:]
        assert outbox.outbox == []
        # An organiser decides to send it again: it goes once.
        delivery.resolve_review(db.session, row, "resend", None, now=later)
        db.session.commit()
        assert run_delivery(delivery_id, later) == DeliveryStatus.SENT
        assert len(outbox.outbox) == 1
