"""The ``admin`` blueprint: every organiser page of this package, registered from the modules
that hold them (sign-in, password reset, own account, organisers, audit and approvals,
security, outbox). Endpoint names are the view function names: ``admin.login`` …"""

from __future__ import annotations

from flask import Blueprint

from campaign.admin import (
    auth,
    views_accounts,
    views_audit,
    views_login,
    views_organisers,
    views_outbox,
    views_reset,
    views_security,
)
from campaign.admin.views_organisers import send_invitation
from campaign.admin.views_outbox import sandboxed_html

__all__ = ["create_blueprint", "sandboxed_html", "send_invitation"]


def create_blueprint() -> Blueprint:
    bp = Blueprint("admin", __name__, url_prefix="/admin")
    bp.before_request(auth.load_organiser)
    for module in (views_login, views_reset, views_accounts, views_organisers, views_audit,
                   views_security, views_outbox):
        module.register(bp)
    return bp
