"""Admin pages of the targets directory: the list, a target with its channels, verification.

Views parse the request, call one service, commit once and redirect; the rules live in
``campaign.targets.services``.
"""

from __future__ import annotations

from typing import Any

from babel.dates import get_day_names
from flask import Blueprint, Flask, abort, flash, g, redirect, render_template, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from campaign.admin import auth, nav
from campaign.admin.nav import NavItem
from campaign.admin.permissions import Permission, allowed
from campaign.extensions import db
from campaign.netutil import client_ip
from campaign.targets import labels
from campaign.targets import services as targets
from campaign.targets.forms import ActionForm, ChannelForm, FailingForm
from campaign.targets.models import Target, TargetChannel

NAME = "admin_targets"


def _locale() -> str:
    locale = get_locale()
    return locale.language if locale is not None else "en"


def _day_names() -> list[str]:
    """Abbreviated weekday names in the page's language, Monday first (ISO day 1)."""
    names = get_day_names("abbreviated", locale=get_locale() or "en")
    return [str(names[i]) for i in range(7)]


def _target_or_404(target_id: str) -> Target:
    target = targets.find_target(db.session, target_id)
    if target is None:
        abort(404)
    return target


def _channel_or_404(target: Target, channel_id: str) -> TargetChannel:
    channel = targets.find_channel(db.session, channel_id)
    # A channel id from another target's page (or a tampered form) is simply not found here.
    if channel is None or channel.target_id != target.id:
        abort(404)
    return channel


def _failing_form(channel: TargetChannel) -> FailingForm:
    return FailingForm(prefix=f"failing-{channel.public_id}")


def _detail(target: Target, status: int = 200, *, channel_form: ChannelForm | None = None,
            failing: FailingForm | None = None, failing_for: str | None = None) -> Any:
    role = g.organiser.role
    failing_forms: dict[str, FlaskForm] = {}
    for channel in target.channels:
        if channel.retired:
            continue
        failing_forms[channel.public_id] = (
            failing if failing is not None and channel.public_id == failing_for
            else _failing_form(channel)
        )
    live = [c for c in target.channels if not c.retired]
    retired = [c for c in target.channels if c.retired]
    return render_template(
        "admin/targets/detail.html",
        target=target,
        name=target.name(_locale()),
        live=live,
        retired=retired,
        modes=sorted(targets.allowed_delivery_modes(target)),
        sendable=targets.sendable_email_channel(target),
        reason=labels.not_selectable_reason(target),
        can_verify=allowed(role, Permission.VERIFY_TARGETS),
        can_edit=allowed(role, Permission.EDIT_CONTENT),
        failing_forms=failing_forms,
        channel_form=channel_form or ChannelForm(),
        labels=labels,
        day_names=_day_names(),
    ), status


def _add_nav_item(state: BlueprintSetupState) -> None:
    if isinstance(state.app, Flask):  # always, in this project
        nav.add(state.app, NavItem(f"{NAME}.index", _l("Targets"), Permission.VIEW, order=60))


def create_blueprints() -> list[Blueprint]:
    bp = Blueprint(NAME, __name__, url_prefix="/admin/targets")
    bp.before_request(auth.load_organiser)
    bp.record_once(_add_nav_item)

    @bp.route("/")
    @auth.require(Permission.VIEW)
    def index() -> Any:
        locale = _locale()
        groups = targets.directory(db.session, locale)
        return render_template("admin/targets/list.html", groups=groups, locale=locale,
                               labels=labels)

    @bp.route("/<target_id>")
    @auth.require(Permission.VIEW)
    def detail(target_id: str) -> Any:
        return _detail(_target_or_404(target_id))

    @bp.route("/<target_id>/channels/<channel_id>/verify", methods=["POST"])
    @auth.require(Permission.VERIFY_TARGETS)
    def verify(target_id: str, channel_id: str) -> Any:
        target = _target_or_404(target_id)
        channel = _channel_or_404(target, channel_id)
        if not ActionForm().validate_on_submit():  # CSRFProtect normally answers first
            abort(400)
        try:
            targets.verify_channel(db.session, channel, g.organiser, ip=client_ip())
        except targets.ChannelError as exc:
            db.session.rollback()
            flash(labels.label(labels.CHANNEL_ERRORS, exc.code), "error")
            return _detail(_target_or_404(target_id), 400)
        db.session.commit()
        flash(_("The channel is marked verified. Mail may now be sent to it."), "info")
        return redirect(url_for(f"{NAME}.detail", target_id=target.public_id))

    @bp.route("/<target_id>/channels/<channel_id>/failing", methods=["POST"])
    @auth.require(Permission.VERIFY_TARGETS)
    def failing(target_id: str, channel_id: str) -> Any:
        target = _target_or_404(target_id)
        channel = _channel_or_404(target, channel_id)
        form = _failing_form(channel)
        if not form.validate_on_submit():
            return _detail(target, 400, failing=form, failing_for=channel.public_id)
        try:
            targets.mark_failing(db.session, channel, form.reason.data or "",
                                 actor=g.organiser, ip=client_ip())
        except targets.ChannelError as exc:
            db.session.rollback()
            flash(labels.label(labels.CHANNEL_ERRORS, exc.code), "error")
            return _detail(_target_or_404(target_id), 400)
        db.session.commit()
        flash(_("The channel is marked failing. Nothing is sent to it until it is verified "
                "again."), "info")
        return redirect(url_for(f"{NAME}.detail", target_id=target.public_id))

    @bp.route("/<target_id>/channels", methods=["POST"])
    @auth.require(Permission.EDIT_CONTENT)
    def add_channel(target_id: str) -> Any:
        target = _target_or_404(target_id)
        form = ChannelForm()
        if not form.validate_on_submit():
            return _detail(target, 400, channel_form=form)
        try:
            targets.add_channel(
                db.session, target, channel_type=form.type.data or "",
                value=form.value.data or "", source_url=form.source.data or "",
                source_quality=form.source_quality.data or "", organiser=g.organiser,
                ip=client_ip(),
            )
        except targets.ChannelError as exc:
            db.session.rollback()
            message = labels.label(labels.CHANNEL_ERRORS, exc.code)
            field = {"value": form.value, "duplicate": form.value, "source": form.source,
                     "type": form.type, "quality": form.source_quality}.get(exc.code)
            if field is not None:
                field.errors = [*field.errors, message]
            else:
                flash(message, "error")
            return _detail(_target_or_404(target_id), 400, channel_form=form)
        db.session.commit()
        flash(_("The channel is added. It stays unverified until someone checks it on the "
                "body's own page."), "info")
        return redirect(url_for(f"{NAME}.detail", target_id=target.public_id))

    return [bp]

