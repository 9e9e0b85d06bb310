"""Email templates are modules: ``templates/email/<name>.txt`` and ``.html``, each with a
``subject`` and a ``body`` block and extending a layout, rendered in the recipient's locale
with StrictUndefined. The subject is the ``subject`` block of the ``.txt`` template."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import force_locale
from jinja2 import Environment, StrictUndefined, Template, TemplateNotFound


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str | None


def _strict_env() -> Environment:
    env: Environment | None = current_app.extensions.get("campaign.mail_env")
    if env is None:
        env = current_app.jinja_env.overlay(undefined=StrictUndefined)
        current_app.extensions["campaign.mail_env"] = env
    return env


def _block(template: Template, name: str, context: Mapping[str, Any]) -> str:
    ctx = template.new_context(dict(context))
    return "".join(template.blocks[name](ctx))


def render_email(name: str, locale: str, context: Mapping[str, Any]) -> RenderedEmail:
    env = _strict_env()
    config = current_app.extensions["campaign.config"]
    base = {"lang": locale, "org_address": config.org_postal_address, **context}
    with force_locale(locale):
        text_t = env.get_template(f"email/{name}.txt")
        subject = " ".join(_block(text_t, "subject", base).split())
        # (A context may hold its own "subject": the letter's, from which the block is made.)
        text = text_t.render({**base, "subject": subject}).strip() + "\n"
        try:
            html_t = env.get_template(f"email/{name}.html")
        except TemplateNotFound:
            html = None
        else:
            html = html_t.render({**base, "subject": subject})
    return RenderedEmail(subject=subject, text=text, html=html)
