"""The admin navigation: features add their pages; each item shows only to roles allowed."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g
from flask_babel.speaklater import LazyString

from campaign.admin.permissions import Permission, allowed


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: LazyString | str
    permission: Permission
    order: int = 50


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


def init_app(app: Flask) -> None:
    app.extensions.setdefault("campaign.admin_nav", [])

    @app.context_processor
    def inject_nav() -> dict[str, object]:
        return {"admin_nav": visible_items}
