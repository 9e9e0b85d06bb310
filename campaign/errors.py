"""Error pages in the visitor's language; never a stack trace, never a bare 500."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def _title(code: int) -> str:
    titles = {
        400: _("The request could not be understood"),
        401: _("Please sign in"),
        403: _("You do not have access to this page"),
        404: _("Page not found"),
        405: _("This action is not allowed here"),
        410: _("This link has expired"),
        413: _("What you sent is too large"),
        429: _("Too many attempts; please wait a little and try again"),
        503: _("The service is briefly unavailable; please try again in a minute"),
    }
    return titles.get(code, _("Something went wrong on our side"))


def _page(code: int, detail: str | None = None) -> tuple[str, int]:
    return render_template("errors/error.html", code=code, title=_title(code), detail=detail), code


def init_app(app: Flask) -> None:
    from campaign.extensions import db

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        return _page(400, _("The form had expired or was not sent from this site. "
                            "Please reload the page and send it again."))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        response = _page(code)
        if code == 405 and exc.get_response().headers.get("Allow"):
            return response[0], code, {"Allow": exc.get_response().headers["Allow"]}
        return response

    @app.errorhandler(OperationalError)
    def database_down(exc: OperationalError) -> Any:
        log.error("database unavailable: %s", exc.__class__.__name__)
        db.session.rollback()
        return _page(503)[0], 503, {"Retry-After": "30"}

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return _page(500)

    @app.errorhandler(UnicodeDecodeError)
    def bad_encoding(exc: UnicodeDecodeError) -> Any:
        return _page(400, _("The text sent was not valid UTF-8."))
