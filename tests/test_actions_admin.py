"""Organisers' action pages: the three-language editor with targets limited by their policy,
letters by status, target and day with a server-drawn chart, the formula-safe CSV export,
institutions' replies, and the review list."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from campaign.actions import delivery
from campaign.actions.models import Action, DeliveryStatus, LetterDelivery
from campaign.admin.models import AuditEvent, Role
from campaign.extensions import db
from campaign.mail.transport import MemoryTransport
from campaign.targets.models import Target
from tests.test_actions_flow import make_action, make_target, record_jobs, sign_and_confirm
from tests.test_admin_login import csrf, make_organiser, sign_in
from workers.letters import run_delivery


def signed_in(app: Flask, role: Role = Role.ORGANISER) -> FlaskClient:
    secret = make_organiser(app, role=role)
    assert secret
    client = app.test_client()
    sign_in(client, secret)
    return client


def editor_data(client: FlaskClient, path: str, **targets: str) -> dict[str, str]:
    data = {"csrf_token": csrf(client, path), "slug": "release-now", "goal": "50"}
    for code, title, subject, body in (
        ("en", "Release them", "Release {{ case_name }}",
         "Dear members,\n\nPlease act now for {{ case_name }}.\n\nThank you."),
        ("ru", "Освободите их", "Освободите: {{ case_name }}",
         "Уважаемые члены,\n\nПрошу действовать: {{ case_name }}.\n\nСпасибо."),
        ("tg", "Озод кунед", "Озод кунед: {{ case_name }}",
         "Муҳтарам аъзо,\n\nЛутфан барои {{ case_name }} чора андешед.\n\nТашаккур."),
    ):
        data.update({f"{code}-title": title, f"{code}-subject_0": subject,
                     f"{code}-body_0": body, f"{code}-introduction": "**Why** it matters."})
    data.update(targets)
    return data


def test_the_editor_limits_modes_by_policy_and_saves_three_languages(app: Flask) -> None:
    with app.app_context():
        letters = make_target("odihr_like", languages=("en", "ru"))
        treaty = make_target("treaty", policy_="submissions_only")
        un = make_target("un_like", policy_="digest_only")
        ids = {t.key: t.public_id for t in (letters, treaty, un)}
        db.session.commit()
    client = signed_in(app)
    page = client.get("/admin/actions/new").get_data(as_text=True)
    assert 'href="/admin/actions/"' in page  # the "Actions" item of the admin navigation
    row = page.split(f'id="t-{ids["treaty"]}"')[1].split("</tr>")[0]
    assert "Supporters cannot write to this body" in row and "disabled" in row
    un_row = page.split(f'id="t-{ids["un_like"]}"')[1].split("</tr>")[0]
    assert 'value="digest"' in un_row and 'value="individual"' not in un_row

    refused = client.post("/admin/actions/new", data=editor_data(
        client, "/admin/actions/new", **{f"mode-{ids['treaty']}": "individual"}))
    assert refused.status_code == 400
    assert "not allowed by the policy of treaty" in refused.get_data(as_text=True)
    refused = client.post("/admin/actions/new", data=editor_data(
        client, "/admin/actions/new", **{f"mode-{ids['un_like']}": "individual"}))
    assert refused.status_code == 400
    bad = editor_data(client, "/admin/actions/new", **{f"mode-{ids['odihr_like']}": "mailto"})
    bad["en-body_0"] = "See https://example.org/x for {{ config }}"
    assert client.post("/admin/actions/new", data=bad).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(Action.id)) is None

    saved = client.post("/admin/actions/new", data=editor_data(
        client, "/admin/actions/new", **{f"mode-{ids['odihr_like']}": "individual",
                                         f"mode-{ids['un_like']}": "digest",
                                         f"period-{ids['un_like']}": "weekly"}))
    assert saved.status_code == 302
    with app.app_context():
        action = db.session.scalars(select(Action)).one()
        assert {t.locale for t in action.texts} == {"en", "ru", "tg"}
        assert {(at.target.key, at.mode, at.digest_period) for at in action.targets} == {
            ("odihr_like", "individual", None), ("un_like", "digest", "weekly")}
        pid = action.public_id
    edit = client.get(f"/admin/actions/{pid}").get_data(as_text=True)
    assert "Муҳтарам аъзо" in edit and 'lang="tg"' in edit
    published = client.post(f"/admin/actions/{pid}/publish",
                            data={"csrf_token": csrf(client, f"/admin/actions/{pid}"),
                                  "published": "1"})
    assert published.status_code == 303
    public = app.test_client().get("/ru/actions/release-now")
    assert public.status_code == 200 and "Освободите их" in public.get_data(as_text=True)


def test_letters_page_chart_export_and_reply(app: Flask) -> None:
    record_jobs(app)
    app.extensions["campaign.transport"] = MemoryTransport()
    with app.app_context():
        body = make_target("body_one")
        make_action("counted", [(body, "individual", None)])
        db.session.commit()
    now = dt.datetime.now(dt.UTC)
    with app.test_request_context():
        sign_and_confirm("counted", "a@example.org", name="=1+2 Canary",
                         now=now - dt.timedelta(days=2))
        sign_and_confirm("counted", "b@example.org", name="@SUM(A1) Second",
                         now=now - dt.timedelta(days=1))
        sign_and_confirm("counted", "c@example.org", name="Третий Подписант", now=now)
        for delivery_id in db.session.scalars(select(LetterDelivery.id)).all():
            run_delivery(delivery_id, now)
        pid = db.session.scalars(select(Action.public_id)).one()
    client = signed_in(app)
    page = client.get(f"/admin/actions/{pid}/letters")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    svg = html.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert svg.count("<rect") == 3 and "http" not in re.sub(r'xmlns="[^"]+"', "", svg)
    assert "sent: 3" in html

    exported = client.post(f"/admin/actions/{pid}/export",
                           data={"csrf_token": csrf(client, f"/admin/actions/{pid}/letters")})
    assert exported.status_code == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["confirmed", "name", "city", "country", "language"]
    names = [r[1] for r in rows[1:]]
    assert names == ["'=1+2 Canary", "'@SUM(A1) Second", "Третий Подписант"]
    assert "@" not in ",".join(r[1] + r[2] for r in rows[1:] if not r[1].startswith("'"))
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "action.exported")).one()
        assert event.detail == {"rows": 3} and event.object_id == pid

    with app.app_context():
        at_pid = db.session.scalars(select(Action)).one().targets[0].public_id
    saved = client.post(f"/admin/actions/{pid}/targets/{at_pid}/reply",
                        data={"csrf_token": csrf(client, f"/admin/actions/{pid}/letters"),
                              f"{at_pid}-date": "2026-12-10",
                              f"{at_pid}-reference": "ODIHR/2026/117"})
    assert saved.status_code == 303
    public = app.test_client().get("/en/actions/counted").get_data(as_text=True)
    assert "ODIHR/2026/117" in public and "has replied" in public


def test_a_viewer_sees_but_cannot_change_or_export(app: Flask) -> None:
    with app.app_context():
        make_action("seen", [(make_target("body_one"), "individual", None)])
        pid = db.session.scalars(select(Action.public_id)).one()
        db.session.commit()
    client = signed_in(app, Role.VIEWER)
    assert client.get("/admin/actions/").status_code == 200
    assert client.get(f"/admin/actions/{pid}/letters").status_code == 200
    token = csrf(client, "/admin/actions/")
    assert client.post(f"/admin/actions/{pid}/export", data={"csrf_token": token}
                       ).status_code == 403
    assert client.post(f"/admin/actions/{pid}", data={"csrf_token": token}).status_code == 403
    assert client.get("/admin/actions/new").status_code == 403


def test_the_review_list_takes_an_organisers_decision(app: Flask) -> None:
    record_jobs(app)
    with app.app_context():
        make_action("reviewed", [(make_target("body_one"), "individual", None)])
        db.session.commit()
    with app.test_request_context():
        sign_and_confirm("reviewed", "a@example.org")
        row = db.session.scalars(select(LetterDelivery)).one()
        row.status = DeliveryStatus.REVIEW.value
        row.attempted_at = dt.datetime.now(dt.UTC)
        db.session.commit()
        delivery_pid = row.public_id
    client = signed_in(app)
    page = client.get("/admin/actions/").get_data(as_text=True)
    assert delivery_pid in page
    done = client.post(f"/admin/actions/review/{delivery_pid}",
                       data={"csrf_token": csrf(client, "/admin/actions/"),
                             "decision": "delivered"})
    assert done.status_code == 303
    with app.app_context():
        assert db.session.scalars(select(LetterDelivery)).one().status == DeliveryStatus.SENT
        assert delivery.review_list(db.session) == []
        assert db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "letter.review_delivered")) is not None
        assert db.session.scalars(select(Target)).first() is not None
