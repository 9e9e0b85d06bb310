"""Organiser pages of alerts under /admin/alerts: the list, the editor (three languages side
by side), the alert page (audience, approval, sending), previews and progress.

Views parse the request, call one service, commit once and redirect; the rules live in
``campaign.alerts.services`` and ``campaign.alerts.sending``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any

from babel import Locale
from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask_babel import format_datetime, format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import SelectChoice

from campaign.admin import auth, nav
from campaign.admin.nav import NavItem
from campaign.admin.permissions import Permission, allowed
from campaign.admin.views import sandboxed_html
from campaign.alerts import audience, content, labels, progress, sending, services
from campaign.alerts.forms import ActionForm, AlertForm, ScheduleForm, SendTestForm
from campaign.alerts.models import EDITABLE, Alert, AlertStatus
from campaign.alerts.services import AlertError, Settings, TextFields
from campaign.cases.models import Case
from campaign.extensions import db, limiter
from campaign.i18n import LOCALES
from campaign.netutil import client_ip

NAME = "admin_alerts"
TRANSLATED = ("ru", "tg")  # what a translator may change
SETTINGS_FIELDS = ("case", "audience", "cases", "languages", "missing_rule")


def _alert_or_404(pid: str) -> Alert:
    alert = services.find(db.session, pid)
    if alert is None:
        abort(404)
    return alert


def _cases() -> list[Case]:
    return list(db.session.scalars(select(Case).order_by(Case.name_en)))


def _form(alert: Alert | None) -> AlertForm:
    cases = _cases()
    by_id = {c.id: c.public_id for c in cases}
    data: dict[str, Any] = {}
    if alert is not None:
        for code in LOCALES:
            text = alert.text(code)
            if text is not None:
                data[code] = {"subject": text.subject, "preheader": text.preheader,
                              "body": text.body}
        data.update(case=by_id.get(alert.case_id or 0, ""), audience=alert.audience,
                    cases=[by_id[i] for i in alert.audience_case_ids if i in by_id],
                    languages=alert.language_list, missing_rule=alert.missing_rule)
    form = AlertForm(data=data) if alert is not None else AlertForm()
    if not allowed(g.organiser.role, Permission.EDIT_CONTENT):
        for name in SETTINGS_FIELDS:  # a translator changes the ru and tg text only
            delattr(form, name)
        return form
    form.case.choices = [SelectChoice("", _("No case"))] + [
        SelectChoice(c.public_id, c.name_en) for c in cases]
    form.cases.choices = [SelectChoice(c.public_id, c.name_en) for c in cases]
    return form


def _settings(form: AlertForm) -> Settings:
    ids = {c.public_id: c.id for c in _cases()}
    return Settings(
        case_id=ids.get(form.case.data or ""),
        audience=form.audience.data or "",
        case_ids=tuple(ids[p] for p in (form.cases.data or []) if p in ids),
        languages=tuple(form.languages.data or ()),
        missing_rule=form.missing_rule.data or "",
    )


def _texts(form: AlertForm, locales: tuple[str, ...]) -> dict[str, TextFields]:
    out = {}
    for code in locales:
        sub = getattr(form, code).form
        out[code] = TextFields(sub.subject.data or "", sub.preheader.data or "",
                               sub.body.data or "")
    return out


def _error(exc: AlertError) -> str:
    message = labels.label(labels.ERRORS, exc.code)
    return f"{message} ({exc.detail})" if exc.detail else message


def _editor(form: AlertForm, alert: Alert | None, status: int = 200) -> Any:
    full = allowed(g.organiser.role, Permission.EDIT_CONTENT)
    return render_template(
        "admin/alerts/edit.html", form=form, alert=alert, full=full,
        editable=TRANSLATED if not full else LOCALES,
        completeness=services.completeness(alert) if alert else {},
        problems=services.problems(db.session, alert) if alert else {},
        placeholder_list=", ".join("{{ " + n + " }}" for n in content.BODY_PLACEHOLDERS),
        name_placeholder="{{ name }}",
    ), status


def _detail(alert: Alert, status: int = 200) -> Any:
    role = g.organiser.role
    before = AlertStatus(alert.status) in EDITABLE
    return render_template(
        "admin/alerts/detail.html", alert=alert, labels=labels,
        completeness=services.completeness(alert),
        problems=services.problems(db.session, alert),
        counts=audience.count(db.session, alert) if before else None,
        progress=None if before else progress.progress(db.session, alert),
        failures=progress.failures(db.session, alert) if not before else [],
        approval_required=services.approval_required(),
        approved=services.is_approved(db.session, alert),
        can_send=allowed(role, Permission.SEND), can_approve=allowed(role, Permission.APPROVE),
        can_edit=allowed(role, Permission.EDIT_TRANSLATIONS) and before,
        own_request=alert.requested_by == g.organiser.id,
        action=ActionForm(), schedule_form=ScheduleForm(), test_form=SendTestForm(),
        case=services.case_of(db.session, alert),
    ), status


def language_name(code: str) -> str:
    """A language named in the page's language (Russian, русский, русӣ)."""
    shown = get_locale() or Locale.parse("en")
    return str(Locale.parse(code).get_display_name(shown) or code)


def _helpers() -> dict[str, object]:
    return {"labels": labels, "format_datetime": format_datetime, "locales": LOCALES,
            "number": format_decimal, "language_name": language_name}


def _register_nav(state: BlueprintSetupState) -> None:
    if isinstance(state.app, Flask):
        nav.add(state.app, NavItem(f"{NAME}.index", _l("Alerts"), Permission.VIEW, order=20))


def _act(pid: str, do: Callable[[Alert], object], done: str) -> Any:
    """A button on the alert page: check the CSRF token, call the service, commit once."""
    alert = _alert_or_404(pid)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        do(alert)
    except AlertError as exc:
        db.session.rollback()
        flash(_error(exc), "error")
        return _detail(_alert_or_404(pid), 409)
    db.session.commit()
    flash(done, "info")
    return redirect(url_for(f"{NAME}.detail", pid=pid))


def create_blueprints() -> list[Blueprint]:
    bp = Blueprint(NAME, __name__, url_prefix="/admin/alerts")
    bp.before_request(auth.load_organiser)
    bp.record_once(_register_nav)
    bp.context_processor(_helpers)

    @bp.route("/")
    @auth.require(Permission.VIEW)
    def index() -> Any:
        return render_template("admin/alerts/list.html", alerts=services.recent(db.session),
                               can_create=allowed(g.organiser.role, Permission.EDIT_CONTENT))

    @bp.route("/new", methods=["GET", "POST"])
    @auth.require(Permission.EDIT_CONTENT)
    def new() -> Any:
        form = _form(None)
        if form.validate_on_submit():
            try:
                alert = services.create(db.session, g.organiser, _settings(form),
                                        _texts(form, LOCALES))
            except AlertError as exc:
                db.session.rollback()
                flash(_error(exc), "error")
                return _editor(form, None, 400)
            db.session.commit()
            flash(_("The draft has been saved."), "info")
            return redirect(url_for(f"{NAME}.edit", pid=alert.public_id))
        return _editor(form, None, 400 if request.method == "POST" else 200)

    @bp.route("/<pid>/edit", methods=["GET", "POST"])
    @auth.require(Permission.EDIT_TRANSLATIONS)
    def edit(pid: str) -> Any:
        alert = _alert_or_404(pid)
        form = _form(alert)
        if form.validate_on_submit():
            full = allowed(g.organiser.role, Permission.EDIT_CONTENT)
            try:
                services.edit(db.session, alert, g.organiser,
                              _settings(form) if full else None,
                              _texts(form, LOCALES if full else TRANSLATED))
            except AlertError as exc:
                db.session.rollback()
                flash(_error(exc), "error")
                return _editor(form, _alert_or_404(pid), 400)
            db.session.commit()
            flash(_("The draft has been saved."), "info")
            return redirect(url_for(f"{NAME}.edit", pid=pid))
        return _editor(form, alert, 400 if request.method == "POST" else 200)

    @bp.route("/<pid>")
    @auth.require(Permission.VIEW)
    def detail(pid: str) -> Any:
        return _detail(_alert_or_404(pid))

    @bp.route("/<pid>/preview/<locale>")
    @auth.require(Permission.VIEW)
    def preview(pid: str, locale: str) -> Any:
        alert = _alert_or_404(pid)
        discreet = request.args.get("discreet") == "1"
        message = _preview_message(alert, locale, discreet)
        text = message.get_body(preferencelist=("plain",)) if message else None
        return render_template("admin/alerts/preview.html", alert=alert, locale=locale,
                               discreet=discreet, message=message,
                               text=text.get_content() if isinstance(text, EmailMessage)
                               else None)

    @bp.route("/<pid>/preview/<locale>/html")
    @auth.require(Permission.VIEW)
    def preview_html(pid: str, locale: str) -> Any:
        message = _preview_message(_alert_or_404(pid), locale,
                                   request.args.get("discreet") == "1")
        part = message.get_body(preferencelist=("html",)) if message else None
        if not isinstance(part, EmailMessage):
            abort(404)
        return sandboxed_html(part.get_content())

    @bp.route("/<pid>/progress")
    @auth.require(Permission.VIEW)
    def progress_page(pid: str) -> Any:
        alert = _alert_or_404(pid)
        return render_template("admin/alerts/progress.html", alert=alert, labels=labels,
                               progress=progress.progress(db.session, alert),
                               failures=progress.failures(db.session, alert),
                               action=ActionForm(), can_send=allowed(g.organiser.role,
                                                                     Permission.SEND))

    @bp.route("/<pid>/progress.json")
    @auth.require(Permission.VIEW)
    def progress_json(pid: str) -> Any:
        alert = _alert_or_404(pid)
        data = progress.progress(db.session, alert).as_dict()
        data["status_label"] = labels.label(labels.STATUSES, alert.status)
        data["pause_text"] = labels.pause_reason(alert.pause_reason)[0]
        return jsonify(data)

    @bp.route("/<pid>/test", methods=["POST"])
    @auth.require(Permission.SEND)
    @limiter.limit("20/hour")
    def test(pid: str) -> Any:
        form = SendTestForm()
        if not form.validate_on_submit():
            abort(400)
        locale = form.locale.data or "en"
        return _act(pid, lambda a: sending.send_test(db.session, a, g.organiser, locale),
                    _("A test in %(language)s is on its way to your own address.",
                      language=language_name(locale)))

    @bp.route("/<pid>/request-approval", methods=["POST"])
    @auth.require(Permission.SEND)
    def request_approval(pid: str) -> Any:
        return _act(pid, lambda a: services.request_approval(db.session, a, g.organiser,
                                                             client_ip()),
                    _("A second organiser can now approve the alert."))

    @bp.route("/<pid>/approve", methods=["POST"])
    @auth.require(Permission.APPROVE)
    @auth.require_fresh_totp  # a mass send: the code again (RELIABILITY 34)
    def approve(pid: str) -> Any:
        return _act(pid, lambda a: services.approve(db.session, a, g.organiser, client_ip()),
                    _("You have approved the alert. It can now be sent or scheduled."))

    @bp.route("/<pid>/send", methods=["POST"])
    @auth.require(Permission.SEND)
    @auth.require_fresh_totp  # a mass send: the code again (RELIABILITY 34)
    def send(pid: str) -> Any:
        alert = _alert_or_404(pid)
        if not ActionForm().validate_on_submit():
            abort(400)
        try:
            started = sending.send_now(db.session, alert, g.organiser, client_ip())
        except AlertError as exc:
            db.session.rollback()
            flash(_error(exc), "error")
            return _detail(_alert_or_404(pid), 409)
        db.session.commit()
        if started:
            flash(_("Sending has started."), "info")
        else:  # a second click, or another organiser was quicker: nothing more happens
            flash(_("This alert is already being sent."), "info")
        return redirect(url_for(f"{NAME}.progress_page", pid=pid))

    @bp.route("/<pid>/schedule", methods=["POST"])
    @auth.require(Permission.SEND)
    @auth.require_fresh_totp  # a mass send: the code again (RELIABILITY 34)
    def schedule(pid: str) -> Any:
        alert = _alert_or_404(pid)
        form = ScheduleForm()
        if not form.validate_on_submit() or form.when.data is None:
            flash(_("Give a date and a time."), "error")
            return _detail(alert, 400)
        when = form.when.data.replace(tzinfo=UTC)
        return _act(pid, lambda a: sending.schedule(db.session, a, when, g.organiser,
                                                    client_ip()),
                    _("The alert is scheduled for %(when)s UTC.",
                      when=when.strftime("%Y-%m-%d %H:%M")))

    @bp.route("/<pid>/pause", methods=["POST"])
    @auth.require(Permission.SEND)
    def pause(pid: str) -> Any:
        return _act(pid, lambda a: sending.pause(db.session, a, g.organiser, client_ip()),
                    _("Paused. Messages already handed over are not recalled."))

    @bp.route("/<pid>/resume", methods=["POST"])
    @auth.require(Permission.SEND)
    def resume(pid: str) -> Any:
        return _act(pid, lambda a: sending.resume(db.session, a, g.organiser, client_ip()),
                    _("Sending continues."))

    @bp.route("/<pid>/cancel", methods=["POST"])
    @auth.require(Permission.SEND)
    def cancel(pid: str) -> Any:
        return _act(pid, lambda a: sending.cancel(db.session, a, g.organiser, client_ip()),
                    _("Cancelled. Nothing more will be sent."))

    @bp.route("/<pid>/retry", methods=["POST"])
    @auth.require(Permission.SEND)
    def retry(pid: str) -> Any:
        return _act(pid, lambda a: sending.retry_failed(db.session, a, g.organiser,
                                                        client_ip()),
                    _("The failed messages will be tried again."))

    return [bp]


def _preview_message(alert: Alert, locale: str, discreet: bool) -> EmailMessage | None:
    """The exact message a subscriber of ``locale`` gets, with example links and no name."""
    if locale not in LOCALES:
        abort(404)
    text = alert.text(locale)
    if text is None or not text.complete or services.problems(db.session, alert):
        return None
    case = services.case_of(db.session, alert)
    prepared = content.prepare_message(alert, locale, discreet=discreet, case=case)
    sample = content.sample_recipient(locale)
    data = content.personalise(prepared, to_name="", to_addr="subscriber@example.org",
                               message_id=content.message_id(alert.public_id, "preview"),
                               recipient=sample, fallback=content.fallback_name(locale))
    parsed = message_from_bytes(data, policy=email_policy.default)
    return parsed if isinstance(parsed, EmailMessage) else None
