"""Public case pages under ``/<lang>/cases/`` and their Atom feeds; the admin pages are in
``campaign.cases.admin``.

Only cases with the family's recorded consent *and* ``published`` are ever shown here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from campaign.cases import admin as admin_views
from campaign.cases import feeds, present, services
from campaign.cases.models import NAME_MAX
from campaign.extensions import db
from campaign.public import register_lang_prefix
from campaign.text import strip_controls

FEED_LIMIT = 50


def create_blueprints() -> list[Blueprint]:
    return [create_blueprint(), admin_views.create_blueprint()]


def create_blueprint() -> Blueprint:
    bp = Blueprint("cases", __name__, url_prefix="/<lang>/cases")
    register_lang_prefix(bp)
    bp.context_processor(present.helpers)

    @bp.route("/")
    def index() -> Any:
        query = strip_controls(request.args.get("q", ""))[:NAME_MAX]
        cases = services.public_cases(db.session, query, g.lang)
        return render_template("cases/index.html", cases=cases, query=query)

    @bp.route("/<string(length=32):pid>")
    @bp.route("/<string(length=32):pid>-<slug>")
    def case(pid: str, slug: str | None = None) -> Any:
        found = services.get_case(db.session, pid, public_only=True)
        if found is None:
            abort(404)
        canonical = present.case_slug(found)
        if slug != canonical:
            return redirect(url_for("cases.case", pid=pid, slug=canonical), 301)
        updates = services.published_updates(db.session, case=found)
        return render_template("cases/case.html", case=found, updates=updates)

    @bp.route("/feed.atom")
    def feed() -> Any:
        updates = services.published_updates(db.session, limit=FEED_LIMIT)
        body = feeds.build_feed(
            updates,
            lang=g.lang,
            title=_("Pamiri political prisoners: case updates"),
            author=_("Pamir Solidarity"),
            self_path=url_for("cases.feed"),
            alternate_path=url_for("cases.index"),
            with_case_names=True,
        )
        return Response(body, content_type=feeds.MEDIA_TYPE)

    @bp.route("/<string(length=32):pid>/feed.atom")
    def case_feed(pid: str) -> Any:
        found = services.get_case(db.session, pid, public_only=True)
        if found is None:
            abort(404)
        updates = services.published_updates(db.session, case=found, limit=FEED_LIMIT)
        body = feeds.build_feed(
            updates,
            lang=g.lang,
            # Translators: the title of a news feed about one person's case.
            title=_("Updates: %(name)s", name=services.display_name(found, g.lang)),
            author=_("Pamir Solidarity"),
            self_path=url_for("cases.case_feed", pid=pid),
            alternate_path=present.case_path(found),
            with_case_names=False,
        )
        return Response(body, content_type=feeds.MEDIA_TYPE)

    return bp
