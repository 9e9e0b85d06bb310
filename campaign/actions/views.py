"""The volunteer's pages under ``/<lang>/actions/``: the action with its prefilled letter,
signing, the confirmation link (GET shows a button, only the POST confirms), the thank-you
page with the live counter, and the volunteer's own mail program. Admin pages are in
``campaign.actions.admin``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from campaign.actions import admin, labels, mailto, services, signing
from campaign.actions.forms import ConfirmForm, SignForm
from campaign.actions.models import Action, ActionTarget, ActionText
from campaign.actions.services import OpenState
from campaign.actions.texts import LetterTextError, Prefill, prefill, public_cases, signature
from campaign.addresses import AddressError
from campaign.cases import present
from campaign.extensions import db, limiter
from campaign.public import register_lang_prefix
from campaign.security import TokenError, read_link
from campaign.subscribers.forms import ADDRESS_ERRORS
from campaign.targets.models import DeliveryMode
from campaign.targets.services import sendable_email_channel


@dataclass(frozen=True)
class LetterBlock:
    """One letter language on the page: who gets it, the letter, a translation to read."""

    locale: str
    targets: list[ActionTarget]
    letter: Prefill
    translation: Prefill | None


def _action_or_404(slug: str) -> Action:
    action = services.by_slug(db.session, slug)
    if action is None:
        abort(404)
    return action


def text_of(action: Action, lang: str) -> ActionText | None:
    for code in (lang, "en", "ru", "tg"):
        text = action.text(code)
        if text is not None and text.title:
            return text
    return None


def _blocks(action: Action, form: SignForm, posted: bool) -> list[LetterBlock]:
    blocks = []
    for locale, targets in sorted(signing.letter_plan(action).items()):
        count = len(action.variants_in(locale))
        field = getattr(form, f"variant_{locale}")
        raw = field.data or ""
        index = int(raw) if posted and raw.isdigit() and int(raw) < count else (
            secrets.randbelow(count) if count else 0)
        letter = prefill(action, locale, index)
        if letter is None:
            continue
        field.data = str(index)
        body = getattr(form, f"body_{locale}")
        if not posted:
            body.data = letter.body
        translation = prefill(action, g.lang, index) if g.lang != locale else None
        blocks.append(LetterBlock(locale, targets, letter, translation))
    return blocks


def _page(action: Action, form: SignForm | None = None, status: int = 200,
          error: str | None = None) -> Any:
    posted = form is not None
    form = form if form is not None else SignForm()
    blocks = _blocks(action, form, posted)
    platform = [at for at in services.platform_targets(action) if services.reachable(at)]
    offered = {at.id for block in blocks for at in block.targets}
    return render_template(
        "actions/action.html", action=action, text=text_of(action, g.lang), form=form,
        blocks=blocks, platform=platform,
        has_mailto=any(at.mode == DeliveryMode.MAILTO.value for b in blocks for at in b.targets),
        unreachable=[at for at in action.targets if at.id not in offered],
        state=services.open_state(action), count=services.confirmed_count(db.session, action),
        cases=public_cases(action), error=error, OpenState=OpenState,
    ), status


def _state_error(action: Action) -> str | None:
    state = services.open_state(action)
    return None if state is OpenState.OPEN else labels.label(labels.SIGNING_ERRORS, state.value)


def _body_error(form: SignForm, exc: LetterTextError) -> None:
    field = getattr(form, f"body_{exc.locale}", None)
    message = labels.label(labels.BODY_ERRORS, exc.code, tokens=", ".join(exc.tokens))
    if field is not None:
        field.errors = [*field.errors, message]


def share_links(action: Action, title: str) -> dict[str, str]:
    """Plain links (no widgets, nothing loaded): the visitor chooses to follow one."""
    base = current_app.extensions["campaign.config"].base_url
    url = base + url_for("actions.action", slug=action.slug)
    u, t = quote(url, safe=""), quote(title, safe="")
    return {
        "url": url,
        "Telegram": f"https://t.me/share/url?url={u}&text={t}",
        "WhatsApp": f"https://wa.me/?text={t}%20{u}",
        "VK": f"https://vk.com/share.php?url={u}",
        "Facebook": f"https://www.facebook.com/sharer/sharer.php?u={u}",
        "email": f"mailto:?subject={t}&body={u}",
    }


def create_public_blueprint() -> Blueprint:
    bp = Blueprint("actions", __name__, url_prefix="/<lang>/actions")
    register_lang_prefix(bp)
    bp.context_processor(present.helpers)

    @bp.context_processor
    def helpers() -> dict[str, object]:
        return {"action_text": text_of, "labels": labels}

    @bp.route("/")
    def index() -> Any:
        actions = services.public_actions(db.session)
        return render_template("actions/index.html", actions=actions,
                               states={a.id: services.open_state(a) for a in actions})

    @bp.route("/<slug>")
    def action(slug: str) -> Any:
        return _page(_action_or_404(slug))

    @bp.route("/<slug>", methods=["POST"])
    @limiter.limit("10/hour;30/day")
    def sign(slug: str) -> Any:
        action = _action_or_404(slug)
        form = SignForm()
        if not form.validate_on_submit():
            return _page(action, form, 400)
        if form.website.data:  # a bot filled the honeypot: the same answer, nothing stored
            return redirect(url_for("actions.check_inbox", slug=slug), 303)
        locales = sorted(signing.letter_plan(action))
        variants = form.variants(locales)
        if variants is None:
            abort(400)
        try:
            signing.sign(db.session, action, signing.Signature(
                email=form.email.data or "", name=form.name.data or "", locale=g.lang,
                bodies=form.bodies(locales), variants=variants,
                target_ids=request.form.getlist("target"), city=form.city.data or "",
                country=form.country.data or "", reply_ok=bool(form.reply.data),
                wants_alerts=bool(form.alerts.data)))
        except signing.SigningError as exc:
            db.session.rollback()
            if exc.code == "tampered":
                abort(400)
            return _page(action, form, 400, labels.label(labels.SIGNING_ERRORS, exc.code))
        except LetterTextError as exc:
            db.session.rollback()
            _body_error(form, exc)
            return _page(action, form, 400)
        except AddressError as exc:
            db.session.rollback()
            form.email.errors = [str(ADDRESS_ERRORS.get(exc.code, ADDRESS_ERRORS["invalid"]))]
            return _page(action, form, 400)
        db.session.commit()
        return redirect(url_for("actions.check_inbox", slug=slug), 303)

    @bp.route("/<slug>/mailto", methods=["POST"])
    @limiter.limit("30/hour")
    def own_mail_program(slug: str) -> Any:
        action = _action_or_404(slug)
        form = SignForm()  # the page's form; only what a mail program needs is used
        plan = signing.letter_plan(action, frozenset({DeliveryMode.MAILTO.value}))
        variants = form.variants(sorted(plan))
        if not plan or variants is None:
            abort(400)
        if not form.validate_on_submit():
            form.email.errors = []
            if form.errors:
                return _page(action, form, 400)
        error = _state_error(action)
        if error:
            return _page(action, form, 400, error)
        try:
            person = signing.clean_person(form.name.data or "", form.city.data or "",
                                          form.country.data or "")
            content = signing.compose_letters(action, sorted(plan), form.bodies(sorted(plan)),
                                              variants, person)
        except signing.SigningError as exc:
            if exc.code == "tampered":
                abort(400)
            return _page(action, form, 400, labels.label(labels.SIGNING_ERRORS, exc.code))
        except LetterTextError as exc:
            _body_error(form, exc)
            return _page(action, form, 400)
        letters = []
        for locale, targets in sorted(plan.items()):
            for at in targets:
                channel = sendable_email_channel(at.target)
                if channel is None:
                    continue
                letter = mailto.MailtoLetter(
                    channel.value, content[locale]["subject"],
                    f"{content[locale]['body']}\n\n{signature(person)}\n")
                letters.append((at, locale, letter, mailto.link(letter)))
        return render_template("actions/mailto.html", action=action,
                               text=text_of(action, g.lang), letters=letters)

    @bp.route("/<slug>/check-your-inbox")
    def check_inbox(slug: str) -> Any:
        action = _action_or_404(slug)
        return render_template("actions/check_inbox.html", action=action,
                               text=text_of(action, g.lang))

    @bp.route("/<slug>/confirm/<token>", methods=["GET", "POST"])
    @limiter.limit("30/hour", methods=["POST"])
    def confirm(slug: str, token: str) -> Any:
        action = _action_or_404(slug)
        try:
            data = read_link(token, signing.LINK_PURPOSE, max_age=signing.CONFIRM_MAX_AGE)
        except TokenError as exc:
            return _invalid(action, 410 if exc.expired else 400)
        letter = signing.find_letter(db.session, str(data.get("l", ""))) if isinstance(
            data, dict) else None
        if letter is None or letter.action_id != action.id:
            return _invalid(action, 410)
        nonce = str(data.get("n") or "")
        if request.method == "GET":
            if letter.confirm_nonce != nonce:
                return _invalid(action, 400, labels.label(labels.SIGNING_ERRORS, "token_used"))
            return render_template("actions/confirm.html", action=action,
                                   text=text_of(action, g.lang), form=ConfirmForm())
        if not ConfirmForm().validate_on_submit():
            abort(400)
        try:
            signing.confirm(db.session, letter, nonce)
        except signing.SigningError as exc:
            db.session.rollback()
            return _invalid(action, 400, labels.label(labels.SIGNING_ERRORS, exc.code))
        db.session.commit()
        return redirect(url_for("actions.thanks", slug=slug), 303)

    @bp.route("/<slug>/thanks")
    def thanks(slug: str) -> Any:
        action = _action_or_404(slug)
        text = text_of(action, g.lang)
        return render_template("actions/thanks.html", action=action, text=text,
                               count=services.confirmed_count(db.session, action),
                               share=share_links(action, text.title if text else ""))

    @bp.route("/<slug>/count")
    def count(slug: str) -> Any:
        action = _action_or_404(slug)
        response = jsonify({"count": services.confirmed_count(db.session, action)})
        response.headers["Cache-Control"] = "no-cache"
        return response

    return bp


def _invalid(action: Action, status: int, message: str | None = None) -> Any:
    return render_template("actions/invalid_link.html", action=action,
                           text=text_of(action, g.lang), expired=status == 410,
                           message=message), status


def create_blueprints() -> list[Blueprint]:
    return [create_public_blueprint(), admin.create_blueprint()]
