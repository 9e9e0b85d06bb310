"""Password reset: ask for a link (same answer for every address), open it, set a password.

The link's token is moved from the URL into the session at once and the browser is sent on to
a URL without it, so the token does not linger in history or reach any Referer header.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _

from campaign.admin import auth, resets
from campaign.admin import services as accounts
from campaign.admin.forms import ResetRequestForm, SetPasswordForm
from campaign.admin.views_common import ACCOUNT_ERRORS, config, form_status
from campaign.db import utcnow
from campaign.extensions import db, limiter
from campaign.mail import services as mail
from campaign.netutil import client_ip

SESSION_KEY = "reset_token"


def send_reset_mail(found: resets.ResetRequest) -> None:
    link = config().base_url + url_for("admin.reset_link", token=found.token)
    mail.queue_message(
        db.session,
        template="password_reset",
        to_address=accounts.email_of(found.organiser),
        locale=found.organiser.locale,
        context={"link": link, "minutes": int(resets.LIFETIME.total_seconds() // 60)},
        # Never the token itself: the key is stored in clear.
        dedupe_key=f"password-reset:{found.organiser.public_id}:{found.reset_id}",
    )


def _invalid() -> Any:
    session.pop(SESSION_KEY, None)
    return render_template("admin/reset_invalid.html"), 400


def register(bp: Blueprint) -> None:
    @bp.route("/reset", methods=["GET", "POST"])
    @limiter.limit("5/minute;50/day", methods=["POST"])
    @auth.public_route
    def reset_request() -> Any:
        form = ResetRequestForm()
        if form.validate_on_submit():
            found = resets.request_reset(db.session, form.email.data or "", utcnow())
            if found is not None:
                send_reset_mail(found)
                accounts.audit(db.session, "password.reset_requested", actor=found.organiser,
                               object_type="organiser", object_id=found.organiser.public_id,
                               ip=client_ip())
            else:
                # Recorded without the address typed: it may be anyone's.
                accounts.audit(db.session, "password.reset_requested", ip=client_ip())
            db.session.commit()
            return render_template("admin/reset_sent.html")
        return render_template("admin/reset_request.html", form=form), form_status()

    @bp.route("/reset/<token>")
    @auth.public_route
    def reset_link(token: str) -> Any:
        if resets.find_valid(db.session, token, utcnow()) is None:
            return _invalid()
        session[SESSION_KEY] = token
        return redirect(url_for("admin.reset_password"))

    @bp.route("/reset/password", methods=["GET", "POST"])
    @limiter.limit("10/minute", methods=["POST"])
    @auth.public_route
    def reset_password() -> Any:
        token = session.get(SESSION_KEY)
        if not isinstance(token, str) or resets.find_valid(db.session, token, utcnow()) is None:
            return _invalid()
        form = SetPasswordForm()
        if form.validate_on_submit():
            try:
                organiser = resets.complete_reset(db.session, token, form.new.data or "",
                                                  utcnow())
            except accounts.AccountError as exc:
                flash(ACCOUNT_ERRORS[exc.code](), "error")
            else:
                if organiser is None:
                    return _invalid()
                accounts.audit(db.session, "password.reset", actor=organiser, ip=client_ip())
                db.session.commit()
                # Never signed in by a link: the password and the TOTP step still follow.
                auth.end_session()
                flash(_("Your password has been changed. Sign in with it and a code from "
                        "your authenticator app."), "info")
                return redirect(url_for("admin.login"))
        return render_template("admin/reset_password.html", form=form), form_status()
