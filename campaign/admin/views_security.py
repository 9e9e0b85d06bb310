"""The operations page: the security settings and their state, never a secret; the emergency
lockdown switch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import func, select

from campaign.admin import auth, lockdown
from campaign.admin.forms import ActionForm
from campaign.admin.models import Organiser
from campaign.admin.permissions import Permission
from campaign.admin.views_common import config
from campaign.crypto import key_id
from campaign.extensions import db
from campaign.netutil import client_ip


@dataclass(frozen=True)
class Check:
    label: LazyString | str
    state: str
    good: bool | None = None  # None: neither good nor bad, only a fact


def _yes(flag: bool) -> str:
    return _("yes") if flag else _("no")


def security_checks() -> list[Check]:
    """What an operator needs to know, as facts; never a key, a password or a URL with one."""
    cfg = config()
    not_enrolled = int(db.session.scalar(
        select(func.count()).select_from(Organiser).where(
            Organiser.active.is_(True), Organiser.totp_secret_enc.is_(None))) or 0)
    dkim = bool(cfg.dkim_selector and cfg.dkim_domain and cfg.dkim_key_file)
    dkim_file = bool(cfg.dkim_key_file and cfg.dkim_key_file.is_file())
    return [
        Check(_l("Environment"), cfg.env, cfg.is_production),
        Check(_l("Two-step verification (TOTP) required for every account"), _yes(True), True),
        Check(_l("Active accounts that have not set up TOTP yet"), str(not_enrolled),
              not_enrolled == 0),
        Check(_l("A second organiser must approve bulk sends and exports"),
              _yes(cfg.require_second_approval), cfg.require_second_approval),
        Check(_l("Minutes a re-entered code covers dangerous acts"),
              str(auth.FRESH_TOTP // 60)),
        Check(_l("Session ends after minutes without activity"), str(auth.IDLE_TIMEOUT // 60)),
        Check(_l("Session ends after hours in any case"), str(auth.ABSOLUTE_TIMEOUT // 3600)),
        Check(_l("HTTPS only (HSTS, Secure and __Host- cookies)"), _yes(cfg.https), cfg.https),
        Check(_l("SECRET_KEY set"), _yes(bool(cfg.secret_key)), bool(cfg.secret_key)),
        Check(_l("Old SECRET_KEY values still accepted (SECRET_KEY_FALLBACKS)"),
              str(len(cfg.secret_key_fallbacks))),
        Check(_l("LINK_KEY set"), _yes(bool(cfg.link_key)), bool(cfg.link_key)),
        Check(_l("DATA_KEYS configured"), str(len(cfg.data_keys)), bool(cfg.data_keys)),
        # A key id is the first bytes of SHA-256 of the key, stored in every ciphertext anyway.
        Check(_l("Key id of the DATA_KEYS key new data is encrypted with"),
              key_id(cfg.data_keys[0]).hex() if cfg.data_keys else "-"),
        Check(_l("INDEX_KEY set"), _yes(bool(cfg.index_key)), bool(cfg.index_key)),
        Check(_l("DKIM signing configured"),
              f"{cfg.dkim_selector}._domainkey.{cfg.dkim_domain}" if dkim else _yes(False),
              dkim),
        Check(_l("DKIM key file readable"), _yes(dkim_file), dkim_file if dkim else None),
        Check(_l("SMTP relay configured"),
              _yes(bool(cfg.smtp_url) and not (cfg.smtp_url or "").startswith("memory"))),
        Check(_l("Redis configured (shared rate limits, job queue)"), _yes(bool(cfg.redis_url))),
        Check(_l("Trusted proxies in front of the site"), str(cfg.trusted_proxies)),
        Check(_l("Rate limits enforced"),
              _yes(bool(current_app.config.get("RATELIMIT_ENABLED")))),
    ]


def register(bp: Blueprint) -> None:
    @bp.route("/security")
    @auth.require(Permission.SETTINGS)
    def security() -> Any:
        return render_template("admin/security.html", checks=security_checks(),
                               locked=lockdown.lockdown_active(db.session), form=ActionForm())

    @bp.route("/security/lockdown", methods=["POST"])
    @auth.require(Permission.SETTINGS)
    def lockdown_start() -> Any:
        # No fresh code asked: in an emergency this must take one click.
        if not ActionForm().validate_on_submit():
            return redirect(url_for("admin.security"))
        lockdown.start_lockdown(db.session, g.organiser, ip=client_ip())
        db.session.commit()
        auth.end_session()  # every session has ended, this one too
        flash(_("Lockdown is on: every session has ended and exports are stopped. Only "
                "administrators can sign in."), "info")
        return redirect(url_for("admin.login"))

    @bp.route("/security/lockdown/lift", methods=["POST"])
    @auth.require(Permission.SETTINGS)
    @auth.require_fresh_totp
    def lockdown_lift() -> Any:
        if ActionForm().validate_on_submit() and lockdown.lockdown_active(db.session):
            lockdown.lift_lockdown(db.session, g.organiser, ip=client_ip())
            db.session.commit()
            flash(_("The lockdown has been lifted."), "info")
        return redirect(url_for("admin.security"))

