"""Views of the subscribers feature (to be built)."""

from __future__ import annotations

from flask import Blueprint


def create_blueprints() -> list[Blueprint]:
    return []
