"""Rules of alerts: drafting in three languages, the checks before sending, the approval by a
second organiser. Sending and what follows is in ``campaign.alerts.sending``.

Functions flush and never commit; the view, command or job calling them owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update

from campaign.admin import approvals
from campaign.admin import services as accounts
from campaign.admin.models import Organiser
from campaign.admin.permissions import Permission
from campaign.alerts import audience, content
from campaign.alerts.models import (
    BODY_MAX,
    EDITABLE,
    PREHEADER_MAX,
    SUBJECT_MAX,
    Alert,
    AlertCase,
    AlertStatus,
    AlertText,
    Audience,
    MissingRule,
)
from campaign.cases.models import Case
from campaign.db import SessionLike, utcnow
from campaign.i18n import DEFAULT_LOCALE, LOCALES
from campaign.text import render_markdown, strip_controls

APPROVAL_ACTION = "alert.send"
approvals.register_action(APPROVAL_ACTION, Permission.SEND, _l("Send an alert"))


class AlertError(ValueError):
    """``code`` names the broken rule, for the view to translate."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class TextFields:
    subject: str
    preheader: str
    body: str


@dataclass(frozen=True)
class Settings:
    case_id: int | None
    audience: str
    case_ids: tuple[int, ...]
    languages: tuple[str, ...]
    missing_rule: str


def find(session: SessionLike, public_id: str) -> Alert | None:
    return session.scalar(select(Alert).where(Alert.public_id == public_id))


def recent(session: SessionLike, limit: int = 100) -> list[Alert]:
    return list(session.scalars(select(Alert).order_by(Alert.created_at.desc()).limit(limit)))


def case_of(session: SessionLike, alert: Alert) -> Case | None:
    return session.get(Case, alert.case_id) if alert.case_id else None


# --- drafting ----------------------------------------------------------------------------------


def _clean(fields: TextFields) -> TextFields:
    subject = strip_controls(fields.subject)
    preheader = strip_controls(fields.preheader)
    body = fields.body.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if len(subject) > SUBJECT_MAX or len(preheader) > PREHEADER_MAX:
        raise AlertError("too_long")
    if len(body) > BODY_MAX:
        raise AlertError("too_long")
    return TextFields(subject, preheader, body)


def _apply_settings(session: SessionLike, alert: Alert, settings: Settings) -> None:
    if settings.audience not in {a.value for a in Audience}:
        raise AlertError("audience")
    if settings.missing_rule not in {r.value for r in MissingRule}:
        raise AlertError("rule")
    languages = [code for code in LOCALES if code in settings.languages]
    if not languages:
        raise AlertError("languages")
    wanted = set(settings.case_ids) if settings.audience == Audience.CASES.value else set()
    if settings.audience == Audience.CASES.value and not wanted:
        raise AlertError("no_cases")
    known = set(session.scalars(select(Case.id).where(Case.id.in_(wanted | {
        settings.case_id or 0}))))
    if not wanted <= known or (settings.case_id is not None and settings.case_id not in known):
        raise AlertError("case")
    alert.case_id = settings.case_id
    alert.audience = settings.audience
    alert.languages = ",".join(languages)
    alert.missing_rule = settings.missing_rule
    alert.cases[:] = [c for c in alert.cases if c.case_id in wanted]
    for case_id in sorted(wanted - {c.case_id for c in alert.cases}):
        alert.cases.append(AlertCase(case_id=case_id))


def _apply_texts(alert: Alert, texts: Mapping[str, TextFields]) -> None:
    for code, raw in texts.items():
        if code not in LOCALES:
            continue
        fields = _clean(raw)
        row = alert.text(code)
        if row is None:
            row = AlertText(locale=code)
            alert.texts.append(row)
        row.subject, row.preheader, row.body = fields.subject, fields.preheader, fields.body
        row.body_html = render_markdown(fields.body)


def create(session: SessionLike, organiser: Organiser, settings: Settings,
           texts: Mapping[str, TextFields]) -> Alert:
    alert = Alert(status=AlertStatus.DRAFT.value, created_by=organiser.id)
    session.add(alert)
    _apply_settings(session, alert, settings)
    _apply_texts(alert, texts)
    session.flush()
    accounts.audit(session, "alert.created", actor=organiser, object_type="alert",
                   object_id=alert.public_id)
    return alert


def edit(session: SessionLike, alert: Alert, organiser: Organiser, settings: Settings | None,
         texts: Mapping[str, TextFields]) -> None:
    """Change a draft. A change after approval or scheduling makes it a draft again: a second
    organiser approved the text as it was."""
    if AlertStatus(alert.status) not in EDITABLE:
        raise AlertError("not_editable")
    if settings is not None:
        _apply_settings(session, alert, settings)
    _apply_texts(alert, texts)
    if alert.status != AlertStatus.DRAFT.value:
        withdraw_approvals(session, alert, organiser)
    alert.status = AlertStatus.DRAFT.value
    alert.scheduled_at = None
    alert.requested_by = None
    alert.approved_by = None
    alert.updated_at = utcnow()
    session.flush()
    accounts.audit(session, "alert.edited", actor=organiser, object_type="alert",
                   object_id=alert.public_id)


def completeness(alert: Alert) -> dict[str, str]:
    """Per language: "complete", "partial" or "missing"."""
    out = {}
    for code in LOCALES:
        text = alert.text(code)
        out[code] = ("missing" if text is None or text.empty
                     else "complete" if text.complete else "partial")
    return out


def problems(session: SessionLike, alert: Alert) -> dict[str, dict[str, list[str]]]:
    case = case_of(session, alert)
    return {t.locale: found for t in alert.texts if (found := content.text_problems(t, case))}


def check_sendable(session: SessionLike, alert: Alert) -> None:
    """Raise AlertError unless every chosen language can be sent as the rule says, the text
    has no bad placeholders and someone would receive it."""
    if problems(session, alert):
        raise AlertError("placeholders")
    translated = audience.translated_locales(alert)
    if not translated:
        raise AlertError("no_text")
    if alert.missing_rule == MissingRule.ENGLISH.value and DEFAULT_LOCALE not in translated:
        missing = [c for c in alert.language_list if c not in translated]
        if missing:
            raise AlertError("no_english", ", ".join(missing))
    if audience.count(session, alert).total() == 0:
        raise AlertError("empty_audience")


# --- approval ----------------------------------------------------------------------------------


def approval_required() -> bool:
    return approvals.approval_required()


def is_approved(session: SessionLike, alert: Alert) -> bool:
    """Approved here, or (waiting on this page) approved on the approvals page."""
    if not approval_required():
        return True
    if alert.status == AlertStatus.APPROVED.value:
        return True
    return alert.status == AlertStatus.AWAITING_APPROVAL.value and approvals.is_approved(
        session, action=APPROVAL_ACTION, object_type="alert", object_id=alert.public_id)


def withdraw_approvals(session: SessionLike, alert: Alert, organiser: Organiser) -> None:
    """The text changed: an approval given or asked for the old text no longer counts."""
    approvals.consume(session, action=APPROVAL_ACTION, object_type="alert",
                      object_id=alert.public_id, actor=organiser)
    for approval in approvals.pending(session):
        if approval.action == APPROVAL_ACTION and approval.object_id == alert.public_id:
            approvals.refuse(session, approval, organiser)


def request_approval(session: SessionLike, alert: Alert, organiser: Organiser,
                     ip: str | None = None) -> None:
    if alert.status != AlertStatus.DRAFT.value:
        raise AlertError("state")
    check_sendable(session, alert)
    approvals.request_approval(session, action=APPROVAL_ACTION, object_type="alert",
                               object_id=alert.public_id, requester=organiser, ip=ip)
    alert.status = AlertStatus.AWAITING_APPROVAL.value
    alert.requested_by = organiser.id
    alert.updated_at = utcnow()
    session.flush()


def approve(session: SessionLike, alert: Alert, organiser: Organiser,
            ip: str | None = None) -> None:
    """The second organiser agrees. The one who asked cannot."""
    if alert.status != AlertStatus.AWAITING_APPROVAL.value:
        raise AlertError("state")
    if alert.requested_by == organiser.id:
        raise AlertError("own")
    found = approvals.pending(session)
    approval = next((a for a in found if a.action == APPROVAL_ACTION
                     and a.object_id == alert.public_id), None)
    if approval is not None:
        try:
            approvals.approve(session, approval, organiser, ip=ip)
        except approvals.ApprovalError as exc:
            raise AlertError(exc.code) from exc
    moved = session.execute(update(Alert).where(
        Alert.id == alert.id, Alert.status == AlertStatus.AWAITING_APPROVAL.value,
        or_(Alert.requested_by.is_(None), Alert.requested_by != organiser.id),
    ).values(status=AlertStatus.APPROVED.value, approved_by=organiser.id, updated_at=utcnow())
        .execution_options(synchronize_session=False))
    session.refresh(alert)
    if getattr(moved, "rowcount", 0) != 1:
        raise AlertError("state")
