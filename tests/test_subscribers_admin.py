"""Organiser pages for subscribers: counts, the list, search, a subscriber's page, erasure and
export on request; who may see what; CSRF; the audit log keeps no personal data."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from campaign.admin.models import AuditEvent, Role
from campaign.cases.models import Case
from campaign.db import public_id
from campaign.extensions import db
from campaign.subscribers import admin_views, queries
from campaign.subscribers import services as subs
from campaign.subscribers.models import (
    Consent,
    Status,
    Subscriber,
    SubscriberEvent,
    Suppression,
)
from tests.admin_support import (
    Account,
    age_totp,
    csrf,
    find_csrf,
    make_account,
    routes,
    row_counts,
    signed_in,
)

CANARY = "canary.person@example.org"
CANARY_NAME = "Canaryname Гулноза"


# --- factories -------------------------------------------------------------------------------


def add_case(app: Flask, name: str) -> tuple[int, str]:
    with app.app_context():
        case = Case(name_en=name, published=True, consent_given=True)
        db.session.add(case)
        db.session.commit()
        return case.id, case.public_id


def add_subscriber(app: Flask, email: str, *, name: str = "", locale: str = "en",
                   status: Status = Status.ACTIVE, cases: tuple[int, ...] = ()) -> str:
    with app.app_context():
        subscriber = Subscriber(public_id=public_id(), status=status.value, locale=locale,
                                link_version=1)
        subs.set_email(subscriber, email)
        subs.set_name(subscriber, name)
        db.session.add(subscriber)
        db.session.flush()
        subs.set_follows(subscriber, not cases, cases)
        db.session.add(Consent(subscriber_id=subscriber.id, form="signup",
                               text_version=subs.CONSENT_VERSION, locale=locale))
        subs.record(db.session, subscriber, "confirmed")
        db.session.commit()
        return subscriber.public_id


@pytest.fixture
def people(app: Flask) -> dict[str, Any]:
    """A small list: the canary (Russian, follows case A), others in each language/status."""
    case_a, case_a_pid = add_case(app, "Case A")
    case_b, _pid = add_case(app, "Case B")
    canary = add_subscriber(app, CANARY, name=CANARY_NAME, locale="ru", cases=(case_a,))
    add_subscriber(app, "second@example.org", name="Second Person", locale="ru")
    add_subscriber(app, "third@example.org", locale="tg", cases=(case_b,))
    add_subscriber(app, "pending@example.org", status=Status.PENDING)
    add_subscriber(app, "left@example.org", locale="tg", status=Status.UNSUBSCRIBED)
    return {"canary": canary, "case_a": case_a, "case_a_pid": case_a_pid}


@pytest.fixture
def organiser(app: Flask) -> Account:
    return make_account(app, role=Role.ORGANISER)


@pytest.fixture
def signed(app: Flask, organiser: Account) -> FlaskClient:
    return signed_in(app, organiser)


def upload_csv(client: FlaskClient, text: str, *, mode: str = "attest",
               source: str = "petition", day: str = "2026-01-15", language: str = "en",
               filename: str = "list.csv") -> Any:
    token = csrf(client, "/admin/subscribers/import")
    data = {"csrf_token": token, "mode": mode, "language": language,
            "file": (io.BytesIO(text.encode("utf-8")), filename, "text/csv")}
    if mode == "attest":
        data.update(source=source, consent_date=day)
    return client.post("/admin/subscribers/import", data=data,
                       content_type="multipart/form-data")


def personal_strings() -> tuple[str, ...]:
    return (CANARY, "canary.person", "Canaryname", "second@example.org", "Second Person")


# --- counts and filters ----------------------------------------------------------------------


def test_counts_per_status_and_language_follow_the_filters(app: Flask,
                                                            people: dict[str, Any]) -> None:
    with app.app_context():
        assert queries.counts(db.session) == {
            "active": {"ru": 2, "tg": 1}, "pending": {"en": 1}, "unsubscribed": {"tg": 1}}
        assert queries.counts(db.session, queries.Filters(locale="tg")) == {
            "active": {"tg": 1}, "unsubscribed": {"tg": 1}}
        assert queries.counts(db.session, queries.Filters(status="active", locale="ru")) == {
            "active": {"ru": 2}}
        assert queries.counts(db.session, queries.Filters(case_id=people["case_a"])) == {
            "active": {"ru": 1}}
    viewer = signed_in(app, make_account(app, role=Role.VIEWER))
    page = viewer.get("/admin/subscribers/?language=ru").get_data(as_text=True)
    assert re.search(r"<th scope=\"row\">active</th>(<td>\d+</td>)*", page)
    totals = re.search(r"Total</th>((?:<td>\d+</td>)+)", page)
    assert totals and re.findall(r"\d+", totals.group(1)) == ["0", "2", "0", "2"]
    filtered = viewer.get(f"/admin/subscribers/?case={people['case_a_pid']}&status=bogus")
    assert filtered.status_code == 200  # an unknown status is ignored, the case applies
    assert re.findall(r"\d+", re.search(r"Total</th>((?:<td>\d+</td>)+)",
                                        filtered.get_data(as_text=True)).group(1)) == [
        "0", "1", "0", "1"]


def test_a_viewer_sees_no_address_on_any_page_it_can_open(app: Flask,
                                                          people: dict[str, Any]) -> None:
    viewer = signed_in(app, make_account(app, role=Role.VIEWER))
    opened = 0
    for route in routes(app):
        if "GET" not in route.methods or not route.url.startswith("/admin"):
            continue
        url = route.url.replace(route.url.rsplit("/", 1)[-1], people["canary"]) \
            if route.endpoint == "admin_subscribers.detail" else route.url
        for query in ("", "?language=ru", f"?case={people['case_a_pid']}"):
            response = viewer.get(url + query)
            html = response.get_data(as_text=True)
            for secret in personal_strings():
                assert secret not in html, (route.endpoint, response.status_code)
            opened += response.status_code == 200
    assert opened >= 3
    for path in ("/admin/subscribers/list", "/admin/subscribers/search",
                 "/admin/subscribers/import", f"/admin/subscribers/{people['canary']}"):
        assert viewer.get(path).status_code == 403, path
    token = find_csrf(viewer.get("/admin/subscribers/").get_data(as_text=True))
    for path in ("/admin/subscribers/export", f"/admin/subscribers/{people['canary']}/export",
                 f"/admin/subscribers/{people['canary']}/erase", "/admin/subscribers/search"):
        assert viewer.post(path, data={"csrf_token": token, "email": CANARY,
                                       "erase-sure": "y"}).status_code == 403, path


def test_translator_role_is_refused_the_rows_too(app: Flask, people: dict[str, Any]) -> None:
    translator = signed_in(app, make_account(app, role=Role.TRANSLATOR))
    assert translator.get("/admin/subscribers/").status_code == 200
    assert translator.get("/admin/subscribers/list").status_code == 403


# --- the list --------------------------------------------------------------------------------


def test_the_list_is_paginated_and_decrypts_only_the_page_shown(
        app: Flask, signed: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(admin_views.PER_PAGE + 7):
        add_subscriber(app, f"person{i:03d}@example.org", locale="tg")
    calls: list[str] = []
    original = subs.email_of

    def counting(subscriber: Subscriber) -> str:
        calls.append(subscriber.public_id)
        return original(subscriber)

    monkeypatch.setattr(subs, "email_of", counting)
    first = signed.get("/admin/subscribers/list?language=tg").get_data(as_text=True)
    assert len(calls) == admin_views.PER_PAGE
    assert "person056@example.org" in first and "person000@example.org" not in first
    assert "Page 1 of 2" in first and "page=2" in first
    calls.clear()
    second = signed.get("/admin/subscribers/list?language=tg&page=2").get_data(as_text=True)
    assert len(calls) == 7 and "person000@example.org" in second
    assert signed.get("/admin/subscribers/list?page=99").status_code == 200


def test_the_list_filters_by_status_language_and_case(
        app: Flask, signed: FlaskClient, people: dict[str, Any]) -> None:
    by_case = signed.get(f"/admin/subscribers/list?case={people['case_a_pid']}")
    html = by_case.get_data(as_text=True)
    assert CANARY in html and "second@example.org" not in html
    pending = signed.get("/admin/subscribers/list?status=pending").get_data(as_text=True)
    assert "pending@example.org" in pending and CANARY not in pending
    tajik = signed.get("/admin/subscribers/list?language=tg&status=unsubscribed")
    assert "left@example.org" in tajik.get_data(as_text=True)
    assert "third@example.org" not in tajik.get_data(as_text=True)


# --- search ----------------------------------------------------------------------------------


def test_exact_search_goes_through_the_blind_index(
        app: Flask, signed: FlaskClient, people: dict[str, Any]) -> None:
    token = csrf(signed, "/admin/subscribers/search")
    found = signed.post("/admin/subscribers/search",
                        data={"csrf_token": token, "email": "  Canary.Person@EXAMPLE.org "})
    assert found.status_code == 302
    assert found.headers["Location"].endswith(f"/admin/subscribers/{people['canary']}")
    assert CANARY not in found.headers["Location"]
    partial = signed.post("/admin/subscribers/search",
                          data={"csrf_token": token, "email": "canary@example.org"})
    assert partial.status_code == 200 and "Nobody on the list" in partial.get_data(as_text=True)
    invalid = signed.post("/admin/subscribers/search",
                          data={"csrf_token": token, "email": "not an address"})
    assert invalid.status_code == 400


# --- a subscriber's page ---------------------------------------------------------------------


def test_a_subscribers_page_shows_consents_follows_and_history(
        app: Flask, signed: FlaskClient, people: dict[str, Any]) -> None:
    page = signed.get(f"/admin/subscribers/{people['canary']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert CANARY in html and CANARY_NAME in html
    assert "Case A" in html and "Case B" not in html
    assert subs.CONSENT_VERSION in html and "confirmed the subscription" in html
    assert signed.get(f"/admin/subscribers/{public_id()}").status_code == 404


def test_erase_on_request_leaves_only_the_suppression(
        app: Flask, signed: FlaskClient, people: dict[str, Any]) -> None:
    pid = people["canary"]
    with app.app_context():
        sid = subs.find_by_public_id(db.session, pid).id  # type: ignore[union-attr]
    token = csrf(signed, f"/admin/subscribers/{pid}")
    unsure = signed.post(f"/admin/subscribers/{pid}/erase", data={"csrf_token": token})
    assert unsure.status_code == 400
    with app.app_context():
        assert subs.find_by_public_id(db.session, pid) is not None
    done = signed.post(f"/admin/subscribers/{pid}/erase",
                       data={"csrf_token": token, "erase-sure": "y"})
    assert done.status_code == 302
    with app.app_context():
        assert subs.find_by_public_id(db.session, pid) is None
        assert db.session.scalar(select(Suppression.reason).where(
            Suppression.email_index == subs.email_index(CANARY))) == "erased"
        for model in (SubscriberEvent, Consent):
            assert db.session.scalar(select(model).where(model.subscriber_id == sid)) is None
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "subscriber.erased")).one()
        assert event.object_id is None and event.detail == {}


def test_export_on_request_is_json_audited_and_needs_a_fresh_code(
        app: Flask, signed: FlaskClient, people: dict[str, Any]) -> None:
    pid = people["canary"]
    token = csrf(signed, f"/admin/subscribers/{pid}")
    response = signed.post(f"/admin/subscribers/{pid}/export", data={"csrf_token": token})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["email"] == CANARY and data["name"] == CANARY_NAME
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "subscriber.exported")).one()
        assert event.object_id == pid
    age_totp(signed)
    stale = signed.post(f"/admin/subscribers/{pid}/export", data={"csrf_token": token},
                        headers={"Referer": f"http://localhost/admin/subscribers/{pid}"})
    assert stale.status_code == 302 and "/admin/reauth" in stale.headers["Location"]


# --- CSRF and the audit log ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/subscribers/{pid}/erase",
                                  "/admin/subscribers/{pid}/export",
                                  "/admin/subscribers/export", "/admin/subscribers/search",
                                  "/admin/subscribers/import"])
def test_a_post_without_csrf_token_is_refused_and_changes_nothing(
        app: Flask, signed: FlaskClient, people: dict[str, Any], path: str) -> None:
    before = row_counts(app)
    response = signed.post(path.format(pid=people["canary"]),
                           data={"erase-sure": "y", "email": CANARY, "mode": "opt-in"})
    assert response.status_code == 400
    assert row_counts(app) == before


def test_audit_entries_hold_counts_and_public_ids_only(
        app: Flask, signed: FlaskClient, people: dict[str, Any]) -> None:
    token = csrf(signed, "/admin/subscribers/")
    signed.post("/admin/subscribers/export", data={"csrf_token": token, "language": "ru"})
    upload_csv(signed, f"email,name\n{CANARY},{CANARY_NAME}\nnew.canary@example.org,Canaryname\n",
           mode="attest")
    signed.post(f"/admin/subscribers/{people['canary']}/export", data={"csrf_token": token})
    signed.post(f"/admin/subscribers/{people['canary']}/erase",
                data={"csrf_token": token, "erase-sure": "y"})
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action.like("subscriber%"))).all()
        assert {e.action for e in events} == {"subscribers.exported", "subscribers.imported",
                                              "subscriber.exported", "subscriber.erased"}
        exported = next(e for e in events if e.action == "subscribers.exported")
        assert exported.detail == {"rows": 2} and exported.object_id == "*:ru:*"
        imported = next(e for e in events if e.action == "subscribers.imported")
        assert imported.detail["outcomes"] == {"already-subscribed": 1, "ok-attested": 1}
        dump = json.dumps([[e.action, e.object_id, e.detail] for e in events],
                          ensure_ascii=False).lower()
    for secret in (*personal_strings(), "new.canary", "canaryname"):
        assert secret.lower() not in dump
