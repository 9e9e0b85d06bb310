"""Admin pages: sign-in (password, then TOTP), dashboard, password, organisers, outbox."""

from __future__ import annotations

from typing import Any

import segno
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select

from campaign.addresses import AddressError
from campaign.admin import auth, outbox
from campaign.admin import services as accounts
from campaign.admin.forms import (
    ROLE_LABELS,
    CodeForm,
    InviteForm,
    LoginForm,
    PasswordForm,
    SetPasswordForm,
)
from campaign.admin.models import Organiser, Role
from campaign.admin.permissions import Permission
from campaign.db import utcnow
from campaign.extensions import db, limiter
from campaign.i18n import LANG_COOKIE, is_enabled
from campaign.mail import services as mail
from campaign.netutil import client_ip
from campaign.security import TokenError, read_link, safe_next, sign_link
from config import Config

INVITE_MAX_AGE = 72 * 3600

ACCOUNT_ERRORS = {
    "password_short": lambda: _("The password must have at least %(n)d characters.",
                                n=accounts.PASSWORD_MIN),
    "password_long": lambda: _("The password must have at most %(n)d characters.",
                               n=accounts.PASSWORD_MAX),
    "exists": lambda: _("An account with this address already exists."),
    "invite_used": lambda: _("This invitation has already been used or replaced."),
}


def _config() -> Config:
    return current_app.extensions["campaign.config"]


def create_blueprint() -> Blueprint:
    bp = Blueprint("admin", __name__, url_prefix="/admin")
    bp.before_request(auth.load_organiser)

    @bp.route("/login", methods=["GET", "POST"])
    @limiter.limit("20/minute;200/day", methods=["POST"])
    @auth.public_route
    def login() -> Any:
        form = LoginForm()
        next_url = safe_next(request.args.get("next"), url_for("admin.dashboard"))
        if form.validate_on_submit():
            organiser = accounts.authenticate(
                db.session, form.email.data or "", form.password.data or "", utcnow()
            )
            if organiser is None:
                accounts.audit(db.session, "login.failed", ip=client_ip())
                db.session.commit()
                flash(_("The address or the password is wrong, or the account is paused. "
                        "Please try again in a minute."), "error")
                return render_template("admin/login.html", form=form), 401
            db.session.commit()
            auth.begin_pending(organiser)
            target = "admin.enrol" if not organiser.enrolled else "admin.code"
            return redirect(url_for(target, next=next_url))
        status = 400 if request.method == "POST" else 200
        return render_template("admin/login.html", form=form), status

    @bp.route("/login/code", methods=["GET", "POST"])
    @limiter.limit("10/minute", methods=["POST"])
    @auth.public_route
    def code() -> Any:
        organiser = auth.pending_organiser()
        if organiser is None or not organiser.enrolled:
            return redirect(url_for("admin.login"))
        form = CodeForm()
        if form.validate_on_submit():
            if accounts.verify_totp(organiser, form.code.data or "", utcnow()):
                organiser.last_login_at = utcnow()
                accounts.audit(db.session, "login", actor=organiser, ip=client_ip())
                db.session.commit()
                auth.complete_login(organiser)
                return redirect(safe_next(request.args.get("next"), url_for("admin.dashboard")))
            accounts.audit(db.session, "login.bad_code", actor=organiser, ip=client_ip())
            db.session.commit()
            flash(_("That code is not valid. Codes change every 30 seconds and work once."),
                  "error")
            return render_template("admin/code.html", form=form), 401
        return render_template("admin/code.html", form=form)

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
                organiser.last_login_at = utcnow()
                accounts.audit(db.session, "totp.enrolled", actor=organiser, ip=client_ip())
                db.session.commit()
                auth.complete_login(organiser)
                return redirect(url_for("admin.dashboard"))
            flash(_("That code is not valid. Check the time on your phone and try again."),
                  "error")
        uri = accounts.provisioning_uri(organiser, secret)
        qr_svg = segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff")
        status = 400 if request.method == "POST" else 200
        return render_template("admin/enrol.html", form=form, qr_svg=qr_svg,
                               secret=secret), status

    @bp.route("/logout", methods=["POST"])
    @auth.public_route
    def logout() -> Any:
        auth.end_session()
        return redirect(url_for("admin.login"))

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
                    return redirect(url_for("admin.dashboard"))
        status = 400 if request.method == "POST" else 200
        return render_template("admin/password.html", form=form), status

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
        people = [(o, accounts.email_of(o)) for o in rows]
        status = 400 if request.method == "POST" else 200
        return render_template("admin/organisers.html", form=form, people=people,
                               role_labels=ROLE_LABELS), status

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
        invitee = db.session.scalar(select(Organiser).where(Organiser.public_id == oid))
        if invitee is None or invitee.invite_nonce != nonce:
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
        status = 400 if request.method == "POST" else 200
        return render_template("admin/invitation.html", form=form), status

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
                                secure=_config().https, httponly=True)
        return response

    @bp.route("/outbox")
    @auth.require(Permission.OUTBOX)
    def outbox_list() -> Any:
        config = _config()
        if config.smtp_url:
            return render_template("admin/outbox.html", messages=[], relay=True)
        return render_template("admin/outbox.html", messages=outbox.list_messages(config.maildir),
                               relay=False)

    @bp.route("/outbox/<key>")
    @auth.require(Permission.OUTBOX)
    def outbox_message(key: str) -> Any:
        message = outbox.read_message(_config().maildir, key)
        if message is None:
            abort(404)
        return render_template("admin/outbox_message.html", message=message)

    @bp.route("/outbox/<key>/html")
    @auth.require(Permission.OUTBOX)
    def outbox_html(key: str) -> Any:
        message = outbox.read_message(_config().maildir, key)
        if message is None or message.html is None:
            abort(404)
        return sandboxed_html(message.html)

    return bp


def sandboxed_html(html: str) -> Response:
    """Mail HTML shown inside an iframe: its own CSP runs no script and loads nothing remote."""
    response = make_response(html)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "frame-ancestors 'self'; sandbox"
    )
    return response


def send_invitation(invitee: Organiser) -> None:
    nonce = accounts.start_invitation(invitee)
    token = sign_link({"o": invitee.public_id, "n": nonce}, "invite")
    link = _config().base_url + url_for("admin.invitation", token=token)
    mail.queue_message(
        db.session,
        template="invite",
        to_address=accounts.email_of(invitee),
        locale=invitee.locale,
        context={"link": link, "role": invitee.role},
        dedupe_key=f"invite:{invitee.public_id}:{nonce}",
    )
