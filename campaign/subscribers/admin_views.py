"""Organiser pages for subscribers (list, search, import, export): see campaign.subscribers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from campaign.admin import auth
from campaign.admin.permissions import Permission
from campaign.extensions import db
from campaign.subscribers import queries


def create_blueprint() -> Blueprint:
    bp = Blueprint("admin_subscribers", __name__, url_prefix="/admin/subscribers")
    bp.before_request(auth.load_organiser)

    @bp.route("/")
    @auth.require(Permission.VIEW)
    def index() -> Any:
        return render_template("admin/subscribers/index.html",
                               counts=queries.counts(db.session))

    return bp
