"""Two-person rule for dangerous acts (bulk sends, exports): one organiser asks, another
approves. Whether a second person is needed is the ``REQUIRE_SECOND_APPROVAL`` setting (on by
default in production).

Typical use in a feature's view::

    if not approvals.is_approved(db.session, action="alert.send", object_type="alert",
                                 object_id=alert.public_id):
        approvals.request_approval(db.session, action="alert.send", object_type="alert",
                                   object_id=alert.public_id, requester=g.organiser)
        db.session.commit()
        flash(...)  # "waiting for a second organiser"
        return redirect(...)
    if not approvals.consume(db.session, action=..., object_type=..., object_id=...):
        abort(409)  # someone else used the approval first
    ...  # do it, commit once

Features name their actions once with :func:`register_action` so the approvals page can show
a label and check that the approver holds the permission the act needs. Functions flush and
never commit; each records an audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel.speaklater import LazyString
from sqlalchemy import select, update

from campaign.admin import services as accounts
from campaign.admin.models import Approval, ApprovalStatus, Organiser
from campaign.admin.permissions import Permission
from campaign.db import SessionLike, utcnow
from config import Config

# A request must be decided, and an approval used, within this time.
MAX_AGE = timedelta(hours=24)


class ApprovalError(ValueError):
    """``code``: "own" (the requester cannot approve), "decided" (no longer pending),
    "expired"."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class ActionInfo:
    permission: Permission
    label: LazyString | str


_ACTIONS: dict[str, ActionInfo] = {}


def register_action(action: str, permission: Permission, label: LazyString | str) -> None:
    """Name an action that may need approval, and the permission its approver must hold."""
    _ACTIONS[action] = ActionInfo(permission, label)


def action_info(action: str) -> ActionInfo:
    # Unknown actions can only be approved by administrators.
    return _ACTIONS.get(action, ActionInfo(Permission.SETTINGS, action))


def approval_required() -> bool:
    config: Config = current_app.extensions["campaign.config"]
    return config.require_second_approval


def find(session: SessionLike, public_id: str) -> Approval | None:
    return session.scalar(select(Approval).where(Approval.public_id == public_id))


def _current(session: SessionLike, action: str, object_type: str, object_id: str,
             status: ApprovalStatus, now: datetime) -> Approval | None:
    column = Approval.created_at if status is ApprovalStatus.PENDING else Approval.decided_at
    return session.scalar(
        select(Approval)
        .where(
            Approval.action == action,
            Approval.object_type == object_type,
            Approval.object_id == object_id,
            Approval.status == status.value,
            column > now - MAX_AGE,
        )
        .order_by(Approval.id.desc())
        .limit(1)
    )


def request_approval(
    session: SessionLike,
    *,
    action: str,
    object_type: str,
    object_id: str,
    requester: Organiser,
    ip: str | None = None,
    now: datetime | None = None,
) -> Approval:
    """Ask for a second person. Idempotent: a pending or approved request for the same act
    and object is returned instead of a new one."""
    now = now or utcnow()
    for status in (ApprovalStatus.APPROVED, ApprovalStatus.PENDING):
        existing = _current(session, action, object_type, object_id, status, now)
        if existing is not None:
            return existing
    approval = Approval(action=action, object_type=object_type, object_id=object_id,
                        requested_by=requester.id, created_at=now,
                        status=ApprovalStatus.PENDING.value)
    session.add(approval)
    session.flush()
    accounts.audit(session, "approval.requested", actor=requester, object_type=object_type,
                   object_id=object_id, detail={"action": action, "approval": approval.public_id},
                   ip=ip)
    return approval


def _decide(session: SessionLike, approval: Approval, decider: Organiser,
            status: ApprovalStatus, now: datetime) -> None:
    if approval.status != ApprovalStatus.PENDING.value:
        raise ApprovalError("decided")
    if approval.created_at <= now - MAX_AGE:
        raise ApprovalError("expired")
    # Conditional: two people deciding at the same moment cannot both win.
    result = session.execute(
        update(Approval)
        .where(Approval.id == approval.id, Approval.status == ApprovalStatus.PENDING.value)
        .values(status=status.value, approved_by=decider.id, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire(approval)
    if getattr(result, "rowcount", 0) != 1:
        raise ApprovalError("decided")


def approve(
    session: SessionLike,
    approval: Approval,
    approver: Organiser,
    *,
    ip: str | None = None,
    now: datetime | None = None,
) -> Approval:
    """The second person says yes. Refused for the requester themself."""
    now = now or utcnow()
    if approval.requested_by == approver.id:
        raise ApprovalError("own")
    if not approver.active:
        raise ApprovalError("decided")
    _decide(session, approval, approver, ApprovalStatus.APPROVED, now)
    accounts.audit(session, "approval.approved", actor=approver,
                   object_type=approval.object_type, object_id=approval.object_id,
                   detail={"action": approval.action, "approval": approval.public_id}, ip=ip)
    return approval


def refuse(
    session: SessionLike,
    approval: Approval,
    decider: Organiser,
    *,
    ip: str | None = None,
    now: datetime | None = None,
) -> Approval:
    """Say no (or, for the requester, withdraw the request)."""
    now = now or utcnow()
    _decide(session, approval, decider, ApprovalStatus.REFUSED, now)
    accounts.audit(session, "approval.refused", actor=decider,
                   object_type=approval.object_type, object_id=approval.object_id,
                   detail={"action": approval.action, "approval": approval.public_id}, ip=ip)
    return approval


def is_approved(
    session: SessionLike,
    *,
    action: str,
    object_type: str,
    object_id: str,
    now: datetime | None = None,
) -> bool:
    """True when the act may go ahead: no second person is required, or one has approved
    (within MAX_AGE, and the approval was not used yet)."""
    if not approval_required():
        return True
    found = _current(session, action, object_type, object_id, ApprovalStatus.APPROVED,
                     now or utcnow())
    return found is not None


def consume(
    session: SessionLike,
    *,
    action: str,
    object_type: str,
    object_id: str,
    actor: Organiser | None = None,
    now: datetime | None = None,
) -> bool:
    """Use an approval once, just before the act: True for exactly one caller. Always True
    when no second person is required."""
    if not approval_required():
        return True
    now = now or utcnow()
    found = _current(session, action, object_type, object_id, ApprovalStatus.APPROVED, now)
    if found is None:
        return False
    result = session.execute(
        update(Approval)
        .where(Approval.id == found.id, Approval.status == ApprovalStatus.APPROVED.value)
        .values(status=ApprovalStatus.USED.value)
        .execution_options(synchronize_session=False)
    )
    session.expire(found)
    if getattr(result, "rowcount", 0) != 1:
        return False
    accounts.audit(session, "approval.used", actor=actor, object_type=object_type,
                   object_id=object_id, detail={"action": action, "approval": found.public_id})
    return True


def pending(session: SessionLike, now: datetime | None = None) -> list[Approval]:
    now = now or utcnow()
    return list(
        session.scalars(
            select(Approval)
            .where(Approval.status == ApprovalStatus.PENDING.value,
                   Approval.created_at > now - MAX_AGE)
            .order_by(Approval.created_at)
        )
    )


def recent(session: SessionLike, limit: int = 20) -> list[Approval]:
    return list(
        session.scalars(
            select(Approval)
            .where(Approval.status != ApprovalStatus.PENDING.value)
            .order_by(Approval.decided_at.desc(), Approval.id.desc())
            .limit(limit)
        )
    )
