"""Roles are sets of permissions; every admin view declares the permission it needs."""

from __future__ import annotations

from enum import StrEnum

from campaign.admin.models import Role


class Permission(StrEnum):
    VIEW = "view"  # dashboards, counts, drafts: no personal data
    EDIT_TRANSLATIONS = "edit_translations"  # the ru/tg fields of drafts
    EDIT_CONTENT = "edit_content"  # cases, alerts, actions
    SEND = "send"
    SUBSCRIBERS = "subscribers"  # personal data of supporters and volunteers
    EXPORT = "export"
    OUTBOX = "outbox"  # captured development mail (holds addresses)
    ACCOUNTS = "accounts"
    SETTINGS = "settings"
    VERIFY_TARGETS = "verify_targets"
    AUDIT = "audit"
    APPROVE = "approve"  # be the second person on a bulk send or an export


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    Role.ADMIN.value: frozenset(Permission),
    Role.ORGANISER.value: frozenset(
        {
            Permission.VIEW,
            Permission.EDIT_TRANSLATIONS,
            Permission.EDIT_CONTENT,
            Permission.SEND,
            Permission.SUBSCRIBERS,
            Permission.EXPORT,
            Permission.OUTBOX,
            Permission.APPROVE,
        }
    ),
    Role.TRANSLATOR.value: frozenset({Permission.VIEW, Permission.EDIT_TRANSLATIONS}),
    Role.VIEWER.value: frozenset({Permission.VIEW}),
}


def allowed(role: str, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())
