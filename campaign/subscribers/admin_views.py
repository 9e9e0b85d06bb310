"""Organiser pages for subscribers: counts, the list, search, a subscriber's page, erasure and
export on request, CSV import and export.

Who sees what: ``Permission.VIEW`` sees counts only, never an address. Rows, search, a
subscriber's page, erasure and import need ``Permission.SUBSCRIBERS``; the CSV export needs
``Permission.EXPORT``, a fresh TOTP code, no lockdown and, where configured, a second
organiser's approval. Addresses are decrypted only for the page shown, and never go into a
URL (search is a POST), a log line or the audit log (counts and public ids only).
"""

from __future__ import annotations

import io
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Length, Optional

from campaign.addresses import AddressError, normalise
from campaign.admin import approvals, auth, lockdown
from campaign.admin import services as accounts
from campaign.admin.permissions import Permission, allowed
from campaign.db import utcnow
from campaign.extensions import db
from campaign.i18n import LOCALE_NAMES, LOCALES
from campaign.netutil import client_ip
from campaign.subscribers import imports, queries
from campaign.subscribers import services as subs
from campaign.subscribers.models import Status, Subscriber

NAME = "admin_subscribers"
PER_PAGE = 50
IMPORT_MAX_BYTES = 2 * 1024 * 1024  # the app-wide request limit; the CLI takes big files
EXPORT_ACTION = "subscribers.export"

STATUS_LABELS = {
    Status.PENDING.value: _l("waiting for confirmation"),
    Status.ACTIVE.value: _l("active"),
    Status.PAUSED.value: _l("paused"),
    Status.UNSUBSCRIBED.value: _l("unsubscribed"),
    Status.BOUNCED.value: _l("bounced"),
    Status.COMPLAINED.value: _l("complained"),
}
OUTCOME_LABELS = {
    imports.Outcome.ADDED_ATTESTED: _l("added, active (attested consent)"),
    imports.Outcome.ADDED: _l("added, confirmation sent"),
    imports.Outcome.ADDED_NO_MAIL: _l("added; no confirmation today (one was already sent "
                                      "to this address today)"),
    imports.Outcome.INVALID_ADDRESS: _l("invalid address"),
    imports.Outcome.INVALID_NAME: _l("name too long"),
    imports.Outcome.INVALID_LANGUAGE: _l("unknown language"),
    imports.Outcome.INVALID_CASE: _l("unknown case"),
    imports.Outcome.DUPLICATE: _l("duplicate: the address appears earlier in the file"),
    imports.Outcome.ALREADY_SUBSCRIBED: _l("already subscribed"),
    imports.Outcome.SUPPRESSED: _l("suppressed: this person left or was erased; only their "
                                   "own new sign-up can bring them back"),
}
FILE_ERRORS = {
    "encoding": _l("The file is not UTF-8 text. Save it as “CSV UTF-8” and try again."),
    "header": _l("The first row must name the columns, with at least “email” (and "
                 "optionally name, language, cases), each once."),
    "csv": _l("The file is not valid CSV (for example a quote is not closed)."),
}
EVENT_LABELS = {
    "confirmed": _l("confirmed the subscription"),
    "unsubscribed": _l("unsubscribed"),
    "language": _l("changed language"),
    "preferences": _l("saved preferences"),
    "paused": _l("paused mail"),
    "active": _l("resumed mail"),
    "address_changed": _l("changed address"),
    "bounced": _l("address bounced"),
    "complained": _l("marked mail as spam"),
}


class SearchForm(FlaskForm):
    email = EmailField(_l("Exact email address"),
                       validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "off", "spellcheck": "false"})


class EraseForm(FlaskForm):
    sure = BooleanField(_l("Yes, erase this person: their address stays only as a keyed "
                           "fingerprint on the suppression list"),
                        validators=[DataRequired(message=_l("Please tick the box to confirm."))])


class ActionForm(FlaskForm):
    """A button: CSRF only."""


class ImportForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[
        FileRequired(message=_l("Please choose a file.")),
        FileSize(IMPORT_MAX_BYTES, message=_l("The file is larger than 2 MB; an operator "
                                              "can import it with the command line."))])
    mode = RadioField(_l("These people"), choices=[
        SelectChoice(imports.Mode.ATTEST.value, _l("I attest these people already consented")),
        SelectChoice(imports.Mode.OPT_IN.value, _l("Send each a double opt-in; they join when "
                                                   "they confirm"))],
        validators=[DataRequired()])
    source = StringField(_l("Where they consented (for example “petition, spring 2026”)"),
                         validators=[Optional(), Length(max=imports.SOURCE_MAX)])
    consent_date = DateField(_l("When they consented"), validators=[Optional()])
    language = SelectField(_l("Language for rows without one"),
                           choices=[SelectChoice(code, name, render_kw={"lang": code})
                                    for code, name in LOCALE_NAMES.items()])

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if self.mode.data != imports.Mode.ATTEST.value:
            return valid
        # Both fields are Optional (the opt-in needs neither), which stops their own
        # validator chains when empty: the attestation is checked here.
        if not (self.source.data or "").strip():
            self.source.errors = [*self.source.errors,
                                  str(_l("Say where these people gave their consent."))]
            valid = False
        if self.consent_date.data is None:
            if not self.consent_date.errors:
                self.consent_date.errors = [str(_l("Give the date of their consent."))]
            valid = False
        elif self.consent_date.data > utcnow().date():
            self.consent_date.errors = [str(_l("The date is in the future."))]
            valid = False
        return valid


def _filters() -> tuple[queries.Filters, dict[str, Any]]:
    """The list's filters from the query string (unknown values are ignored), and the
    query arguments that reproduce them in links."""
    status = request.values.get("status", "")
    locale = request.values.get("language", "")
    case_pid = request.values.get("case", "")
    case = queries.case_by_public_id(db.session, case_pid) if case_pid else None
    filters = queries.Filters(status=status if status in STATUS_LABELS else None,
                              locale=locale if locale in LOCALES else None,
                              case_id=case.id if case is not None else None)
    args = {"status": status if filters.status else "",
            "language": locale if filters.locale else "",
            "case": case_pid if case is not None else ""}
    return filters, {k: v for k, v in args.items() if v}


def _subscriber_or_404(pid: str) -> Subscriber:
    subscriber = subs.find_by_public_id(db.session, pid)
    if subscriber is None:
        abort(404)
    return subscriber


def _locale() -> str:
    locale = get_locale()
    return locale.language if locale is not None else "en"


def _can(permission: Permission) -> bool:
    return allowed(g.organiser.role, permission)


def _page_context(filters: queries.Filters, args: dict[str, Any]) -> dict[str, Any]:
    locale = _locale()
    return {"filters": filters, "args": args, "status_labels": STATUS_LABELS,
            "cases": queries.all_cases(db.session, locale),
            "can_rows": _can(Permission.SUBSCRIBERS), "can_export": _can(Permission.EXPORT),
            "export_form": ActionForm()}


def create_blueprint() -> Blueprint:
    bp = Blueprint(NAME, __name__, url_prefix="/admin/subscribers")
    bp.before_request(auth.load_organiser)
    approvals.register_action(EXPORT_ACTION, Permission.EXPORT, _l("Export subscribers (CSV)"))

    @bp.route("/")
    @auth.require(Permission.VIEW)
    def index() -> Any:
        filters, args = _filters()
        counts = queries.counts(db.session, filters)
        totals = {code: sum(by.get(code, 0) for by in counts.values()) for code in LOCALES}
        return render_template("admin/subscribers/index.html", counts=counts, totals=totals,
                               **_page_context(filters, args))

    @bp.route("/list")
    @auth.require(Permission.SUBSCRIBERS)
    def rows() -> Any:
        filters, args = _filters()
        total = queries.total(db.session, filters)
        pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
        number = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
        shown = [(s, subs.email_of(s), subs.name_of(s))
                 for s in queries.page(db.session, filters, number, PER_PAGE)]
        return render_template("admin/subscribers/list.html", shown=shown, total=total,
                               number=number, pages=pages, **_page_context(filters, args))

    @bp.route("/search", methods=["GET", "POST"])
    @auth.require(Permission.SUBSCRIBERS)
    def search() -> Any:
        form = SearchForm()
        if not form.validate_on_submit():
            status = 400 if request.method == "POST" else 200
            return render_template("admin/subscribers/search.html", form=form), status
        try:
            address = normalise(form.email.data or "")
        except AddressError:
            form.email.errors = [_("This is not a valid email address.")]
            return render_template("admin/subscribers/search.html", form=form), 400
        found = queries.by_email_index(db.session, subs.email_index(address))
        if found is None:
            return render_template("admin/subscribers/search.html", form=form,
                                   not_found=True)
        return redirect(url_for(f"{NAME}.detail", pid=found.public_id))

    @bp.route("/import", methods=["GET", "POST"])
    @auth.require(Permission.SUBSCRIBERS)
    def import_csv() -> Any:
        form = ImportForm()
        if not form.validate_on_submit():
            status = 400 if request.method == "POST" else 200
            return render_template("admin/subscribers/import.html", form=form), status
        options = imports.ImportOptions(
            imports.Mode(form.mode.data), form.source.data or "", form.consent_date.data,
            default_locale=form.language.data or "en")
        text = io.TextIOWrapper(form.file.data.stream, encoding="utf-8-sig", newline="")
        try:
            report = imports.import_csv(db.session, text, options)
        except imports.ImportFileError as exc:
            db.session.rollback()
            form.file.errors = [str(FILE_ERRORS[exc.code]),
                                _("Reading stopped at row %(row)d.", row=exc.line)]
            return render_template("admin/subscribers/import.html", form=form), 400
        accounts.audit(db.session, "subscribers.imported", actor=g.organiser,
                       object_type="subscribers", detail=report.audit_detail(),
                       ip=client_ip())
        db.session.commit()
        return render_template("admin/subscribers/import_report.html", report=report,
                               labels=OUTCOME_LABELS, added=imports.ADDED)

    @bp.route("/export", methods=["POST"])
    @auth.require(Permission.EXPORT)
    @auth.require_fresh_totp
    def export_csv() -> Any:
        if not ActionForm().validate_on_submit():
            abort(400)
        filters, args = _filters()
        if not lockdown.exports_allowed(db.session):
            flash(_("Exports are stopped during a lockdown."), "error")
            return redirect(url_for(f"{NAME}.index", **args))
        key = ":".join(args.get(k) or "*" for k in ("status", "language", "case"))
        if not approvals.is_approved(db.session, action=EXPORT_ACTION,
                                     object_type="subscribers", object_id=key):
            approvals.request_approval(db.session, action=EXPORT_ACTION,
                                       object_type="subscribers", object_id=key,
                                       requester=g.organiser, ip=client_ip())
            db.session.commit()
            flash(_("This export waits for a second organiser's approval. Export again once "
                    "it is approved."), "info")
            return redirect(url_for(f"{NAME}.index", **args))
        if not approvals.consume(db.session, action=EXPORT_ACTION, object_type="subscribers",
                                 object_id=key, actor=g.organiser):
            abort(409)
        count = queries.total(db.session, filters)
        accounts.audit(db.session, "subscribers.exported", actor=g.organiser,
                       object_type="subscribers", object_id=key,
                       detail={"rows": count}, ip=client_ip())
        db.session.commit()
        lines = imports.export_lines(db.session, filters)
        response = Response(stream_with_context(_with_bom(lines)),
                            mimetype="text/csv", content_type="text/csv; charset=utf-8")
        day = utcnow().date().isoformat()
        response.headers["Content-Disposition"] = f'attachment; filename="subscribers-{day}.csv"'
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.route("/<pid>")
    @auth.require(Permission.SUBSCRIBERS)
    def detail(pid: str) -> Any:
        return _detail(_subscriber_or_404(pid))

    @bp.route("/<pid>/erase", methods=["POST"])
    @auth.require(Permission.SUBSCRIBERS)
    def erase(pid: str) -> Any:
        subscriber = _subscriber_or_404(pid)
        form = EraseForm(prefix="erase")
        if not form.validate_on_submit():
            return _detail(subscriber, erase_form=form, status=400)
        subs.erase(db.session, subscriber)
        # No object id: nothing left should point at the person who was erased.
        accounts.audit(db.session, "subscriber.erased", actor=g.organiser,
                       object_type="subscriber", ip=client_ip())
        db.session.commit()
        flash(_("The subscriber has been erased."), "info")
        return redirect(url_for(f"{NAME}.index"))

    @bp.route("/<pid>/export", methods=["POST"])
    @auth.require(Permission.SUBSCRIBERS)
    @auth.require_fresh_totp
    def export_one(pid: str) -> Any:
        subscriber = _subscriber_or_404(pid)
        if not ActionForm().validate_on_submit():
            abort(400)
        if not lockdown.exports_allowed(db.session):
            flash(_("Exports are stopped during a lockdown."), "error")
            return redirect(url_for(f"{NAME}.detail", pid=pid))
        data = subs.export_json(db.session, subscriber)
        accounts.audit(db.session, "subscriber.exported", actor=g.organiser,
                       object_type="subscriber", object_id=subscriber.public_id,
                       ip=client_ip())
        db.session.commit()
        response = make_response(data)
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        response.headers["Content-Disposition"] = (
            f'attachment; filename="subscriber-{subscriber.public_id}.json"')
        response.headers["Cache-Control"] = "no-store"
        return response

    return bp


def _with_bom(lines: Any) -> Any:
    """A byte-order mark first, so spreadsheets read the Cyrillic as UTF-8."""
    yield "\ufeff"
    yield from lines


def _detail(subscriber: Subscriber, erase_form: EraseForm | None = None,
            status: int = 200) -> Any:
    locale = _locale()
    labels = {case.id: label for case, label in queries.all_cases(db.session, locale)}
    return render_template(
        "admin/subscribers/detail.html", subscriber=subscriber,
        email=subs.email_of(subscriber), name=subs.name_of(subscriber),
        follows=sorted(labels.get(i, "?") for i in subscriber.followed_case_ids),
        consents=queries.consents(db.session, subscriber),
        history=queries.history(db.session, subscriber),
        status_labels=STATUS_LABELS, event_labels=EVENT_LABELS,
        erase_form=erase_form or EraseForm(prefix="erase"), action_form=ActionForm(),
    ), status
