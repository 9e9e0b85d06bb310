"""Admin pages for cases under ``/admin/cases``: list, the three-language editor, consent,
publication, timeline, case updates with a preview.

Reading needs Permission.VIEW. Changing needs EDIT_CONTENT; a role with only
EDIT_TRANSLATIONS gets forms holding just the Russian and Tajik text, and the services ignore
anything else it sends (``Scope.TRANSLATIONS``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from flask import Blueprint, Flask, abort, flash, g, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from campaign.admin import auth, nav
from campaign.admin.permissions import Permission, allowed
from campaign.admin.services import email_of
from campaign.cases import present, services
from campaign.cases.forms import (
    CaseForm,
    CaseTranslationForm,
    ConsentForm,
    DeleteForm,
    PublishForm,
    TimelineForm,
    TimelineTranslationForm,
    UpdateForm,
    UpdateTranslationForm,
    case_data,
    entry_data,
    update_data,
)
from campaign.cases.models import NAME_MAX, Case, CaseUpdate
from campaign.cases.services import CaseError, Scope
from campaign.extensions import db
from campaign.i18n import LOCALES
from campaign.text import strip_controls

CASE_ERRORS: dict[str, Callable[[], str]] = {
    "too_long": lambda: _("One of the fields is too long."),
    "required": lambda: _("Please give the name in Latin letters."),
    "status": lambda: _("Please choose one of the statuses in the list."),
    "source_url": lambda: _("Each source must be an http:// or https:// address."),
    "consent_required": lambda: _("A case can be published only after the family's consent "
                                  "to publication has been recorded."),
    "update_empty": lambda: _("An update needs a title in at least one language before it "
                              "can be published."),
}


def _error(exc: CaseError) -> str:
    return CASE_ERRORS.get(exc.code, lambda: _("The changes could not be saved."))()


def _fix_fields() -> str:
    return _("Nothing was saved. Please correct the fields marked below.")


def scope() -> Scope | None:
    """What the signed-in organiser may change: everything, the ru/tg text, or nothing."""
    role = g.organiser.role
    if allowed(role, Permission.EDIT_CONTENT):
        return Scope.ALL
    if allowed(role, Permission.EDIT_TRANSLATIONS):
        return Scope.TRANSLATIONS
    return None


def _post_scope() -> Scope:
    current = scope()
    if current is None:
        abort(403)
    return current


def _case_or_404(pid: str) -> Case:
    case = services.get_case(db.session, pid)
    if case is None:
        abort(404)
    return case


def _consent_recorder(case: Case) -> str:
    if case.consent_recorded_by is None:
        return _("an unknown organiser (imported or demo data)")
    return email_of(case.consent_recorded_by)


def _register_nav(state: BlueprintSetupState) -> None:
    item = nav.NavItem("admin_cases.index", _l("Cases"), Permission.VIEW, order=20)
    nav.add(cast(Flask, state.app), item)


def create_blueprint() -> Blueprint:
    bp = Blueprint("admin_cases", __name__, url_prefix="/admin/cases")
    bp.before_request(auth.load_organiser)
    bp.record_once(_register_nav)

    @bp.context_processor
    def inject() -> dict[str, object]:
        return {**present.helpers(), "scope": scope() if g.get("organiser") else None,
                "Scope": Scope, "consent_recorder": _consent_recorder}

    @bp.route("/")
    @auth.require(Permission.VIEW)
    def index() -> Any:
        query = strip_controls(request.args.get("q", ""))[:NAME_MAX]
        cases = services.search(db.session, query, locale=str(g.organiser.locale))
        return render_template("admin/cases/index.html", cases=cases, query=query)

    @bp.route("/new", methods=["GET", "POST"])
    @auth.require(Permission.EDIT_CONTENT)
    def new() -> Any:
        form = CaseForm()
        if form.validate_on_submit():
            try:
                case = services.create_case(db.session, form.case_fields(), form.texts(),
                                            form.source_list(), actor=g.organiser)
            except CaseError as exc:
                db.session.rollback()
                flash(_error(exc), "error")
            else:
                db.session.commit()
                flash(_("The case has been created. It is not public until the family's "
                        "consent is recorded and it is published."), "info")
                return redirect(url_for("admin_cases.edit", pid=case.public_id))
        elif request.method == "POST":
            flash(_fix_fields(), "error")
        status = 400 if request.method == "POST" else 200
        return render_template("admin/cases/edit.html", form=form, case=None,
                               stored=case_data(None)), status

    @bp.route("/<pid>", methods=["GET", "POST"])
    @auth.require(Permission.VIEW)
    def edit(pid: str) -> Any:
        case = _case_or_404(pid)
        current = scope() if request.method == "GET" else _post_scope()
        form_class = CaseForm if current is Scope.ALL else CaseTranslationForm
        form = form_class(data=case_data(case))
        if form.validate_on_submit() and current is not None:
            fields = form.case_fields() if isinstance(form, CaseForm) else None
            sources = form.source_list() if isinstance(form, CaseForm) else None
            try:
                services.update_case(db.session, case, fields=fields, texts=form.texts(),
                                     sources=sources, scope=current, actor=g.organiser)
            except CaseError as exc:
                db.session.rollback()
                flash(_error(exc), "error")
                return _edit_page(case, form), 400
            db.session.commit()
            flash(_("The case has been saved."), "info")
            return redirect(url_for("admin_cases.edit", pid=case.public_id))
        if request.method == "POST":
            flash(_fix_fields(), "error")
            return _edit_page(case, form), 400
        return _edit_page(case, form)

    @bp.route("/<pid>/consent", methods=["POST"])
    @auth.require(Permission.EDIT_CONTENT)
    def consent(pid: str) -> Any:
        case = _case_or_404(pid)
        form = ConsentForm()
        if not form.validate_on_submit():
            flash(_fix_fields(), "error")
            return _edit_page(case, consent_form=form), 400
        services.record_consent(db.session, case, given=bool(form.given.data),
                                note=form.note.data or "", actor=g.organiser)
        db.session.commit()
        flash(_("The family's decision has been recorded."), "info")
        return redirect(url_for("admin_cases.edit", pid=pid) + "#consent")

    @bp.route("/<pid>/publish", methods=["POST"])
    @auth.require(Permission.EDIT_CONTENT)
    def publish(pid: str) -> Any:
        case = _case_or_404(pid)
        form = PublishForm()
        if not form.validate_on_submit():
            abort(400)
        try:
            services.set_published(db.session, case, form.published.data == "1",
                                   actor=g.organiser)
        except CaseError as exc:
            db.session.rollback()
            flash(_error(exc), "error")
            return _edit_page(case), 400
        db.session.commit()
        flash(_("The case is now public.") if case.published else
              _("The case is no longer public."), "info")
        return redirect(url_for("admin_cases.edit", pid=pid))

    @bp.route("/<pid>/timeline", methods=["POST"])
    @auth.require(Permission.EDIT_CONTENT)
    def timeline_add(pid: str) -> Any:
        case = _case_or_404(pid)
        form = TimelineForm()
        if form.validate_on_submit() and form.date.data is not None:
            try:
                services.add_timeline_entry(db.session, case, on=form.date.data,
                                            status=form.status.data or "", notes=form.notes())
            except CaseError as exc:
                db.session.rollback()
                flash(_error(exc), "error")
                return _edit_page(case, timeline_form=form), 400
            db.session.commit()
            flash(_("The timeline entry has been added."), "info")
            return redirect(url_for("admin_cases.edit", pid=pid) + "#timeline")
        flash(_fix_fields(), "error")
        return _edit_page(case, timeline_form=form), 400

    @bp.route("/<pid>/timeline/<eid>", methods=["GET", "POST"])
    @auth.require(Permission.VIEW)
    def timeline_entry(pid: str, eid: str) -> Any:
        case = _case_or_404(pid)
        entry = next((e for e in case.timeline if e.public_id == eid), None)
        if entry is None:
            abort(404)
        current = scope() if request.method == "GET" else _post_scope()
        form_class = TimelineForm if current is Scope.ALL else TimelineTranslationForm
        form = form_class(data=entry_data(entry))
        if form.validate_on_submit() and current is not None:
            full = isinstance(form, TimelineForm)
            try:
                services.edit_timeline_entry(
                    db.session, entry, on=form.date.data if full else None,
                    status=form.status.data if full else None, notes=form.notes(),
                    scope=current)
            except CaseError as exc:
                db.session.rollback()
                flash(_error(exc), "error")
            else:
                db.session.commit()
                flash(_("The timeline entry has been saved."), "info")
                return redirect(url_for("admin_cases.edit", pid=pid) + "#timeline")
        elif request.method == "POST":
            flash(_fix_fields(), "error")
        status = 400 if request.method == "POST" else 200
        return render_template("admin/cases/timeline_entry.html", case=case, entry=entry,
                               form=form, delete_form=DeleteForm()), status

    @bp.route("/<pid>/timeline/<eid>/delete", methods=["POST"])
    @auth.require(Permission.EDIT_CONTENT)
    def timeline_delete(pid: str, eid: str) -> Any:
        case = _case_or_404(pid)
        entry = next((e for e in case.timeline if e.public_id == eid), None)
        if entry is None:
            abort(404)
        if not DeleteForm().validate_on_submit():
            abort(400)
        services.delete_timeline_entry(db.session, entry)
        db.session.commit()
        flash(_("The timeline entry has been deleted."), "info")
        return redirect(url_for("admin_cases.edit", pid=pid) + "#timeline")

    @bp.route("/<pid>/updates/new", methods=["GET", "POST"])
    @auth.require(Permission.EDIT_CONTENT)
    def update_new(pid: str) -> Any:
        return _update_page(_case_or_404(pid), None, UpdateForm(), Scope.ALL)

    @bp.route("/<pid>/updates/<upid>", methods=["GET", "POST"])
    @auth.require(Permission.VIEW)
    def update_edit(pid: str, upid: str) -> Any:
        case = _case_or_404(pid)
        update = services.get_update(db.session, case, upid)
        if update is None:
            abort(404)
        current = scope() if request.method == "GET" else _post_scope()
        form_class = UpdateForm if current is Scope.ALL else UpdateTranslationForm
        return _update_page(case, update, form_class(data=update_data(update)), current)

    @bp.route("/<pid>/updates/<upid>/publish", methods=["POST"])
    @auth.require(Permission.EDIT_CONTENT)
    def update_publish(pid: str, upid: str) -> Any:
        case = _case_or_404(pid)
        update = services.get_update(db.session, case, upid)
        if update is None:
            abort(404)
        form = PublishForm()
        if not form.validate_on_submit():
            abort(400)
        try:
            services.set_update_published(db.session, update, form.published.data == "1",
                                          actor=g.organiser)
        except CaseError as exc:
            db.session.rollback()
            flash(_error(exc), "error")
            return redirect(url_for("admin_cases.update_edit", pid=pid, upid=upid)), 303
        db.session.commit()
        flash(_("The update is published.") if update.published else
              _("The update is withdrawn from the public pages."), "info")
        return redirect(url_for("admin_cases.update_edit", pid=pid, upid=upid))

    return bp


def _update_page(
    case: Case,
    update: CaseUpdate | None,
    form: UpdateForm | UpdateTranslationForm,
    current: Scope | None,
) -> Any:
    """The update editor: show, preview (sanitised HTML, nothing saved) or save."""
    stored = {t.locale: str(present.safe_html(t.body_html)) for t in update.texts} if update else {}

    def page(previews: dict[str, str]) -> str:
        return render_template("admin/cases/update.html", case=case, update=update, form=form,
                               previews=previews, stored=update_data(update),
                               publish_form=PublishForm(formdata=None))

    if request.method == "GET":
        return page(stored)
    valid = form.validate_on_submit()
    if request.form.get("action") == "preview":
        # A translator's preview keeps the stored English next to the new ru/tg text.
        return page({**stored, **_previews(form)}), 200 if valid else 400
    if valid and current is not None:
        try:
            if update is None:
                update = services.add_update(db.session, case, on=form.date.data,
                                             texts=form.texts(), actor=g.organiser)
            else:
                on = form.date.data if isinstance(form, UpdateForm) else None
                services.edit_update(db.session, update, on=on, texts=form.texts(),
                                     scope=current)
        except CaseError as exc:
            db.session.rollback()
            flash(_error(exc), "error")
        else:
            db.session.commit()
            flash(_("The update has been saved."), "info")
            return redirect(url_for("admin_cases.update_edit", pid=case.public_id,
                                    upid=update.public_id))
    else:
        flash(_fix_fields(), "error")
    return page(stored), 400


def _previews(form: UpdateForm | UpdateTranslationForm) -> dict[str, str]:
    """The sanitised HTML of each language's text as sent."""
    result = {}
    for code in LOCALES:
        sub = getattr(form, code, None)
        if sub is not None:
            result[code] = services.preview_markdown(sub.form.body.data or "")
    return result


def _edit_page(
    case: Case,
    form: CaseForm | CaseTranslationForm | None = None,
    *,
    consent_form: ConsentForm | None = None,
    timeline_form: TimelineForm | None = None,
) -> str:
    current = scope()
    if form is None:
        form_class = CaseForm if current is Scope.ALL else CaseTranslationForm
        form = form_class(formdata=None, data=case_data(case))
    if consent_form is None:
        consent_form = ConsentForm(formdata=None,
                                   data={"given": case.consent_given, "note": case.consent_note})
    return render_template(
        "admin/cases/edit.html",
        case=case,
        form=form,
        stored=case_data(case),
        consent_form=consent_form,
        timeline_form=timeline_form or TimelineForm(formdata=None),
        publish_form=PublishForm(formdata=None),
        delete_form=DeleteForm(formdata=None),
        updates=case.updates,
    )
