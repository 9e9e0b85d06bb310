"""Sign-in: password, then a TOTP or recovery code (enrolment on first sign-in); sign-out;
re-entering a code before a dangerous act (``admin.reauth``)."""

from __future__ import annotations

from typing import Any

import segno
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from campaign.admin import auth, lockdown, recovery
from campaign.admin import services as accounts
from campaign.admin.forms import CodeForm, LoginForm, SecondFactorForm
from campaign.admin.models import Organiser, Role
from campaign.admin.permissions import Permission
from campaign.admin.views_common import form_status
from campaign.db import utcnow
from campaign.extensions import db, limiter
from campaign.netutil import client_ip
from campaign.security import safe_next


def qr_svg(uri: str) -> str:
    """The enrolment QR code, drawn by the site (no third-party chart service)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff"))


def lockdown_refuses(organiser: Organiser) -> bool:
    """During a lockdown only administrators may sign in."""
    return organiser.role != Role.ADMIN.value and lockdown.lockdown_active(db.session)


def refuse_in_lockdown(organiser: Organiser) -> Any:
    accounts.audit(db.session, "login.refused_lockdown", actor=organiser, ip=client_ip())
    db.session.commit()
    auth.end_session()
    flash(_("The site is in lockdown: only administrators can sign in until it is lifted."),
          "error")
    return redirect(url_for("admin.login"))


def _recovery_used(organiser: Organiser, context: str) -> None:
    left = recovery.remaining(db.session, organiser)
    accounts.audit(db.session, "recovery_code.used", actor=organiser,
                   detail={"remaining": left, "context": context}, ip=client_ip())


def _recovery_flash(organiser: Organiser) -> None:
    left = recovery.remaining(db.session, organiser)
    flash(ngettext("You used a recovery code. %(num)d code is left; make new ones on your "
                   "account page.",
                   "You used a recovery code. %(num)d codes are left; make new ones on your "
                   "account page.", left), "info")


def register(bp: Blueprint) -> None:
    @bp.route("/login", methods=["GET", "POST"])
    @limiter.limit("20/minute;200/day", methods=["POST"])
    @auth.public_route
    def login() -> Any:
        form = LoginForm()
        next_url = safe_next(request.args.get("next"), url_for("admin.dashboard"))
        if form.validate_on_submit():
            now, ip = utcnow(), client_ip()
            if accounts.ip_throttled(db.session, ip, now):
                # A password spray from this address: refused before any password is tried.
                accounts.audit(db.session, "login.ip_throttled", ip=ip)
                db.session.commit()
                flash(_("Too many failed sign-ins from your network. Please wait a quarter of "
                        "an hour and try again."), "error")
                return render_template("admin/login.html", form=form), 429
            organiser = accounts.authenticate(
                db.session, form.email.data or "", form.password.data or "", now
            )
            if organiser is None:
                accounts.audit(db.session, "login.failed", ip=ip)
                db.session.commit()
                flash(_("The address or the password is wrong, or the account is paused. "
                        "Please try again in a minute."), "error")
                return render_template("admin/login.html", form=form), 401
            db.session.commit()
            auth.begin_pending(organiser)
            target = "admin.enrol" if not organiser.enrolled else "admin.code"
            return redirect(url_for(target, next=next_url))
        return render_template("admin/login.html", form=form), form_status()

    @bp.route("/login/code", methods=["GET", "POST"])
    @limiter.limit("10/minute", methods=["POST"])
    @auth.public_route
    def code() -> Any:
        organiser = auth.pending_organiser()
        if organiser is None or not organiser.enrolled:
            return redirect(url_for("admin.login"))
        form = SecondFactorForm()
        if form.validate_on_submit():
            now = utcnow()
            locked = accounts.is_locked(organiser, now)
            method = None if locked else recovery.verify_second_factor(
                db.session, organiser, form.code.data or "", now)
            if method is None:
                accounts.record_failure(organiser, now)
                accounts.audit(db.session, "login.bad_code", actor=organiser, ip=client_ip())
                db.session.commit()
                if locked:
                    flash(_("Too many wrong codes: please wait a few minutes and try again."),
                          "error")
                else:
                    flash(_("That code is not valid. Codes change every 30 seconds and work "
                            "once."), "error")
                return render_template("admin/code.html", form=form), 401
            if lockdown_refuses(organiser):
                return refuse_in_lockdown(organiser)
            accounts.clear_failures(organiser)
            organiser.last_login_at = now
            accounts.audit(db.session, "login", actor=organiser, detail={"method": method},
                           ip=client_ip())
            if method == "recovery":
                _recovery_used(organiser, "login")
            db.session.commit()
            auth.complete_login(organiser)
            if method == "recovery":  # complete_login cleared the flashed message
                _recovery_flash(organiser)
            return redirect(safe_next(request.args.get("next"), url_for("admin.dashboard")))
        return render_template("admin/code.html", form=form), form_status()

    @bp.route("/login/enrol", methods=["GET", "POST"])
    @limiter.limit("10/minute", methods=["POST"])
    @auth.public_route
    def enrol() -> Any:
        organiser = auth.pending_organiser()
        if organiser is None or organiser.enrolled:
            return redirect(url_for("admin.login"))
        secret = accounts.start_enrolment(organiser)
        db.session.commit()
        form = CodeForm()
        if form.validate_on_submit():
            if accounts.confirm_enrolment(organiser, form.code.data or "", utcnow()):
                if lockdown_refuses(organiser):
                    return refuse_in_lockdown(organiser)
                organiser.last_login_at = utcnow()
                accounts.audit(db.session, "totp.enrolled", actor=organiser, ip=client_ip())
                db.session.commit()
                auth.complete_login(organiser)
                # Next: the recovery codes, made and shown once.
                return redirect(url_for("admin.recovery_codes"))
            flash(_("That code is not valid. Check the time on your phone and try again."),
                  "error")
        uri = accounts.provisioning_uri(organiser, secret)
        return render_template("admin/enrol.html", form=form, qr_svg=qr_svg(uri),
                               secret=secret), form_status()

    @bp.route("/logout", methods=["POST"])
    @auth.public_route
    def logout() -> Any:
        # A cookie is only a signed token: a copy of it (another tab, a stolen one) would stay
        # valid until its idle timeout. Signing out therefore ends every session of the account.
        organiser = auth.current_organiser()
        if organiser is not None:
            accounts.end_all_sessions(organiser)
            accounts.audit(db.session, "logout", actor=organiser, ip=client_ip())
            db.session.commit()
        auth.end_session()
        return redirect(url_for("admin.login"))

    @bp.route("/reauth", methods=["GET", "POST"])
    @limiter.limit("10/minute", methods=["POST"])
    @auth.require(Permission.VIEW)
    def reauth() -> Any:
        organiser: Organiser = g.organiser
        form = SecondFactorForm()
        next_url = safe_next(request.args.get("next"), url_for("admin.dashboard"))
        if form.validate_on_submit():
            now = utcnow()
            method = None if accounts.is_locked(organiser, now) else (
                recovery.verify_second_factor(db.session, organiser, form.code.data or "", now))
            if method is not None:
                accounts.clear_failures(organiser)
                accounts.audit(db.session, "reauth", actor=organiser,
                               detail={"method": method}, ip=client_ip())
                if method == "recovery":
                    _recovery_used(organiser, "reauth")
                db.session.commit()
                auth.mark_totp_fresh()
                if method == "recovery":
                    _recovery_flash(organiser)
                return redirect(next_url)
            accounts.record_failure(organiser, now)
            accounts.audit(db.session, "reauth.failed", actor=organiser, ip=client_ip())
            if accounts.is_locked(organiser, now):
                # Someone holding the session guesses codes: end it.
                accounts.end_all_sessions(organiser)
                db.session.commit()
                auth.end_session()
                flash(_("Too many wrong codes: you have been signed out."), "error")
                return redirect(url_for("admin.login"))
            db.session.commit()
            flash(_("That code is not valid. Codes change every 30 seconds and work once."),
                  "error")
            return render_template("admin/reauth.html", form=form), 401
        return render_template("admin/reauth.html", form=form), form_status()

