"""Alerts as organisers use them: the three-language editor, placeholders, previews, the test
send, the audience, the second organiser, progress; and a small send end to end (SQLite, the
in-process runner, the memory transport)."""

from __future__ import annotations

import re
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from campaign.admin.models import Role
from campaign.alerts import demo
from campaign.alerts.content import neutral_subject
from campaign.alerts.models import Alert, AlertDelivery, AlertText
from campaign.extensions import db
from campaign.mail.models import OutgoingMessage
from campaign.subscribers.models import Subscriber
from campaign.subscribers.services import unsubscribe
from tests.admin_support import Account, csrf, make_account, signed_in
from tests.conftest import wait_for_jobs
from tests.test_alerts_support import (
    SUBJECTS,
    add_subscribers,
    alert_of,
    make_alert,
    parse,
    send_now,
)


@pytest.fixture
def organiser(app: Flask) -> Account:
    return make_account(app, "organiser@example.org", Role.ORGANISER)


@pytest.fixture
def client(app: Flask, organiser: Account) -> FlaskClient:
    return signed_in(app, organiser)


def editor_data(token: str, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "csrf_token": token, "case": "", "audience": "all", "languages": ["en", "ru", "tg"],
        "missing_rule": "english",
        "en-subject": SUBJECTS["en"], "en-preheader": "Act today",
        "en-body": "Dear {{ name }},\n\nPlease **write** today.",
        "ru-subject": SUBJECTS["ru"], "ru-preheader": "",
        "ru-body": "Здравствуйте, {{ name }}!",
        "tg-subject": "", "tg-preheader": "", "tg-body": "",
    }
    data.update(changes)
    return data


def create_via_editor(client: FlaskClient, **changes: object) -> str:
    token = csrf(client, "/admin/alerts/new")
    response = client.post("/admin/alerts/new", data=editor_data(token, **changes))
    assert response.status_code == 302, response.get_data(as_text=True)
    match = re.search(r"/admin/alerts/([0-9a-f]{32})/edit", response.headers["Location"])
    assert match
    return match.group(1)


def test_the_editor_shows_three_languages_side_by_side_and_the_nav_item(
    client: FlaskClient,
) -> None:
    page = client.get("/admin/alerts/new").get_data(as_text=True)
    assert page.count('class="lang-col"') == 3
    for code in ("en", "ru", "tg"):
        assert f'name="{code}-subject"' in page and f'name="{code}-body"' in page
    assert "css/alerts.css" in page
    assert 'href="/admin/alerts/"' in client.get("/admin/").get_data(as_text=True)


def test_a_draft_is_saved_sanitised_with_a_badge_per_language(
    app: Flask, client: FlaskClient,
) -> None:
    pid = create_via_editor(client, **{
        "en-body": "Hi {{ name }} <script>alert(1)</script> [x](javascript:alert(1)) "
                   "![pixel](https://tracker.example/p.gif)"})
    with app.app_context():
        text = db.session.scalars(select(AlertText).where(AlertText.locale == "en")).one()
        assert "<script" not in text.body_html and 'href="javascript' not in text.body_html
        assert "<img" not in text.body_html and "tracker.example" not in text.body_html
    page = client.get(f"/admin/alerts/{pid}/edit").get_data(as_text=True)
    assert "badge-complete" in page and "badge-missing" in page


def test_unknown_placeholders_are_reported_and_block_sending(
    app: Flask, client: FlaskClient,
) -> None:
    pid = create_via_editor(client, **{"ru-body": "{{ config }} {{ name|safe }} {% for x in y %}"})
    page = client.get(f"/admin/alerts/{pid}/edit").get_data(as_text=True)
    for token in ("{{ config }}", "{{ name|safe }}", "{% for x in y %}"):
        assert token.replace("'", "&#39;") in page
    add_subscribers(app, 3)
    token = csrf(client, f"/admin/alerts/{pid}")
    refused = client.post(f"/admin/alerts/{pid}/send", data={"csrf_token": token})
    assert refused.status_code == 409
    assert alert_of(app, pid)["status"] == "draft"


def test_preview_is_the_exact_email_in_a_sandboxed_frame_with_its_own_policy(
    client: FlaskClient,
) -> None:
    pid = create_via_editor(client)
    page = client.get(f"/admin/alerts/{pid}/preview/ru")
    html = page.get_data(as_text=True)
    assert "<iframe" in html and " sandbox" in html
    assert f"/admin/alerts/{pid}/preview/ru/html" in html
    assert "Здравствуйте" in html  # the text part
    frame = client.get(f"/admin/alerts/{pid}/preview/ru/html")
    policy_header = frame.headers["Content-Security-Policy"]
    assert policy_header.startswith("default-src 'none'; style-src 'unsafe-inline'; img-src data:")
    assert "<script" not in frame.get_data(as_text=True)
    discreet = client.get(f"/admin/alerts/{pid}/preview/ru?discreet=1").get_data(as_text=True)
    assert SUBJECTS["ru"] not in discreet
    assert client.get(f"/admin/alerts/{pid}/preview/tg").status_code == 200  # says: no text


def test_audience_counts_per_language_and_the_missing_translation_rule(
    app: Flask, client: FlaskClient,
) -> None:
    add_subscribers(app, 9)  # three each of en, ru, tg; no Tajik text
    pid = create_via_editor(client)
    page = client.get(f"/admin/alerts/{pid}").get_data(as_text=True)
    assert "9 subscribers will receive this alert." in page
    assert "reaches 9; skipping them reaches 6." in page
    token = csrf(client, f"/admin/alerts/{pid}/edit")
    client.post(f"/admin/alerts/{pid}/edit", data=editor_data(token, missing_rule="skip"))
    page = client.get(f"/admin/alerts/{pid}").get_data(as_text=True)
    assert "6 subscribers will receive this alert." in page
    assert "nothing (no translation)" in page


def test_send_me_a_test_goes_to_the_organisers_own_address_through_the_ledger(
    app: Flask, client: FlaskClient, outbox,  # type: ignore[no-untyped-def]
) -> None:
    pid = create_via_editor(client)
    token = csrf(client, f"/admin/alerts/{pid}")
    response = client.post(f"/admin/alerts/{pid}/test", data={"csrf_token": token,
                                                              "locale": "ru"})
    assert response.status_code == 302
    wait_for_jobs(app)
    assert [to for _, to, _ in outbox.outbox] == ["organiser@example.org"]
    message = parse(outbox.outbox[0][2])
    assert SUBJECTS["ru"] in str(message["Subject"])
    with app.app_context():
        row = db.session.scalars(select(OutgoingMessage)).one()
        assert row.kind == "alert" and row.status == "sent"


def test_a_second_organiser_must_approve_and_the_requester_cannot(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(REQUIRE_SECOND_APPROVAL="1")
    first = signed_in(app, make_account(app, "first@example.org", Role.ORGANISER))
    second = signed_in(app, make_account(app, "second@example.org", Role.ORGANISER))
    add_subscribers(app, 3)
    pid = create_via_editor(first)
    token = csrf(first, f"/admin/alerts/{pid}")
    assert first.post(f"/admin/alerts/{pid}/send", data={"csrf_token": token}).status_code == 409
    first.post(f"/admin/alerts/{pid}/request-approval", data={"csrf_token": token})
    assert alert_of(app, pid)["status"] == "awaiting_approval"
    refused = first.post(f"/admin/alerts/{pid}/approve", data={"csrf_token": token})
    assert refused.status_code == 409 and alert_of(app, pid)["status"] == "awaiting_approval"
    token2 = csrf(second, f"/admin/alerts/{pid}")
    assert second.post(f"/admin/alerts/{pid}/approve",
                       data={"csrf_token": token2}).status_code == 302
    assert alert_of(app, pid)["status"] == "approved"
    assert first.post(f"/admin/alerts/{pid}/send", data={"csrf_token": token}).status_code == 302
    again = first.post(f"/admin/alerts/{pid}/send", data={"csrf_token": token},
                       follow_redirects=True)
    assert "already being sent" in again.get_data(as_text=True)
    wait_for_jobs(app)
    assert alert_of(app, pid)["status"] == "sent"
    assert sum(alert_of(app, pid)["counts"].values()) == 3


def test_a_viewer_sees_but_cannot_send_and_a_missing_csrf_token_changes_nothing(
    app: Flask, client: FlaskClient,
) -> None:
    pid = create_via_editor(client)
    add_subscribers(app, 3)
    viewer = signed_in(app, make_account(app, "viewer@example.org", Role.VIEWER))
    assert viewer.get(f"/admin/alerts/{pid}").status_code == 200
    token = csrf(viewer, f"/admin/alerts/{pid}/progress")
    assert viewer.post(f"/admin/alerts/{pid}/send", data={"csrf_token": token}).status_code == 403
    assert client.post(f"/admin/alerts/{pid}/send", data={}).status_code == 400
    assert alert_of(app, pid)["status"] == "draft"


def test_a_send_reaches_each_subscriber_once_in_their_language_with_the_right_headers(
    app: Flask, client: FlaskClient, outbox,  # type: ignore[no-untyped-def]
) -> None:
    made = add_subscribers(app, 12, discreet=lambda i: i == 4)
    pid = create_via_editor(client, **{"tg-subject": SUBJECTS["tg"],
                                       "tg-body": "Салом, {{ name }}!"})
    token = csrf(client, f"/admin/alerts/{pid}")
    first = client.post(f"/admin/alerts/{pid}/send", data={"csrf_token": token})
    second = client.post(f"/admin/alerts/{pid}/send", data={"csrf_token": token})
    assert first.status_code == second.status_code == 302
    wait_for_jobs(app)
    assert sorted(to for _, to, _ in outbox.outbox) == sorted(a for a, _ in made)
    language = dict(made)
    for _, to, data in outbox.outbox:
        message = BytesParser(policy=policy.strict).parsebytes(data)
        assert message["List-Unsubscribe"] and message["List-Id"] and message["Message-ID"]
        text = message.get_body(preferencelist=("plain",))
        assert text is not None and "Name" in text.get_content()  # {{ name }} filled in
        if to == made[4][0]:  # discreet: neutral sender and subject, no case, no preheader
            assert "Newsletter" in str(message["From"])
            with app.app_context():
                neutral = neutral_subject(language[to])  # in their language
            assert str(message["Subject"]) == neutral
        else:
            assert str(message["Subject"]) == SUBJECTS[language[to]]
    assert alert_of(app, pid)["status"] == "sent"
    page = client.get(f"/admin/alerts/{pid}/progress").get_data(as_text=True)
    assert "<progress" in page and "no open or click tracking" in page
    data = client.get(f"/admin/alerts/{pid}/progress.json").get_json()
    assert data["sent"] == 12 and data["final"] is True and data["by_locale"]["tg"]["sent"] == 4


def test_the_progress_page_updates_itself_with_a_same_origin_script_or_a_refresh(
    app: Flask, client: FlaskClient,
) -> None:
    add_subscribers(app, 3)
    pid = make_alert(app)
    app.extensions["campaign.runner"] = _Hold()  # nothing runs: the alert stays "sending"
    send_now(app, pid)
    page = client.get(f"/admin/alerts/{pid}/progress").get_data(as_text=True)
    assert '<script src="/static/js/alert-progress.js"></script>' in page
    assert "<script>" not in page and "<script nonce" not in page
    assert '<noscript><meta http-equiv="refresh"' in page
    assert f'data-url="/admin/alerts/{pid}/progress.json"' in page
    script = client.get("/static/js/alert-progress.js")
    assert script.status_code == 200
    script.close()


def test_an_unsubscribe_while_pending_means_nothing_is_sent_to_that_address(
    app: Flask, outbox,  # type: ignore[no-untyped-def]
) -> None:
    made = add_subscribers(app, 6)
    pid = make_alert(app)
    app.extensions["campaign.runner"] = _Hold()  # keep the jobs: rows stay pending
    send_now(app, pid)
    held = app.extensions["campaign.runner"].specs
    from workers import alerts as jobs_module

    with app.app_context():
        jobs_module.fan_out(held.pop(0).args[0])
        db.session.remove()
        gone = db.session.scalars(select(Subscriber).order_by(Subscriber.id)).first()
        assert gone is not None
        unsubscribe(db.session, gone, "test")
        db.session.commit()
        for spec in held:
            jobs_module.send_batch(*spec.args)
        db.session.remove()
    sent_to = [to for _, to, _ in outbox.outbox]
    assert made[0][0] not in sent_to and len(sent_to) == 5
    assert alert_of(app, pid)["counts"] == {"sent": 5, "cancelled": 1}


class _Hold:
    def __init__(self) -> None:
        self.specs: list = []  # type: ignore[type-arg]

    def enqueue(self, spec: object) -> None:
        self.specs.append(spec)


def test_the_demo_alert_is_a_draft_in_three_languages_and_seeding_twice_adds_nothing(
    app: Flask,
) -> None:
    with app.app_context():
        demo.seed()
        demo.seed()
        db.session.commit()
        alert = db.session.scalars(select(Alert)).one()
        assert alert.status == "draft"
        assert {t.locale for t in alert.texts} == {"en", "ru", "tg"}
        tajik = alert.text("tg")
        assert tajik is not None and set("ғӣқӯҳҷ") <= set(tajik.body)
        assert db.session.scalar(select(func.count()).select_from(AlertDelivery)) == 0


def test_the_batch_links_are_exactly_the_subscribers_own_links(app: Flask) -> None:
    from campaign.alerts.content import Links
    from campaign.subscribers.services import links

    add_subscribers(app, 3, locale=lambda i: ("tg", "ru", "en")[i])
    with app.app_context(), app.test_request_context():
        for subscriber in db.session.scalars(select(Subscriber)):
            expected = links(subscriber)
            made = Links().recipient(subscriber, "x")
            assert made.preferences_url == expected["preferences_url"]
            assert made.unsubscribe_url == expected["unsubscribe_url"]
            assert dict(made.language_urls) == expected["language_urls"]


def test_alerts_are_dkim_signed_when_a_key_is_configured(
    make_app: Callable[..., Flask], tmp_path: Path,
) -> None:
    import base64

    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "dkim.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    app = make_app(DKIM_SELECTOR="sel", DKIM_DOMAIN="campaign.example.org",
                   DKIM_KEY_FILE=str(tmp_path / "dkim.pem"))
    add_subscribers(app, 2)
    send_now(app, make_alert(app))
    wait_for_jobs(app)
    from workers.mail import transport

    with app.app_context():
        sent = transport().outbox  # type: ignore[attr-defined]
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    assert len(sent) == 2
    for _, _, data in sent:
        assert dkim.verify(data, dnsfunc=lambda name, timeout=5: record)


def test_cancel_stops_the_pending_rows_and_reconcile_leaves_them(app: Flask) -> None:
    from campaign.admin.models import Organiser
    from campaign.alerts import sending, services
    from workers import alerts as jobs_module

    add_subscribers(app, 5)
    pid = make_alert(app)
    app.extensions["campaign.runner"] = _Hold()
    send_now(app, pid)
    with app.app_context():
        jobs_module.fan_out(app.extensions["campaign.runner"].specs[0].args[0])
        alert = services.find(db.session, pid)
        who = db.session.scalars(select(Organiser)).first()
        assert alert is not None and who is not None
        assert sending.cancel(db.session, alert, who) == 5
        db.session.commit()
        jobs_module.reconcile_alerts()
    assert alert_of(app, pid)["counts"] == {"cancelled": 5}
    assert alert_of(app, pid)["status"] == "cancelled"


def test_temporary_failures_expire_at_the_retry_horizon(app: Flask) -> None:
    from datetime import UTC, datetime, timedelta

    from campaign.alerts import delivery
    from campaign.mail.transport import SendResult
    from workers import alerts as jobs_module

    add_subscribers(app, 1)
    pid = make_alert(app)
    app.extensions["campaign.runner"] = _Hold()
    send_now(app, pid)
    now = datetime.now(UTC)
    with app.app_context():
        jobs_module.fan_out(app.extensions["campaign.runner"].specs[0].args[0])
        row_id = db.session.scalars(select(AlertDelivery.id)).one()
        alert_id = alert_of(app, pid)["id"]
        # The first retry waits a minute: an hour-old row waits, a row 47h59m30s old expires.
        for age, expected in ((timedelta(hours=1), "pending"),
                              (timedelta(hours=47, minutes=59, seconds=30), "expired")):
            db.session.execute(AlertDelivery.__table__.update().values(
                status="pending", created_at=now - age, next_attempt_at=None, attempts=0))
            claimed = delivery.claim(db.session, alert_id, [row_id], now)
            rows = delivery.load(db.session, claimed)
            delivery.mark_submitting(db.session, claimed, now)
            delivery.record(db.session, alert_id,
                            [(rows[0], SendResult("retry", 451, "4.2.2", "mailbox full"))], now)
            db.session.commit()
            row = db.session.get(AlertDelivery, row_id)
            assert row is not None and row.status == expected
            db.session.expire_all()


def test_schedule_pause_resume_and_cancel_from_the_alert_pages(
    app: Flask, client: FlaskClient,
) -> None:
    add_subscribers(app, 3)
    pid = create_via_editor(client)
    token = csrf(client, f"/admin/alerts/{pid}")
    past = client.post(f"/admin/alerts/{pid}/schedule",
                       data={"csrf_token": token, "when": "2020-01-01T10:00"})
    assert past.status_code == 409 and alert_of(app, pid)["status"] == "draft"
    later = client.post(f"/admin/alerts/{pid}/schedule",
                        data={"csrf_token": token, "when": "2999-01-01T10:00"})
    assert later.status_code == 302 and alert_of(app, pid)["status"] == "scheduled"
    assert "2999-01-01 10:00" in client.get("/admin/alerts/").get_data(as_text=True)
    app.extensions["campaign.runner"] = _Hold()
    with app.app_context():
        db.session.execute(Alert.__table__.update().values(status="draft", scheduled_at=None))
        db.session.commit()
    client.post(f"/admin/alerts/{pid}/send", data={"csrf_token": token})
    assert alert_of(app, pid)["status"] == "sending"
    client.post(f"/admin/alerts/{pid}/pause", data={"csrf_token": token})
    assert alert_of(app, pid)["status"] == "paused"
    assert "Paused by an organiser." in client.get(
        f"/admin/alerts/{pid}/progress").get_data(as_text=True)
    client.post(f"/admin/alerts/{pid}/resume", data={"csrf_token": token})
    assert alert_of(app, pid)["status"] == "sending"
    client.post(f"/admin/alerts/{pid}/cancel", data={"csrf_token": token})
    assert alert_of(app, pid)["status"] == "cancelled"


def test_the_cli_lists_alerts_and_prints_progress(app: Flask) -> None:
    pid = make_alert(app)
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["campaign", "alerts"])
    assert pid in listed.output and "draft" in listed.output
    shown = runner.invoke(args=["campaign", "alert-progress", pid])
    assert '"status": "draft"' in shown.output


def test_a_batch_keeps_to_the_send_rate(make_app: Callable[..., Flask]) -> None:
    import time

    app = make_app(SEND_RATE="4")  # a bucket of 4 that refills at 4 per second
    add_subscribers(app, 8)
    started = time.monotonic()
    send_now(app, make_alert(app))
    wait_for_jobs(app)
    from workers.mail import transport

    with app.app_context():
        assert len(transport().outbox) == 8  # type: ignore[attr-defined]
    assert time.monotonic() - started >= 0.9  # four at once, then four more over a second


def test_a_change_after_approval_needs_a_new_approval(make_app: Callable[..., Flask]) -> None:
    app = make_app(REQUIRE_SECOND_APPROVAL="1")
    first = signed_in(app, make_account(app, "first@example.org", Role.ORGANISER))
    second = signed_in(app, make_account(app, "second@example.org", Role.ORGANISER))
    add_subscribers(app, 3)
    pid = create_via_editor(first)
    token = csrf(first, f"/admin/alerts/{pid}")
    first.post(f"/admin/alerts/{pid}/request-approval", data={"csrf_token": token})
    second.post(f"/admin/alerts/{pid}/approve",
                data={"csrf_token": csrf(second, f"/admin/alerts/{pid}")})
    assert alert_of(app, pid)["status"] == "approved"
    token = csrf(first, f"/admin/alerts/{pid}/edit")
    first.post(f"/admin/alerts/{pid}/edit",
               data=editor_data(token, **{"en-body": "A different text, {{ name }}."}))
    assert alert_of(app, pid)["status"] == "draft"
    refused = first.post(f"/admin/alerts/{pid}/send", data={"csrf_token": token})
    assert refused.status_code == 409 and alert_of(app, pid)["status"] == "draft"
    first.post(f"/admin/alerts/{pid}/request-approval", data={"csrf_token": token})
    assert alert_of(app, pid)["status"] == "awaiting_approval"
    assert first.post(f"/admin/alerts/{pid}/send",
                      data={"csrf_token": token}).status_code == 409  # the old yes is spent


def test_a_translator_changes_only_the_russian_and_tajik_text(
    app: Flask, client: FlaskClient,
) -> None:
    pid = create_via_editor(client)
    translator = signed_in(app, make_account(app, "translator@example.org", Role.TRANSLATOR))
    page = translator.get(f"/admin/alerts/{pid}/edit").get_data(as_text=True)
    assert 'name="tg-body"' in page and 'name="en-body"' not in page
    assert 'name="audience"' not in page
    token = csrf(translator, f"/admin/alerts/{pid}/edit")
    saved = translator.post(f"/admin/alerts/{pid}/edit", data={
        "csrf_token": token, "tg-subject": "Озодӣ", "tg-preheader": "",
        "tg-body": "Салом, {{ name }}!", "en-subject": "changed", "audience": "cases"})
    assert saved.status_code == 302
    with app.app_context():
        alert = db.session.scalars(select(Alert)).one()
        tajik, english = alert.text("tg"), alert.text("en")
        assert tajik is not None and tajik.subject == "Озодӣ"
        assert english is not None and english.subject == SUBJECTS["en"]
        assert alert.audience == "all"
    assert translator.get("/admin/alerts/new").status_code == 403


def test_retries_wait_longer_each_time_and_stop_at_the_horizon() -> None:
    from campaign.alerts import delivery

    waits = [delivery.retry_delay(attempts).total_seconds() for attempts in range(1, 30)]
    assert waits == sorted(waits) and waits[0] == 60 and waits[-1] > 100 * waits[0]
    # A relay that answers 4xx for two days is tried about a dozen times, then the row expires.
    elapsed, tries = 0.0, 0
    while elapsed < delivery.RETRY_HORIZON.total_seconds():
        elapsed += waits[tries]
        tries += 1
    assert 10 <= tries <= 20


def test_a_sent_alert_carries_no_tracker_no_remote_image_and_no_rewritten_link(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """What reaches a subscriber: the organiser's own links exactly as written (no redirect,
    no per-recipient parameter), the site's own links, and nothing that loads by itself."""
    import tests.test_alerts_support as support
    from workers.mail import transport

    source = "https://www.osce.org/odihr/case?id=7"
    monkeypatch.setitem(support.BODIES, "en", (
        f"Dear {{{{ name }}}},\n\nRead [the OSCE note]({source}) today.\n\n"
        "![pixel](https://evil.example/pixel.png) <img src=\"https://evil.example/p.gif\">"))
    add_subscribers(app, 3, locale=lambda i: "en")
    send_now(app, make_alert(app, locales=("en",)))
    wait_for_jobs(app)
    with app.app_context():
        sent = transport().outbox  # type: ignore[attr-defined]
    assert len(sent) == 3
    for _from, _to, data in sent:
        message = BytesParser(policy=policy.default).parsebytes(data)
        html_part = message.get_body(preferencelist=("html",))
        assert html_part is not None
        html = str(html_part.get_content())
        tags = _Tags()
        tags.feed(html)
        loading = {"img", "script", "iframe", "link", "object", "embed", "video", "audio"}
        assert not loading & {tag for tag, _ in tags.found}  # the raw <img> stays as text
        attributes = {name: value for _, attrs in tags.found for name, value in attrs}
        assert not {"src", "background", "srcset"} & set(attributes)
        assert not re.search(r"url\(|@import", html, re.I)
        links = {value for _, attrs in tags.found for name, value in attrs if name == "href"}
        organisers = {link for link in links
                      if not (link or "").startswith(("http://127.0.0.1:5000/", "mailto:"))}
        assert organisers == {source}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def test_sending_and_approving_ask_for_the_code_again_after_five_minutes(
    make_app: Callable[..., Flask],
) -> None:
    from tests.admin_support import age_totp, allow_next_code

    app = make_app(REQUIRE_SECOND_APPROVAL="1")
    first_account = make_account(app, "first@example.org", Role.ORGANISER)
    second_account = make_account(app, "second@example.org", Role.ORGANISER)
    first, second = signed_in(app, first_account), signed_in(app, second_account)
    add_subscribers(app, 3)
    pid = create_via_editor(first)
    token = csrf(first, f"/admin/alerts/{pid}")
    first.post(f"/admin/alerts/{pid}/request-approval", data={"csrf_token": token})
    token2 = csrf(second, f"/admin/alerts/{pid}")
    age_totp(second)  # signed in six minutes ago: a phished password and an old session
    asked = second.post(f"/admin/alerts/{pid}/approve", data={"csrf_token": token2})
    assert asked.status_code == 302 and asked.headers["Location"].startswith("/admin/reauth")
    assert alert_of(app, pid)["status"] == "awaiting_approval"
    allow_next_code(app, second_account)
    second.post(asked.headers["Location"], data={"csrf_token": token2,
                                                 "code": second_account.totp()})
    assert second.post(f"/admin/alerts/{pid}/approve",
                       data={"csrf_token": token2}).status_code == 302
    assert alert_of(app, pid)["status"] == "approved"
    age_totp(first)
    asked = first.post(f"/admin/alerts/{pid}/send", data={"csrf_token": token})
    assert asked.status_code == 302 and asked.headers["Location"].startswith("/admin/reauth")
    assert alert_of(app, pid)["status"] == "approved"  # nothing sent on a stale session
    allow_next_code(app, first_account)
    first.post(asked.headers["Location"], data={"csrf_token": token,
                                                "code": first_account.totp()})
    assert first.post(f"/admin/alerts/{pid}/send", data={"csrf_token": token}).status_code == 302
    wait_for_jobs(app)
    assert alert_of(app, pid)["status"] == "sent"
