"""Admin pages of the targets directory: list, target page, verification, organiser channels."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from campaign.admin.models import AuditEvent, Organiser, Role
from campaign.extensions import db
from campaign.targets import services as targets
from campaign.targets.models import ChannelState, Target, TargetChannel
from campaign.targets.spec import load_file
from tests.test_admin_login import csrf, make_organiser, sign_in
from tests.test_targets_import import SHIPPED


def setup(app: Flask, client: FlaskClient, role: Role) -> None:
    with app.app_context():
        targets.import_targets(db.session, load_file(SHIPPED))
        db.session.commit()
    secret = make_organiser(app, role=role)
    assert secret
    sign_in(client, secret)


def ids(app: Flask, key: str, channel_type: str = "email") -> tuple[str, str]:
    with app.app_context():
        target = db.session.scalar(select(Target).where(Target.key == key))
        assert target is not None
        channel = next(c for c in target.channels if c.type == channel_type and not c.retired)
        return target.public_id, channel.public_id


def channel_state(app: Flask, channel_id: str) -> str:
    with app.app_context():
        channel = db.session.scalar(select(TargetChannel).where(
            TargetChannel.public_id == channel_id))
        assert channel is not None
        return channel.state


def test_the_list_shows_each_institution_with_policies_and_channel_states(
    app: Flask, client: FlaskClient
) -> None:
    setup(app, client, Role.VIEWER)
    page = client.get("/admin/targets/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for heading in ("OSCE", "European Union", "United Nations"):
        assert f"<h2>{heading}</h2>" in html
    assert html.index("OSCE") < html.index("European Union") < html.index("United Nations")
    assert "Committee against Torture" in html and "Submissions only" in html
    assert "Email: unverified" in html
    assert 'href="/admin/targets/"' in html  # the "Targets" item of the admin navigation
    assert page.headers["Cache-Control"] == "no-store"


def test_the_target_page_shows_channels_and_plain_source_links(
    app: Flask, client: FlaskClient
) -> None:
    setup(app, client, Role.VIEWER)
    target_id, _ = ids(app, "un_wgad")
    html = client.get(f"/admin/targets/{target_id}").get_data(as_text=True)
    source = "http://www.ohchr.org/EN/Issues/Detention/Pages/Complaints.aspx"
    assert f'<a href="{source}" rel="noopener noreferrer">{source}</a>' in html
    assert "hrc-wg-ad@un.org" in html
    assert "No email channel is verified yet" in html
    assert "Mark verified" not in html  # a viewer sees no buttons
    assert "<script" not in html and "//fonts." not in html


def test_a_submissions_only_target_explains_why_supporters_cannot_write(
    app: Flask, client: FlaskClient
) -> None:
    setup(app, client, Role.VIEWER)
    with app.app_context():
        target = db.session.scalar(select(Target).where(Target.key == "un_cat"))
        assert target is not None
        target_id = target.public_id
    html = client.get(f"/admin/targets/{target_id}").get_data(as_text=True)
    assert 'id="why-not"' in html and "Supporters cannot write to this body" in html
    assert "Delivery modes an action may use:\n    none" in html


def test_an_admin_marks_a_channel_verified_and_the_audit_log_records_who(
    app: Flask, client: FlaskClient
) -> None:
    setup(app, client, Role.ADMIN)
    target_id, channel_id = ids(app, "un_sr_hrd")
    token = csrf(client, f"/admin/targets/{target_id}")
    response = client.post(f"/admin/targets/{target_id}/channels/{channel_id}/verify",
                           data={"csrf_token": token})
    assert response.status_code == 302
    assert channel_state(app, channel_id) == ChannelState.VERIFIED.value
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "target_channel.verified"))
        admin = db.session.scalars(select(Organiser)).one()
        assert event is not None and event.actor_id == admin.id and event.at is not None
        assert event.object_id == channel_id and event.ip_hash
    html = client.get(f"/admin/targets/{target_id}").get_data(as_text=True)
    assert "The channel is marked verified" in html and "last verified" in html
    assert "Letters by email go to the verified address hrc-sr-defenders@un.org" in html


def test_an_organiser_role_may_not_verify(app: Flask, client: FlaskClient) -> None:
    setup(app, client, Role.ORGANISER)
    target_id, channel_id = ids(app, "un_sr_hrd")
    token = csrf(client, f"/admin/targets/{target_id}")
    response = client.post(f"/admin/targets/{target_id}/channels/{channel_id}/verify",
                           data={"csrf_token": token})
    assert response.status_code == 403
    failing = client.post(f"/admin/targets/{target_id}/channels/{channel_id}/failing",
                          data={"csrf_token": token, f"failing-{channel_id}-reason": "x"})
    assert failing.status_code == 403
    assert channel_state(app, channel_id) == ChannelState.UNVERIFIED.value


def test_posting_without_a_csrf_token_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient
) -> None:
    setup(app, client, Role.ADMIN)
    target_id, channel_id = ids(app, "un_sr_hrd")
    response = client.post(f"/admin/targets/{target_id}/channels/{channel_id}/verify")
    assert response.status_code == 400
    assert "The form had expired" in response.get_data(as_text=True)
    assert channel_state(app, channel_id) == ChannelState.UNVERIFIED.value
    added = client.post(f"/admin/targets/{target_id}/channels", data={
        "type": "email", "value": "x@example.org", "source": "https://example.org/",
        "source_quality": "official"})
    assert added.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(AuditEvent).where(
            AuditEvent.action.like("target_channel.%"))) is None


def test_mark_failing_needs_a_reason_and_then_stops_sending(
    app: Flask, client: FlaskClient
) -> None:
    setup(app, client, Role.ADMIN)
    target_id, channel_id = ids(app, "un_sr_hrd")
    path = f"/admin/targets/{target_id}"
    token = csrf(client, path)
    client.post(f"{path}/channels/{channel_id}/verify", data={"csrf_token": token})
    empty = client.post(f"{path}/channels/{channel_id}/failing",
                        data={f"failing-{channel_id}-csrf_token": token,
                              f"failing-{channel_id}-reason": "   "})
    assert empty.status_code == 400
    assert "Please say why the channel is failing." in empty.get_data(as_text=True)
    assert channel_state(app, channel_id) == ChannelState.VERIFIED.value
    done = client.post(f"{path}/channels/{channel_id}/failing",
                       data={f"failing-{channel_id}-csrf_token": token,
                             f"failing-{channel_id}-reason": "Bounced: 550 no such user"})
    assert done.status_code == 302
    assert channel_state(app, channel_id) == ChannelState.FAILING.value
    html = client.get(path).get_data(as_text=True)
    assert "Bounced: 550 no such user" in html
    assert "No email channel is verified yet" in html


def test_an_organiser_adds_a_channel_that_starts_unverified(
    app: Flask, client: FlaskClient
) -> None:
    setup(app, client, Role.ORGANISER)
    with app.app_context():
        target = db.session.scalar(select(Target).where(Target.key == "osce_rfom"))
        assert target is not None
        target_id = target.public_id
    path = f"/admin/targets/{target_id}"
    html = client.get(path).get_data(as_text=True)
    for field in ("type", "value", "source", "source_quality"):
        assert re.search(rf'<label for="{field}">', html), field
    token = csrf(client, path)
    response = client.post(f"{path}/channels", data={
        "csrf_token": token, "type": "email", "value": "pm-fom@osce.org",
        "source": "https://www.osce.org/fom", "source_quality": "official"})
    assert response.status_code == 302
    with app.app_context():
        channel = db.session.scalar(select(TargetChannel).where(
            TargetChannel.value == "pm-fom@osce.org"))
        assert channel is not None and channel.origin == "organiser"
        assert channel.state == ChannelState.UNVERIFIED.value
    again = client.post(f"{path}/channels", data={
        "csrf_token": token, "type": "email", "value": "PM-FOM@osce.org",
        "source": "https://www.osce.org/fom", "source_quality": "official"})
    assert again.status_code == 400
    assert "This target already has this channel." in again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"type": "email", "value": "not an address", "source": "https://osce.org/",
          "source_quality": "official"}, "This value is not valid for the chosen type"),
        ({"type": "web_form", "value": "javascript:alert(1)", "source": "https://osce.org/",
          "source_quality": "official"}, "This value is not valid for the chosen type"),
        ({"type": "email", "value": "a@osce.org", "source": "ftp://osce.org/",
          "source_quality": "official"}, "The source must be the http(s) address"),
        ({"type": "fax", "value": "a@osce.org", "source": "https://osce.org/",
          "source_quality": "official"}, "Not a valid choice"),
        ({"type": "email", "value": "", "source": "https://osce.org/",
          "source_quality": "rumour"}, "Please enter the channel."),
        ({"type": "postal", "value": "x" * 600, "source": "https://osce.org/",
          "source_quality": "official"}, "Field cannot be longer than 500 characters."),
    ],
)
def test_bad_channel_input_gets_a_clear_error_and_400(
    app: Flask, client: FlaskClient, form: dict[str, str], message: str
) -> None:
    setup(app, client, Role.ADMIN)
    target_id, _ = ids(app, "osce_odihr", "postal")
    path = f"/admin/targets/{target_id}"
    token = csrf(client, path)
    response = client.post(f"{path}/channels", data={"csrf_token": token, **form})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert len(db.session.scalars(select(TargetChannel).where(
            TargetChannel.origin == "organiser")).all()) == 0


def test_unknown_or_foreign_ids_are_not_found(app: Flask, client: FlaskClient) -> None:
    setup(app, client, Role.ADMIN)
    target_id, _ = ids(app, "un_sr_hrd")
    _, other_channel = ids(app, "un_wgad")
    token = csrf(client, f"/admin/targets/{target_id}")
    assert client.get("/admin/targets/nope").status_code == 404
    foreign = client.post(f"/admin/targets/{target_id}/channels/{other_channel}/verify",
                          data={"csrf_token": token})
    assert foreign.status_code == 404
    assert channel_state(app, other_channel) == ChannelState.UNVERIFIED.value


def test_pages_render_in_russian_and_tajik(app: Flask, client: FlaskClient) -> None:
    setup(app, client, Role.ADMIN)
    target_id, _ = ids(app, "osce_odihr", "postal")
    for lang in ("ru", "tg"):
        client.set_cookie("lang", lang)
        with app.app_context():
            organiser = db.session.scalars(select(Organiser)).one()
            organiser.locale = lang
            db.session.commit()
        assert client.get("/admin/targets/").status_code == 200
        html = client.get(f"/admin/targets/{target_id}").get_data(as_text=True)
        if lang == "ru":
            assert "Бюро по демократическим институтам" in html


def test_signed_out_visitors_are_sent_to_the_login(app: Flask, client: FlaskClient) -> None:
    response = client.get("/admin/targets/")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_verifying_a_retired_channel_is_refused_with_400(app: Flask, client: FlaskClient) -> None:
    setup(app, client, Role.ADMIN)
    target_id, channel_id = ids(app, "un_wgad")
    with app.app_context():
        data = load_file(SHIPPED)
        next(e for e in data if e["key"] == "un_wgad")["channels"].pop(0)
        targets.import_targets(db.session, data)
        db.session.commit()
    assert channel_state(app, channel_id) == ChannelState.RETIRED.value
    token = csrf(client, f"/admin/targets/{target_id}")
    response = client.post(f"/admin/targets/{target_id}/channels/{channel_id}/verify",
                           data={"csrf_token": token})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "This channel has been retired" in html and "Retired channels" in html
    assert channel_state(app, channel_id) == ChannelState.RETIRED.value
