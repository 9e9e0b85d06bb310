"""Public pages shared by all features: the language-prefixed home page and ``/``.

Every public blueprint is mounted under ``/<lang>``; :func:`register_lang_prefix` gives a
blueprint the URL preprocessor that checks the language and stores it in ``g.lang``, and the
URL default that keeps the current language in every ``url_for``.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    url_for,
)

from campaign.i18n import LANG_COOKIE, is_enabled, preferred_from_request
from config import Config


def register_lang_prefix(bp: Blueprint) -> None:
    @bp.url_value_preprocessor
    def pull_lang(endpoint: str | None, values: dict[str, Any] | None) -> None:
        lang = (values or {}).pop("lang", None)
        if not is_enabled(lang):
            abort(404)
        g.lang = lang

    @bp.url_defaults
    def add_lang(endpoint: str, values: dict[str, Any]) -> None:
        if "lang" not in values and g.get("lang"):
            values["lang"] = g.lang


def create_blueprint() -> Blueprint:
    bp = Blueprint("public", __name__, url_prefix="/<lang>")
    register_lang_prefix(bp)

    @bp.route("/")
    def home() -> Any:
        config: Config = current_app.extensions["campaign.config"]
        response = make_response(render_template("public/home.html"))
        response.set_cookie(LANG_COOKIE, g.lang, max_age=365 * 86400, samesite="Lax",
                            secure=config.https, httponly=True)
        return response

    return bp


def root_redirect() -> Any:
    """``/``: the language from the cookie, then Accept-Language, then English."""
    response = redirect(url_for("public.home", lang=preferred_from_request()))
    response.headers["Vary"] = "Cookie, Accept-Language"
    return response
