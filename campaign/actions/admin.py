"""Organisers' pages under ``/admin/actions``: the action editor (three languages side by
side), letters by status, target and day with a chart, digests awaiting approval, the review
list of letters whose outcome is unknown, the signers' CSV export, institutions' replies.

Views parse the request, call one service, commit once and redirect.
"""

from __future__ import annotations

from typing import Any, cast

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import SelectChoice

from campaign.actions import delivery, digests, export, labels, services, stats
from campaign.actions.admin_forms import (
    ActionForm,
    ButtonForm,
    ReplyForm,
    ReviewForm,
    target_choices,
)
from campaign.actions.models import Action, LetterDelivery
from campaign.admin import approvals, auth, nav
from campaign.admin.permissions import Permission, allowed
from campaign.cases.models import Case
from campaign.cases.services import display_name
from campaign.extensions import db
from campaign.i18n import LOCALES
from campaign.netutil import client_ip
from campaign.targets import labels as target_labels
from campaign.targets import services as targets

NAME = "admin_actions"
EXPORT = "action.export"


def _register(state: BlueprintSetupState) -> None:
    nav.add(cast(Flask, state.app), nav.NavItem(f"{NAME}.index", _l("Actions"),
                                                Permission.VIEW, order=40))
    approvals.register_action(EXPORT, Permission.EXPORT, _l("Export the signers of an action"))


def _locale() -> str:
    return str(g.organiser.locale or "en")


def _action_or_404(pid: str) -> Action:
    action = services.get_action(db.session, pid)
    if action is None:
        abort(404)
    return action


def _form_data(action: Action) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slug": action.slug, "goal": action.goal, "cases": [c.id for c in action.cases],
        "opens_at": action.opens_at.replace(tzinfo=None) if action.opens_at else None,
        "closes_at": action.closes_at.replace(tzinfo=None) if action.closes_at else None,
    }
    for code in LOCALES:
        text = action.text(code)
        column: dict[str, Any] = {"title": text.title if text else "",
                                  "introduction": text.introduction if text else ""}
        for variant in action.variants_in(code):
            column[f"subject_{variant.position}"] = variant.subject
            column[f"body_{variant.position}"] = variant.body
        data[code] = column
    return data


def _editor(form: ActionForm, action: Action | None, status: int = 200) -> Any:
    chosen = {at.target_id: at for at in action.targets} if action else {}
    posted = request.form if request.method == "POST" else None
    rows = []
    for institution, members in targets.directory(db.session, _locale()):
        for target in members:
            rows.append((institution, target, chosen.get(target.id),
                         sorted(targets.allowed_delivery_modes(target)),
                         target_labels.not_selectable_reason(target),
                         targets.sendable_email_channel(target)))
    return render_template("admin/actions/edit.html", form=form, action=action, rows=rows,
                           posted=posted, target_labels=target_labels, labels=labels,
                           locales=LOCALES), status


def _case_choices() -> list[SelectChoice]:
    cases = db.session.scalars(select(Case).order_by(Case.name_en)).all()
    return [SelectChoice(case.id, display_name(case, _locale()) + (
        "" if case.is_public else " " + _("(not public)"))) for case in cases]


def _save(action: Action | None) -> Any:
    form = ActionForm(data=_form_data(action) if action and request.method == "GET" else None)
    form.cases.choices = _case_choices()
    if not form.validate_on_submit():
        if request.method == "POST":
            flash(_("Nothing was saved. Please correct the fields marked below."), "error")
        return _editor(form, action, 400 if request.method == "POST" else 200)
    fields = services.ActionFields(
        slug=(form.slug.data or "").strip(), goal=form.goal.data,
        opens_at=form.utc(form.opens_at.data), closes_at=form.utc(form.closes_at.data),
        case_ids=tuple(form.cases.data or ()))
    try:
        saved = services.save_action(db.session, action, fields, form.texts(),
                                     target_choices(request.form), g.organiser)
    except services.ActionError as exc:
        db.session.rollback()
        flash(labels.label(labels.ACTION_ERRORS, exc.code, detail=exc.detail), "error")
        return _editor(form, services.get_action(db.session, action.public_id)
                       if action else None, 400)
    db.session.commit()
    flash(_("The action has been saved."), "info")
    return redirect(url_for(f"{NAME}.edit", pid=saved.public_id))


def create_blueprint() -> Blueprint:
    bp = Blueprint(NAME, __name__, url_prefix="/admin/actions")
    bp.before_request(auth.load_organiser)
    bp.record_once(_register)

    @bp.context_processor
    def inject() -> dict[str, object]:
        return {"labels": labels, "open_state": services.open_state,
                "action_title": _title, "can": lambda p: allowed(g.organiser.role, p),
                "Permission": Permission}

    @bp.route("/")
    @auth.require(Permission.VIEW)
    def index() -> Any:
        actions = services.all_actions(db.session)
        counts = {a.id: services.confirmed_count(db.session, a) for a in actions}
        return render_template("admin/actions/index.html", actions=actions, counts=counts,
                               digests=digests.awaiting(db.session),
                               review=delivery.review_list(db.session),
                               digest_review=digests.in_review(db.session),
                               review_form=ReviewForm())

    @bp.route("/new", methods=["GET", "POST"])
    @auth.require(Permission.EDIT_CONTENT)
    def new() -> Any:
        return _save(None)

    @bp.route("/<pid>", methods=["GET", "POST"])
    @auth.require(Permission.VIEW)
    def edit(pid: str) -> Any:
        action = _action_or_404(pid)
        if request.method == "POST" and not allowed(g.organiser.role, Permission.EDIT_CONTENT):
            abort(403)
        return _save(action)

    @bp.route("/<pid>/publish", methods=["POST"])
    @auth.require(Permission.EDIT_CONTENT)
    def publish(pid: str) -> Any:
        action = _action_or_404(pid)
        if not ButtonForm().validate_on_submit():
            abort(400)
        try:
            services.set_published(db.session, action, request.form.get("published") == "1",
                                   g.organiser)
        except services.ActionError as exc:
            db.session.rollback()
            flash(labels.label(labels.ACTION_ERRORS, exc.code, detail=exc.detail), "error")
            return redirect(url_for(f"{NAME}.edit", pid=pid), 303)
        db.session.commit()
        flash(_("The action is published.") if action.status == "published" else
              _("The action is no longer public."), "info")
        return redirect(url_for(f"{NAME}.edit", pid=pid), 303)

    @bp.route("/<pid>/letters")
    @auth.require(Permission.VIEW)
    def letters(pid: str) -> Any:
        action = _action_or_404(pid)
        collected = stats.collect(db.session, action)
        action_digests = digests.for_action(db.session, action)
        return render_template(
            "admin/actions/letters.html", action=action, stats=collected,
            chart=stats.chart_svg(collected.by_day, _("Confirmed letters per day")),
            digests=action_digests, reply_forms={at.public_id: ReplyForm(
                prefix=at.public_id, data={"date": at.reply_date,
                                           "reference": at.reply_reference or ""})
                for at in action.targets})

    @bp.route("/<pid>/targets/<atid>/reply", methods=["POST"])
    @auth.require(Permission.EDIT_CONTENT)
    def reply(pid: str, atid: str) -> Any:
        action = _action_or_404(pid)
        at = next((t for t in action.targets if t.public_id == atid), None)
        if at is None:
            abort(404)
        form = ReplyForm(prefix=atid)
        if not form.validate_on_submit():
            flash(_("Please enter the date as YYYY-MM-DD."), "error")
            return redirect(url_for(f"{NAME}.letters", pid=pid), 303)
        services.record_reply(db.session, at, form.date.data, form.reference.data or "",
                              g.organiser)
        db.session.commit()
        flash(_("The reply is recorded and shown on the action's page."), "info")
        return redirect(url_for(f"{NAME}.letters", pid=pid), 303)

    @bp.route("/<pid>/export", methods=["POST"])
    @auth.require(Permission.EXPORT)
    @auth.require_fresh_totp
    def export_signers(pid: str) -> Any:
        action = _action_or_404(pid)
        if not ButtonForm().validate_on_submit():
            abort(400)
        if not approvals.is_approved(db.session, action=EXPORT, object_type="action",
                                     object_id=action.public_id):
            approvals.request_approval(db.session, action=EXPORT, object_type="action",
                                       object_id=action.public_id, requester=g.organiser,
                                       ip=client_ip())
            db.session.commit()
            flash(_("A second organiser must approve this export first."), "info")
            return redirect(url_for(f"{NAME}.letters", pid=pid), 303)
        if not approvals.consume(db.session, action=EXPORT, object_type="action",
                                 object_id=action.public_id, actor=g.organiser):
            abort(409)
        body, count = export.signers_csv(db.session, action, g.organiser, ip=client_ip())
        db.session.commit()
        response = Response(body, content_type="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="signers-{action.slug}.csv"')
        response.headers["X-Row-Count"] = str(count)
        return response

    @bp.route("/digests/<did>")
    @auth.require(Permission.VIEW)
    def digest(did: str) -> Any:
        found = digests.get(db.session, did)
        if found is None:
            abort(404)
        return render_template("admin/actions/digest.html", digest=found,
                               body=digests.body_of(found), form=ButtonForm(),
                               channel=targets.sendable_email_channel(found.target))

    @bp.route("/digests/<did>/approve", methods=["POST"])
    @auth.require(Permission.SEND)
    def approve_digest(did: str) -> Any:
        found = digests.get(db.session, did)
        if found is None:
            abort(404)
        if not ButtonForm().validate_on_submit():
            abort(400)
        try:
            digests.approve(db.session, found, g.organiser)
        except digests.DigestError:
            db.session.rollback()
            flash(_("This digest has already been decided."), "error")
            return redirect(url_for(f"{NAME}.digest", did=did), 303)
        db.session.commit()
        flash(_("The digest is approved and will be sent once."), "info")
        return redirect(url_for(f"{NAME}.digest", did=did), 303)

    @bp.route("/review/<delivery_id>", methods=["POST"])
    @auth.require(Permission.SEND)
    def resolve(delivery_id: str) -> Any:
        row = db.session.scalar(select(LetterDelivery).where(
            LetterDelivery.public_id == delivery_id))
        if row is None:
            abort(404)
        form = ReviewForm()
        if not form.validate_on_submit():
            abort(400)
        try:
            delivery.resolve_review(db.session, row, form.decision.data or "", g.organiser)
        except ValueError:
            db.session.rollback()
            flash(_("This letter is no longer under review."), "error")
            return redirect(url_for(f"{NAME}.index"), 303)
        db.session.commit()
        flash(_("Your decision is recorded."), "info")
        return redirect(url_for(f"{NAME}.index") + "#review", 303)

    @bp.route("/review/digests/<did>", methods=["POST"])
    @auth.require(Permission.SEND)
    def resolve_digest(did: str) -> Any:
        found = digests.get(db.session, did)
        if found is None:
            abort(404)
        form = ReviewForm()
        if not form.validate_on_submit():
            abort(400)
        try:
            digests.resolve_review(db.session, found, form.decision.data or "", g.organiser)
        except digests.DigestError:
            db.session.rollback()
            flash(_("This digest is no longer under review."), "error")
            return redirect(url_for(f"{NAME}.index"), 303)
        db.session.commit()
        flash(_("Your decision is recorded."), "info")
        return redirect(url_for(f"{NAME}.index") + "#review", 303)

    return bp


def _title(action: Action) -> str:
    for code in (_locale(), "en", "ru", "tg"):
        text = action.text(code)
        if text is not None and text.title:
            return text.title
    return action.slug
