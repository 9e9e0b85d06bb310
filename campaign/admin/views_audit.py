"""The audit log (administrators; the CSV export needs a fresh TOTP code) and the approvals
page where a second organiser approves or refuses a dangerous act."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from wtforms import SelectChoice

from campaign.admin import approvals, auth
from campaign.admin import services as accounts
from campaign.admin.forms import ActionForm, AuditFilterForm
from campaign.admin.models import AuditEvent, Organiser
from campaign.admin.permissions import Permission, allowed
from campaign.db import utcnow
from campaign.extensions import db
from campaign.netutil import client_ip
from campaign.text import neutralise_csv_cell

PAGE_SIZE = 50
APPROVAL_ERRORS = {
    "own": lambda: _("You asked for this yourself: another organiser must approve it."),
    "decided": lambda: _("This request has already been decided."),
    "expired": lambda: _("This request is too old; ask again."),
}


def _actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).distinct()
                                   .order_by(AuditEvent.action)))


def _query(action: str | None) -> Any:
    query = select(AuditEvent)
    if action:
        query = query.where(AuditEvent.action == action)
    return query


def _actor_names(events: list[AuditEvent]) -> dict[int, str]:
    ids = {e.actor_id for e in events if e.actor_id is not None}
    if not ids:
        return {}
    people = db.session.scalars(select(Organiser).where(Organiser.id.in_(ids)))
    return {o.id: accounts.email_of(o) for o in people}


def _detail(event: AuditEvent) -> str:
    return json.dumps(event.detail or {}, ensure_ascii=False, sort_keys=True)


def register(bp: Blueprint) -> None:
    @bp.route("/audit")
    @auth.require(Permission.AUDIT)
    def audit() -> Any:
        form = AuditFilterForm(request.args)
        choices = _actions()
        form.action.choices = [SelectChoice("", _("All actions")),
                               *(SelectChoice(a, a) for a in choices)]
        action = request.args.get("action") or None
        if action is not None and action not in choices:
            action = None
        page = request.args.get("page", "1")
        number = int(page) if page.isdigit() and 0 < int(page) < 100000 else 1
        total = int(db.session.scalar(
            select(func.count()).select_from(_query(action).subquery())) or 0)
        events = list(db.session.scalars(
            _query(action).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .offset((number - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
        pages = max(1, -(-total // PAGE_SIZE))
        return render_template("admin/audit.html", form=form, events=events, action=action,
                               actors=_actor_names(events), detail=_detail, page=number,
                               pages=pages, total=total, export_form=ActionForm())

    @bp.route("/audit/export", methods=["POST"])
    @auth.require(Permission.AUDIT)
    @auth.require_fresh_totp
    def audit_export() -> Any:
        # Not stopped by a lockdown: it holds no supporter data, and it is what an
        # investigation needs first.
        if not ActionForm().validate_on_submit():
            return redirect(url_for("admin.audit"))
        action = request.form.get("action") or None
        events = list(db.session.scalars(
            _query(action).order_by(AuditEvent.at, AuditEvent.id)))
        actors = _actor_names(events)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["at", "actor", "action", "object_type", "object_id", "detail",
                         "ip_hash"])
        for event in events:
            row = [event.at.isoformat(), actors.get(event.actor_id or 0, ""), event.action,
                   event.object_type or "", event.object_id or "", _detail(event),
                   event.ip_hash or ""]
            writer.writerow([neutralise_csv_cell(cell) for cell in row])
        accounts.audit(db.session, "audit.exported", actor=g.organiser,
                       detail={"rows": len(events), "action": action}, ip=client_ip())
        db.session.commit()
        name = f"audit-{utcnow():%Y%m%d-%H%M%S}.csv"
        return Response(out.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @bp.route("/approvals", endpoint="approvals")
    @auth.require(Permission.APPROVE)
    def approvals_list() -> Any:
        waiting = approvals.pending(db.session)
        done = approvals.recent(db.session)
        people_ids = {a.requested_by for a in waiting + done} | {
            a.approved_by for a in done if a.approved_by is not None}
        people = {o.id: accounts.email_of(o) for o in db.session.scalars(
            select(Organiser).where(Organiser.id.in_(people_ids)))} if people_ids else {}
        return render_template("admin/approvals.html", waiting=waiting, done=done,
                               people=people, info=approvals.action_info,
                               form=ActionForm(), me=g.organiser,
                               required=approvals.approval_required())

    def _decision(approval_id: str, approving: bool) -> Any:
        approval = approvals.find(db.session, approval_id)
        if approval is None:
            abort(404)
        organiser: Organiser = g.organiser
        own = approval.requested_by == organiser.id
        # Anyone may withdraw their own request; deciding someone else's needs the
        # permission the act itself needs.
        if not (own and not approving) and not allowed(
                organiser.role, approvals.action_info(approval.action).permission):
            abort(403)
        if not ActionForm().validate_on_submit():
            return redirect(url_for("admin.approvals"))
        try:
            if approving:
                approvals.approve(db.session, approval, organiser, ip=client_ip())
            else:
                approvals.refuse(db.session, approval, organiser, ip=client_ip())
        except approvals.ApprovalError as exc:
            db.session.rollback()
            flash(APPROVAL_ERRORS[exc.code](), "error")
            return redirect(url_for("admin.approvals"))
        db.session.commit()
        flash(_("Approved.") if approving else _("Refused."), "info")
        return redirect(url_for("admin.approvals"))

    @bp.route("/approvals/<approval_id>/approve", methods=["POST"])
    @auth.require(Permission.APPROVE)
    @auth.require_fresh_totp
    def approval_approve(approval_id: str) -> Any:
        return _decision(approval_id, approving=True)

    @bp.route("/approvals/<approval_id>/refuse", methods=["POST"])
    @auth.require(Permission.APPROVE)
    @auth.require_fresh_totp
    def approval_refuse(approval_id: str) -> Any:
        return _decision(approval_id, approving=False)
