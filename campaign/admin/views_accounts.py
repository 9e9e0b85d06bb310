"""The signed-in organiser's own account: dashboard, password, recovery codes, a new
authenticator (re-enrolment), "sign out everywhere", language."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from campaign.admin import auth, recovery
from campaign.admin import services as accounts
from campaign.admin.forms import ROLE_LABELS, ActionForm, CodeForm, PasswordForm
from campaign.admin.models import Organiser
from campaign.admin.permissions import Permission
from campaign.admin.views_common import ACCOUNT_ERRORS, config, form_status
from campaign.admin.views_login import qr_svg
from campaign.db import utcnow
from campaign.extensions import db
from campaign.i18n import LANG_COOKIE, is_enabled
from campaign.mail import services as mail
from campaign.netutil import client_ip
from campaign.security import safe_next


def register(bp: Blueprint) -> None:
    @bp.route("/")
    @auth.require(Permission.VIEW)
    def dashboard() -> Any:
        counts = mail.status_counts(db.session)
        waiting = sum(counts.get(s, 0) for s in ("pending", "claimed", "submitting"))
        return render_template("admin/dashboard.html", waiting=waiting,
                               role_label=ROLE_LABELS[g.organiser.role],
                               failed=counts.get("failed", 0) + counts.get("expired", 0))

    @bp.route("/password", methods=["GET", "POST"])
    @auth.require(Permission.VIEW)
    def password() -> Any:
        organiser: Organiser = g.organiser
        form = PasswordForm()
        if form.validate_on_submit():
            if not accounts.check_password(organiser, form.current.data or ""):
                flash(_("The current password is wrong."), "error")
            else:
                try:
                    accounts.set_password(organiser, form.new.data or "")
                except accounts.AccountError as exc:
                    flash(ACCOUNT_ERRORS[exc.code](), "error")
                else:
                    accounts.audit(db.session, "password.changed", actor=organiser,
                                   ip=client_ip())
                    db.session.commit()
                    auth.complete_login(organiser)  # this session continues, others end
                    flash(_("Your password has been changed."), "info")
                    if not recovery.has_codes(db.session, organiser):
                        # A first sign-in with a one-time password: codes come next.
                        return redirect(url_for("admin.recovery_codes"))
                    return redirect(url_for("admin.dashboard"))
        return render_template("admin/password.html", form=form), form_status()

    @bp.route("/account")
    @auth.require(Permission.VIEW)
    def account() -> Any:
        organiser: Organiser = g.organiser
        return render_template("admin/account.html", form=ActionForm(),
                               role_label=ROLE_LABELS[organiser.role],
                               has_codes=recovery.has_codes(db.session, organiser),
                               remaining=recovery.remaining(db.session, organiser),
                               total=recovery.COUNT)

    @bp.route("/account/sign-out-everywhere", methods=["POST"])
    @auth.require(Permission.VIEW)
    def sign_out_everywhere() -> Any:
        organiser: Organiser = g.organiser
        if not ActionForm().validate_on_submit():
            return redirect(url_for("admin.account"))
        accounts.end_all_sessions(organiser)
        accounts.audit(db.session, "sessions.ended", actor=organiser, ip=client_ip())
        db.session.commit()
        auth.end_session()
        flash(_("You have been signed out on every device, this one included."), "info")
        return redirect(url_for("admin.login"))

    @bp.route("/account/recovery-codes")
    @auth.require(Permission.VIEW)
    def recovery_codes() -> Any:
        """Right after enrolment (no codes yet): make them and show them, this once."""
        organiser: Organiser = g.organiser
        if recovery.has_codes(db.session, organiser):
            return redirect(url_for("admin.account"))
        codes = recovery.generate(db.session, organiser, utcnow())
        accounts.audit(db.session, "recovery_codes.generated", actor=organiser,
                       detail={"count": len(codes)}, ip=client_ip())
        db.session.commit()
        return render_template("admin/recovery_codes.html", codes=codes)

    @bp.route("/account/recovery-codes/new", methods=["POST"])
    @auth.require(Permission.VIEW)
    @auth.require_fresh_totp
    def recovery_codes_new() -> Any:
        organiser: Organiser = g.organiser
        if not ActionForm().validate_on_submit():
            return redirect(url_for("admin.account"))
        codes = recovery.generate(db.session, organiser, utcnow())
        accounts.audit(db.session, "recovery_codes.generated", actor=organiser,
                       detail={"count": len(codes), "replaced": True}, ip=client_ip())
        db.session.commit()
        return render_template("admin/recovery_codes.html", codes=codes)

    @bp.route("/account/authenticator", methods=["GET", "POST"])
    @auth.require(Permission.VIEW)
    @auth.require_fresh_totp
    def reenrol() -> Any:
        """A new authenticator app: the old one keeps working until the new one is confirmed;
        then every other session ends."""
        organiser: Organiser = g.organiser
        secret = accounts.start_enrolment(organiser)
        db.session.commit()
        form = CodeForm()
        if form.validate_on_submit():
            if accounts.confirm_enrolment(organiser, form.code.data or "", utcnow()):
                accounts.audit(db.session, "totp.reenrolled", actor=organiser, ip=client_ip())
                db.session.commit()
                auth.complete_login(organiser)  # this session continues, others end
                flash(_("Your new authenticator app is set up. Other sessions have ended."),
                      "info")
                return redirect(url_for("admin.account"))
            flash(_("That code is not valid. Check the time on your phone and try again."),
                  "error")
        uri = accounts.provisioning_uri(organiser, secret)
        return render_template("admin/reenrol.html", form=form, qr_svg=qr_svg(uri),
                               secret=secret), form_status()

    @bp.route("/language", methods=["POST"])
    @auth.public_route
    def language() -> Any:
        code = request.form.get("lang", "")
        target = safe_next(request.form.get("next"), url_for("admin.dashboard"))
        response = make_response(redirect(target))
        if is_enabled(code):
            organiser: Organiser | None = g.get("organiser")
            if organiser is not None:
                organiser.locale = code
                db.session.commit()
            response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="Lax",
                                secure=config().https, httponly=True)
        return response
