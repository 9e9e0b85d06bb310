"""The development outbox: mail captured in the local maildir, readable by organisers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, make_response, render_template

from campaign.admin import auth, outbox
from campaign.admin.permissions import Permission
from campaign.admin.views_common import config


def sandboxed_html(html: str) -> Response:
    """Mail HTML shown inside an iframe: its own CSP runs no script and loads nothing remote."""
    response = make_response(html)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "frame-ancestors 'self'; sandbox"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"  # shown in the outbox page's iframe
    return response


def register(bp: Blueprint) -> None:
    @bp.route("/outbox")
    @auth.require(Permission.OUTBOX)
    def outbox_list() -> Any:
        cfg = config()
        if cfg.smtp_url:
            return render_template("admin/outbox.html", messages=[], relay=True)
        return render_template("admin/outbox.html", messages=outbox.list_messages(cfg.maildir),
                               relay=False)

    @bp.route("/outbox/<key>")
    @auth.require(Permission.OUTBOX)
    def outbox_message(key: str) -> Any:
        message = outbox.read_message(config().maildir, key)
        if message is None:
            abort(404)
        return render_template("admin/outbox_message.html", message=message)

    @bp.route("/outbox/<key>/html")
    @auth.require(Permission.OUTBOX)
    def outbox_html(key: str) -> Any:
        message = outbox.read_message(config().maildir, key)
        if message is None or message.html is None:
            abort(404)
        return sandboxed_html(message.html)
