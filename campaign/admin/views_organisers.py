"""Administrators manage accounts: invite, change a role (fresh TOTP), disable, enable; and
the invitee's page to accept an invitation."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from campaign.addresses import AddressError
from campaign.admin import auth
from campaign.admin import services as accounts
from campaign.admin.forms import (
    ROLE_LABELS,
    ActionForm,
    InviteForm,
    RoleForm,
    SetPasswordForm,
)
from campaign.admin.models import Organiser, Role
from campaign.admin.permissions import Permission
from campaign.admin.views_common import ACCOUNT_ERRORS, config, form_status
from campaign.extensions import db, limiter
from campaign.mail import services as mail
from campaign.netutil import client_ip
from campaign.security import TokenError, read_link, sign_link

INVITE_MAX_AGE = 72 * 3600


def send_invitation(invitee: Organiser) -> None:
    nonce = accounts.start_invitation(invitee)
    token = sign_link({"o": invitee.public_id, "n": nonce}, "invite")
    link = config().base_url + url_for("admin.invitation", token=token)
    mail.queue_message(
        db.session,
        template="invite",
        to_address=accounts.email_of(invitee),
        locale=invitee.locale,
        context={"link": link, "role": invitee.role},
        dedupe_key=f"invite:{invitee.public_id}:{nonce}",
    )


def role_form(organiser: Organiser) -> RoleForm:
    # One form per row; the prefix keeps the field ids on the page unique.
    return RoleForm(prefix=f"role-{organiser.public_id}", role=organiser.role)


def _target_or_404(oid: str) -> Organiser:
    target = accounts.find_by_public_id(db.session, oid)
    if target is None:
        abort(404)
    return target


def register(bp: Blueprint) -> None:
    @bp.route("/organisers", methods=["GET", "POST"])
    @auth.require(Permission.ACCOUNTS)
    def organisers() -> Any:
        form = InviteForm()
        if form.validate_on_submit():
            try:
                invitee = accounts.create_organiser(
                    db.session, form.email.data or "", Role(form.role.data),
                    locale=form.locale.data or "en",
                )
            except AddressError:
                flash(_("This email address is not valid."), "error")
            except accounts.AccountError as exc:
                flash(ACCOUNT_ERRORS[exc.code](), "error")
            else:
                send_invitation(invitee)
                accounts.audit(db.session, "organiser.invited", actor=g.organiser,
                               object_type="organiser", object_id=invitee.public_id,
                               detail={"role": invitee.role}, ip=client_ip())
                db.session.commit()
                flash(_("The invitation is on its way."), "info")
                return redirect(url_for("admin.organisers"))
        rows = db.session.scalars(select(Organiser).order_by(Organiser.created_at)).all()
        people = [(o, accounts.email_of(o), role_form(o)) for o in rows]
        return render_template("admin/organisers.html", form=form, people=people,
                               role_labels=ROLE_LABELS), form_status()

    @bp.route("/organisers/<oid>/role", methods=["POST"])
    @auth.require(Permission.ACCOUNTS)
    @auth.require_fresh_totp
    def organiser_role(oid: str) -> Any:
        target = _target_or_404(oid)
        form = role_form(target)
        if not form.validate_on_submit():
            flash(_("Choose one of the roles listed."), "error")
            return redirect(url_for("admin.organisers"))
        try:
            old = accounts.change_role(db.session, target, Role(form.role.data), g.organiser)
        except accounts.AccountError as exc:
            flash(ACCOUNT_ERRORS[exc.code](), "error")
            return redirect(url_for("admin.organisers"))
        if old != target.role:
            accounts.audit(db.session, "organiser.role_changed", actor=g.organiser,
                           object_type="organiser", object_id=target.public_id,
                           detail={"from": old, "to": target.role}, ip=client_ip())
            db.session.commit()
            flash(_("The role has been changed."), "info")
        return redirect(url_for("admin.organisers"))

    @bp.route("/organisers/<oid>/disable", methods=["POST"])
    @auth.require(Permission.ACCOUNTS)
    def organiser_disable(oid: str) -> Any:
        # No fresh code asked: cutting off an account must be quick in an emergency.
        target = _target_or_404(oid)
        if ActionForm().validate_on_submit():
            try:
                accounts.disable(db.session, target, g.organiser)
            except accounts.AccountError as exc:
                flash(ACCOUNT_ERRORS[exc.code](), "error")
            else:
                accounts.audit(db.session, "organiser.disabled", actor=g.organiser,
                               object_type="organiser", object_id=target.public_id,
                               ip=client_ip())
                db.session.commit()
                flash(_("The account is disabled and all its sessions have ended."), "info")
        return redirect(url_for("admin.organisers"))

    @bp.route("/organisers/<oid>/enable", methods=["POST"])
    @auth.require(Permission.ACCOUNTS)
    @auth.require_fresh_totp
    def organiser_enable(oid: str) -> Any:
        target = _target_or_404(oid)
        if ActionForm().validate_on_submit():
            accounts.enable(db.session, target)
            accounts.audit(db.session, "organiser.enabled", actor=g.organiser,
                           object_type="organiser", object_id=target.public_id, ip=client_ip())
            db.session.commit()
            flash(_("The account is enabled again."), "info")
        return redirect(url_for("admin.organisers"))

    @bp.route("/invitation/<token>", methods=["GET", "POST"])
    @limiter.limit("10/minute", methods=["POST"])
    @auth.public_route
    def invitation(token: str) -> Any:
        try:
            data = read_link(token, "invite", max_age=INVITE_MAX_AGE)
            oid, nonce = str(data["o"]), str(data["n"])
        except TokenError as exc:
            return render_template("admin/invitation_invalid.html"), 410 if exc.expired else 400
        except (KeyError, TypeError):
            return render_template("admin/invitation_invalid.html"), 400
        invitee = accounts.find_by_public_id(db.session, oid)
        if invitee is None or invitee.invite_nonce != nonce or not invitee.active:
            return render_template("admin/invitation_invalid.html"), 400
        form = SetPasswordForm()
        if form.validate_on_submit():
            try:
                accounts.accept_invitation(invitee, nonce, form.new.data or "")
            except accounts.AccountError as exc:
                flash(ACCOUNT_ERRORS[exc.code](), "error")
            else:
                accounts.audit(db.session, "organiser.accepted", actor=invitee, ip=client_ip())
                db.session.commit()
                auth.begin_pending(invitee)
                return redirect(url_for("admin.enrol"))
        return render_template("admin/invitation.html", form=form), form_status()
