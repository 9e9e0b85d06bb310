"""The admin navigation: features add their pages; each item shows only to roles allowed."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from campaign.admin.lockdown import lockdown_active
from campaign.admin.permissions import Permission, allowed


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: LazyString | str
    permission: Permission
    order: int = 50


# This package's own pages; features add theirs with ``add`` (e.g. from ``record_once``).
OWN_ITEMS = (
    NavItem("admin.approvals", _l("Approvals"), Permission.APPROVE, 80),
    NavItem("admin.outbox_list", _l("Outbox"), Permission.OUTBOX, 85),
    NavItem("admin.organisers", _l("Organisers"), Permission.ACCOUNTS, 90),
    NavItem("admin.audit", _l("Audit log"), Permission.AUDIT, 92),
    NavItem("admin.security", _l("Security"), Permission.SETTINGS, 94),
    NavItem("admin.account", _l("Your account"), Permission.VIEW, 98),
)


def add(app: Flask, item: NavItem) -> None:
    app.extensions.setdefault("campaign.admin_nav", []).append(item)


def visible_items() -> list[NavItem]:
    organiser = g.get("organiser")
    if organiser is None:
        return []
    items: list[NavItem] = current_app.extensions.get("campaign.admin_nav", [])
    return sorted(
        (i for i in items if allowed(organiser.role, i.permission)), key=lambda i: i.order
    )


def lockdown_banner() -> bool:
    """Shown on every signed-in admin page while the lockdown is on."""
    return g.get("organiser") is not None and lockdown_active()


def init_app(app: Flask) -> None:
    items = app.extensions.setdefault("campaign.admin_nav", [])
    present = {item.endpoint for item in items}
    items.extend(item for item in OWN_ITEMS if item.endpoint not in present)

    @app.context_processor
    def inject_nav() -> dict[str, object]:
        return {"admin_nav": visible_items, "admin_lockdown": lockdown_banner}
