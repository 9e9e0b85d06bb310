"""What the admin view modules share: settings access, account error messages, the status of
a re-shown form."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, request
from flask_babel import gettext as _

from campaign.admin import services as accounts
from config import Config

ACCOUNT_ERRORS: dict[str, Callable[[], str]] = {
    "password_short": lambda: _("The password must have at least %(n)d characters.",
                                n=accounts.PASSWORD_MIN),
    "password_long": lambda: _("The password must have at most %(n)d characters.",
                               n=accounts.PASSWORD_MAX),
    "exists": lambda: _("An account with this address already exists."),
    "invite_used": lambda: _("This invitation has already been used or replaced."),
    "self": lambda: _("You cannot do this to your own account; ask another administrator."),
    "last_admin": lambda: _("This is the last active administrator; appoint another first."),
}


def config() -> Config:
    return current_app.extensions["campaign.config"]


def form_status() -> int:
    """200 for a page, 400 when a sent form is shown again with its errors."""
    return 400 if request.method == "POST" else 200
